// node dist/bench/profile.js: where one zettabee run spends its time. On the
// test bed it traces (strace -f -ttt) a local update, an initialize over ssh
// and an update over ssh of a small pair, and prints every program each one
// started, when (ms after the first exec) and for how long, plus the pair
// log. For finding the cause of a missed benchmark target.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBed, teardownBed } from '../test/harness/bed.js';
import { LAUNCHER, makeSite, sshKeys } from '../test/e2e/support.js';
import { fingerprint } from '../src/domain/fingerprint.js';
import { countExecs, describeExecs, log } from './lib.js';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

async function main(): Promise<void> {
  const bed = await getBed();
  const src = await bed.createPool('psrc', 256);
  const dst = await bed.createPool('pdst', 256);
  const site = makeSite(bed);
  const local = `${dst}/local`;
  const remote = `127.0.0.1:${dst}/remote`;
  await bed.run(['zfs', 'create', `${src}/a`]);
  const mnt = (await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', `${src}/a`])).trim();
  writeFileSync(join(mnt, 'base.bin'), randomBytes(4 << 20));
  site.writePairs([`${src}/a ${local}`, `${src}/a ${remote} ${sshKeys(bed)}`]);
  const env = { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' };
  const argv = (args: string[]) => [LAUNCHER, '-c', site.pairsFile, '--settings', site.settingsFile, ...args];
  const show = async (title: string, args: string[], fp: string): Promise<void> => {
    writeFileSync(join(mnt, 'change.bin'), randomBytes(1 << 20));
    const c = await countExecs(argv(args), join(bed.workdir, 'trace'), { env });
    process.stdout.write(`\n== ${title}: zettabee ${args.join(' ')}\n${describeExecs(c)}\n`);
    for (const l of c.timeline) process.stdout.write(`  ${l}\n`);
    const lines = readFileSync(join(site.paths.log, `${fp}.log`), 'utf8').trim().split('\n');
    const pid = /\[(\d+)\]/.exec(lines.at(-1)!)?.[1];
    process.stdout.write(`pair log:\n${lines.filter((l) => l.includes(`[${pid}]`)).map((l) => `  ${l}`).join('\n')}\n`);
  };
  const fpl = fingerprint('localhost', `${src}/a`, 'localhost', local);
  const fpr = fingerprint('localhost', `${src}/a`, '127.0.0.1', `${dst}/remote`);
  await bed.run([LAUNCHER, '-c', site.pairsFile, '--settings', site.settingsFile, 'initialize', local], { env });
  await show('local update', ['update', local], fpl);
  await show('local update, again', ['update', local], fpl);
  await show('initialize over ssh', ['initialize', remote], fpr);
  await show('update over ssh', ['update', remote], fpr);
  await show('update over ssh, again', ['update', remote], fpr);
}

main()
  .catch((e: unknown) => {
    log(`profile: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => teardownBed());

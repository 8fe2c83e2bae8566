// npm run demo: brings up throwaway file-backed zfs-fuse pools and a loopback
// sshd (the test bed), writes a pairs file, and runs zettabee on it for real.
// Everything it starts is torn down at the end.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBed, teardownBed } from './harness/bed.js';
import { makeSite, sshKeys, treeHashes } from './e2e/support.js';

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function step(site: ReturnType<typeof makeSite>, args: string[]): Promise<number> {
  process.stdout.write(`$ zettabee ${args.join(' ')}\n`);
  const r = await site.run(args);
  if (r.stdout) process.stdout.write(`${r.stdout}\n`);
  if (r.stderr) process.stdout.write(`${r.stderr}\n`);
  process.stdout.write(`(exit ${r.code})\n`);
  return r.code;
}

async function demo(): Promise<number> {
  say('bringing up the test bed (zfs-fuse, sshd on 127.0.0.1; installed with apt if missing)');
  const bed = await getBed();
  const src = await bed.createPool('demosrc', 256);
  const dst = await bed.createPool('demodst', 256);
  await bed.run(['zfs', 'create', `${src}/data`]);
  await bed.run(['zfs', 'create', `${dst}/backup`]);
  const mnt = (await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', `${src}/data`])).trim();
  writeFileSync(join(mnt, 'hello.txt'), 'zettabee demo\n');
  process.stdout.write(`pools ${src} and ${dst} on files in ${bed.workdir}; sshd on 127.0.0.1 port ${bed.ssh.port}\n`);

  const site = makeSite(bed);
  site.writePairs([
    '# pull over ssh from "127.0.0.1", and a local pair',
    `127.0.0.1:${src}/data   ${dst}/backup/data    ${sshKeys(bed)},wlag=1h,clag=4h`,
    `${src}/data             ${dst}/backup/local   wlag=1h,clag=4h`,
  ]);
  say(`pairs file ${site.pairsFile}`);
  process.stdout.write(readFileSync(site.pairsFile, 'utf8'));

  say('fingerprints, log file, preflight');
  let failed = 0;
  failed += (await step(site, ['fingerprint'])) === 0 ? 0 : 1;
  failed += (await step(site, ['logfile', 'data'])) === 0 ? 0 : 1;
  failed += (await step(site, ['setup'])) === 0 ? 0 : 1;

  say('initialize both pairs: a full send each; silent on success, as cron wants');
  failed += (await step(site, ['initialize', 'data'])) === 0 ? 0 : 1;
  failed += (await step(site, ['initialize', 'local'])) === 0 ? 0 : 1;

  say('change the source and update every pair, two at a time (incremental, by guid)');
  writeFileSync(join(mnt, 'more.bin'), randomBytes(2 * 1024 * 1024));
  failed += (await step(site, ['-v', 'update', '--jobs', '2'])) === 0 ? 0 : 1;
  failed += (await step(site, ['status', '--fullstatus'])) === 0 ? 0 : 1;

  say('the destinations hold the same bytes as the source');
  const want = treeHashes(mnt);
  for (const d of ['data', 'local']) {
    const got = treeHashes((await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', `${dst}/backup/${d}`])).trim());
    const same = JSON.stringify(got) === JSON.stringify(want);
    process.stdout.write(`${dst}/backup/${d}: ${Object.keys(got).length} files, ${same ? 'identical (sha256)' : 'DIFFERENT'}\n`);
    if (!same) failed++;
  }
  process.stdout.write(`${await bed.run(['zfs', 'list', '-t', 'snapshot', '-o', 'name', '-r', src, dst])}`);

  say('the log of the ssh pair');
  process.stdout.write(readFileSync((await site.run(['logfile', 'data'])).stdout.trim(), 'utf8'));

  say('a pairs file with mistakes: one error per mistake, exit 2, nothing runs');
  site.writePairs([`${src}/data ${dst}/backup/x wlg=1h`, `${src}/data ${dst}/backup/y clag=soon`, `-oProxyCommand=sh:tank/a ${dst}/z`]);
  failed += (await step(site, ['fingerprint'])) === 2 ? 0 : 1;

  return failed;
}

demo()
  .then(
    (failed) => {
      process.stdout.write(failed ? `\ndemo: ${failed} step(s) did not behave as expected\n` : '\ndemo: all steps behaved as expected\n');
      process.exitCode = failed ? 1 : 0;
    },
    (e: unknown) => {
      process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => teardownBed());

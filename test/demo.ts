// npm run demo: brings up throwaway file-backed zfs-fuse pools and a loopback
// sshd (the test bed), writes a pairs file, and runs zettabee on it for real.
// Everything it starts is torn down at the end.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBed, teardownBed } from './harness/bed.js';
import { makeSite, sshKeys } from './e2e/support.js';

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
  process.stdout.write(`${(await import('node:fs')).readFileSync(site.pairsFile, 'utf8')}`);

  say('fingerprints, log file, preflight');
  let failed = 0;
  failed += (await step(site, ['fingerprint'])) === 0 ? 0 : 1;
  failed += (await step(site, ['logfile', 'data'])) === 0 ? 0 : 1;
  failed += (await step(site, ['setup'])) === 0 ? 0 : 1;

  say('a pairs file with mistakes: one error per mistake, exit 2, nothing runs');
  site.writePairs([`${src}/data ${dst}/backup/x wlg=1h`, `${src}/data ${dst}/backup/y clag=soon`, `-oProxyCommand=sh:tank/a ${dst}/z`]);
  failed += (await step(site, ['fingerprint'])) === 2 ? 0 : 1;

  say('replication (initialize, update) arrives with the replication engine; this release stops here');
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

// The OpenZFS guests by hand, for developing and debugging the tests:
//   node dist/test/harness/openzfs/cli.js build [2.1|2.3]   build or reuse the images
//   node dist/test/harness/openzfs/cli.js up                start a 2.1 and a 2.3 guest, print how to
//                                                          reach them, stop them on Ctrl-C
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { ensureImage, FLAVOURS, type Flavour } from './image.js';
import { startGuests } from './guest.js';
import { SHARED_ENV, shareGuests, TEST_GUESTS } from './bed.js';

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'build') {
    const flavours = (rest.length ? rest : FLAVOURS) as Flavour[];
    for (const f of flavours) {
      const img = await ensureImage(f);
      console.log(`${f}: ${img.dir} (zfs ${img.versions.zfs}, kernel ${img.versions.kabi})`);
    }
    return;
  }
  if (cmd === 'up') {
    const runRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'zbvm-'));
    const g = await startGuests(TEST_GUESTS, runRoot);
    for (const guest of g.guests) console.log(`${guest.name}: ${guest.zfsVersion}: ssh -F ${guest.sshConfig} ${guest.name}`);
    // test files can run against these guests instead of starting their own
    const shared = path.join(runRoot, 'guests.json');
    fs.writeFileSync(shared, JSON.stringify(shareGuests(g)));
    console.log(`tests attach with: ${SHARED_ENV}=${shared} ZETTABEE_TEST_DISK=vdb|vdc|vdd|vde npx mocha --no-config --require dist/test/harness/hooks.js --timeout 120000 FILE`);
    console.log('Ctrl-C stops them');
    const stop = () => void g.down().then(() => fs.rmSync(runRoot, { recursive: true, force: true })).finally(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    setInterval(() => {}, 1 << 30);
    return;
  }
  console.error('usage: cli.js build [2.1|2.3] | up');
  process.exitCode = 2;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});

// npm test: five mocha processes at once, so that the slow OpenZFS guests
// (QEMU without KVM: every zfs command in them costs a tenth of a second)
// overlap each other and the zfs-fuse tests instead of doubling the run:
//   - the OpenZFS 2.1 tests, the OpenZFS 2.3 tests (each with its
//     cross-version rows) and the feature tests of both, started once this
//     runner has the guests up;
//   - the unit tests and the zfs-fuse end-to-end tests (in two processes),
//     started once the guests are up too (restoring them goes faster on an
//     idle machine), or after a minute, when the images are being built on
//     a bare machine.
// At the end it prints the CPU time each guest used: the guests are the
// suite's pole, and a test's cost is mostly the guest commands it makes.
// One zfs-fuse daemon serves all (started here when none runs, stopped at
// the end); the guests are started and stopped here, and each OpenZFS
// process gets a virtual disk of its own in every guest. Lines of the
// OpenZFS processes are prefixed; the last line sums all three.
//   ZETTABEE_TEST_ONLY=fuse | openzfs runs one part.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { shareZfsFuse } from './harness/bed.js';
import { SHARED_ENV, shareGuests, TEST_GUESTS, type SharedGuests } from './harness/openzfs/bed.js';
import { startGuests, type Guests } from './harness/openzfs/guest.js';

interface Part {
  label: string;
  prefix: string;
  specs: string[];
  /** spec files left out (mocha --ignore) */
  ignore?: string[];
  env?: Record<string, string>;
}

// The zfs-fuse end-to-end tests in two processes: much of their time is
// waiting (rate-limited streams, stall timers, kill points, a daemon's
// cycles), which the other process fills. The first takes the unit tests
// and these files, the second every other one (new files land there).
const FUSE_FIRST = ['config-fuzz', 'mbuffer', 'faults', 'replicate', 'deb', 'daemon', 'nsca', 'check'].map((f) => `dist/test/e2e/${f}.test.js`);
const FUSE: Part[] = [
  { label: 'unit and zfs-fuse', prefix: '', specs: ['dist/test/unit/**/*.test.js', ...FUSE_FIRST] },
  { label: 'zfs-fuse, part 2', prefix: '[fuse] ', specs: ['dist/test/e2e/*.test.js', 'dist/test/e2e/openzfs/*-fuse.test.js'], ignore: FUSE_FIRST },
];
// The feature tests (raw sends, bookmarks, resume tokens, ...) of both
// versions: a process of their own, on the third disk of the guests. The
// 2.1 row's exclude= test runs in the 2.3 process (on 2.1's guest), so that
// the three take about as long.
const FEATURES = ['dist/test/e2e/openzfs/features-21.test.js', 'dist/test/e2e/openzfs/features-23.test.js'];
const EXCLUDE_21 = 'dist/test/e2e/openzfs/hardening-exclude-21.test.js';
const OPENZFS: Part[] = [
  { label: 'OpenZFS 2.1', prefix: '[2.1] ', specs: ['dist/test/e2e/openzfs/*-21.test.js'], ignore: [...FEATURES, EXCLUDE_21], env: { ZETTABEE_TEST_DISK: 'vdb' } },
  { label: 'OpenZFS 2.3', prefix: '[2.3] ', specs: ['dist/test/e2e/openzfs/*-23.test.js', EXCLUDE_21], ignore: FEATURES, env: { ZETTABEE_TEST_DISK: 'vdc' } },
  { label: 'OpenZFS features', prefix: '[feat] ', specs: FEATURES, env: { ZETTABEE_TEST_DISK: 'vdd' } },
];

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

function runPart(p: Part, children: Set<ChildProcess>, env: Record<string, string> = {}): Promise<{ code: number; counts: Counts | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['node_modules/mocha/bin/mocha.js', '--no-config', '--require', 'dist/test/harness/hooks.js', '--timeout', '120000', '--reporter', './test/reporter.cjs', ...(p.ignore ?? []).flatMap((g) => ['--ignore', g]), ...p.specs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...p.env, ...env },
    });
    children.add(child);
    let counts: Counts | null = null;
    const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WriteStream) => {
      createInterface({ input: stream }).on('line', (line) => {
        const m = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/.exec(line);
        if (m) counts = { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) };
        to.write(`${p.prefix}${m ? `${p.label}: ` : ''}${line}\n`);
      });
    };
    relay(child.stdout!, process.stdout);
    relay(child.stderr!, process.stderr);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code: code ?? (signal ? 1 : 0), counts });
    });
  });
}

/** start the guests and describe them in a file for the OpenZFS processes; a failure is described there too */
async function guestsFor(work: string): Promise<{ file: string; guests?: Guests }> {
  const file = join(work, 'guests.json');
  let shared: SharedGuests;
  let guests: Guests | undefined;
  try {
    guests = await startGuests(TEST_GUESTS, mkdtempSync('/tmp/zbvm-'));
    shared = shareGuests(guests);
  } catch (e) {
    shared = { error: e instanceof Error ? e.message : String(e) };
    process.stderr.write(`[zettabee test bed] the OpenZFS guests did not come up: ${shared.error}\n`);
  }
  writeFileSync(file, JSON.stringify(shared));
  return guests ? { file, guests } : { file };
}

async function main(): Promise<number> {
  const only = process.env.ZETTABEE_TEST_ONLY;
  const work = mkdtempSync('/tmp/zbrun-');
  const children = new Set<ChildProcess>();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => children.forEach((c) => c.kill(sig)));
  let stop: (() => Promise<void>) | undefined;
  let guests: Guests | undefined;
  try {
    stop = await shareZfsFuse(work);
    const runs: Array<Promise<{ code: number; counts: Counts | null }>> = [];
    // The guests are the suite's pole, so they come up first on an idle
    // machine (restoring them took 35 s with the unit tests starting
    // beside them) and the zfs-fuse processes, which end minutes earlier,
    // start once they are up, or after a minute when the images are being
    // built (a bare machine).
    const t0 = Date.now();
    const booting = only !== 'fuse' ? guestsFor(work) : undefined;
    let fuseStarted = false;
    const fuse = () => {
      if (fuseStarted || only === 'openzfs') return;
      fuseStarted = true;
      for (const p of FUSE) runs.push(runPart(p, children));
    };
    if (booting) await Promise.race([booting, new Promise((r) => setTimeout(r, 60_000).unref())]);
    fuse();
    if (booting) {
      const g = await booting;
      guests = g.guests;
      if (guests) process.stderr.write(`[zettabee test bed] OpenZFS guests up in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${guests.guests.map((x) => `${x.name} ${x.zfsVersion}`).join(', ')}\n`);
      for (const p of OPENZFS) runs.push(runPart(p, children, { [SHARED_ENV]: g.file }));
    }
    const results = await Promise.all(runs);
    if (guests) process.stderr.write(`[zettabee test bed] guest CPU (QEMU, emulated): ${guests.guests.map((x) => `${x.name} ${x.cpuSeconds()?.toFixed(0) ?? '?'} s`).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    const sum = results.reduce((a, r) => ({ passed: a.passed + (r.counts?.passed ?? 0), failed: a.failed + (r.counts?.failed ?? 0), skipped: a.skipped + (r.counts?.skipped ?? 0) }), { passed: 0, failed: 0, skipped: 0 });
    const broken = results.filter((r) => r.counts === null).length;
    if (broken) process.stdout.write(`error: ${broken} test process(es) ended without a summary\n`);
    process.stdout.write(`tests: ${sum.passed} passed, ${sum.failed + broken} failed, ${sum.skipped} skipped\n`);
    return results.some((r) => r.code !== 0) || broken ? 1 : 0;
  } catch (e) {
    process.stderr.write(`[zettabee test bed] ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    if (guests) {
      await guests.down();
      rmSync(guests.runRoot, { recursive: true, force: true });
    }
    await stop?.();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code));

// npm test: seven mocha processes at once, so that the slow OpenZFS guests
// (QEMU without KVM: every zfs command in them costs a tenth of a second)
// overlap each other and the zfs-fuse tests instead of doubling the run:
//   - the OpenZFS tests in four processes (see OZ_GROUPS), started once
//     this runner has the guests up;
//   - the unit tests and the zfs-fuse end-to-end tests (in three processes),
//     started once the guests are up too (restoring them goes faster on an
//     idle machine), or after a minute, when the images are being built on
//     a bare machine.
// At the end it prints the CPU time each guest used: the guests are the
// suite's pole, and a test's cost is mostly the guest commands it makes.
// One zfs-fuse daemon serves all (started here when none runs, stopped at
// the end); the guests are started and stopped here, and each OpenZFS
// process gets a virtual disk of its own in every guest. Lines of the
// processes but the first are prefixed; the last line sums them all.
//   ZETTABEE_TEST_ONLY=fuse | openzfs runs one part.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sweepControlDirs } from '../src/exec/host.js';
import { shareZfsFuse } from './harness/bed.js';
import { SHARED_ENV, shareGuests, TEST_GUESTS, type SharedGuests } from './harness/openzfs/bed.js';
import { DATA_DISKS, startGuests, type Guests } from './harness/openzfs/guest.js';

interface Part {
  label: string;
  prefix: string;
  specs: string[];
  /** spec files left out (mocha --ignore) */
  ignore?: string[];
  env?: Record<string, string>;
}

// The zfs-fuse end-to-end tests in three processes: much of their time is
// waiting (rate-limited streams, stall timers, kill points, a daemon's
// cycles), which the others fill. The first takes the unit tests, each
// named file goes where it is listed, and new files land in the last.
const E2E = (f: string) => `dist/test/e2e/${f}.test.js`;
const FUSE_FIRST = ['config-fuzz', 'faults', 'deb', 'check'].map(E2E);
const FUSE_SECOND = ['mbuffer', 'replicate', 'daemon', 'nsca', 'safety', 'prometheus', 'watchdog'].map(E2E);
const FUSE: Part[] = [
  { label: 'unit and zfs-fuse', prefix: '', specs: ['dist/test/unit/**/*.test.js', ...FUSE_FIRST] },
  { label: 'zfs-fuse, part 2', prefix: '[fuse2] ', specs: FUSE_SECOND },
  { label: 'zfs-fuse, part 3', prefix: '[fuse3] ', specs: ['dist/test/e2e/*.test.js', 'dist/test/e2e/openzfs/*-fuse.test.js'], ignore: [...FUSE_FIRST, ...FUSE_SECOND] },
];
// The OpenZFS tests in four processes, each with a virtual disk of its own
// in every guest, grouped so that they take about as long (a group may use
// both guests: the cross-version rows, or a 2.1 file beside 2.3 ones). New
// *-21 and *-23 files land in the first.
const OZ = (f: string) => `dist/test/e2e/openzfs/${f}.test.js`;
const OZ_GROUPS: Array<{ label: string; prefix: string; files: string[] }> = [
  { label: 'OpenZFS 2.1 matrix', prefix: '[2.1] ', files: ['matrix-21'] },
  { label: 'OpenZFS 2.3 matrix', prefix: '[2.3] ', files: ['matrix-23'] },
  { label: 'OpenZFS 2.1 features', prefix: '[f21] ', files: ['features-21', 'failover-21', 'hardening-23'] },
  { label: 'OpenZFS 2.3 features', prefix: '[f23] ', files: ['features-23', 'hardening-21', 'failover-23'] },
];
const NAMED = OZ_GROUPS.flatMap((g) => g.files.map(OZ));
const OPENZFS: Part[] = OZ_GROUPS.map((g, i) => {
  const own = g.files.map(OZ);
  return {
    label: g.label,
    prefix: g.prefix,
    specs: i === 0 ? ['dist/test/e2e/openzfs/*-21.test.js', 'dist/test/e2e/openzfs/*-23.test.js'] : own,
    ...(i === 0 ? { ignore: NAMED.filter((f) => !own.includes(f)) } : {}),
    env: { ZETTABEE_TEST_DISK: DATA_DISKS[i]! },
  };
});

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
    const started = Date.now();
    let counts: Counts | null = null;
    const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WriteStream) => {
      createInterface({ input: stream }).on('line', (line) => {
        const m = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/.exec(line);
        if (m) counts = { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) };
        // the process's wall time beside its count: which one is the suite's pole
        to.write(`${p.prefix}${m ? `${p.label}: ` : ''}${line}${m ? ` (${((Date.now() - started) / 1000).toFixed(0)} s)` : ''}\n`);
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
  const started = Date.now();
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
    if (booting) await Promise.race([booting, new Promise((r) => setTimeout(r, 60_000).unref())]);
    if (only !== 'openzfs') for (const p of FUSE) runs.push(runPart(p, children));
    if (booting) {
      const g = await booting;
      guests = g.guests;
      if (guests) process.stderr.write(`[zettabee test bed] OpenZFS guests up in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${guests.guests.map((x) => `${x.name} ${x.zfsVersion}`).join(', ')}\n`);
      for (const p of OPENZFS) runs.push(runPart(p, children, { [SHARED_ENV]: g.file }));
    }
    const results = await Promise.all(runs);
    if (guests) {
      // ssh logins: each costs a guest about a quarter of a second of CPU (see SSHD_LEAN in guest.ts)
      const logins = await Promise.all(guests.guests.map((x) => x.sh('grep -c "^Accepted" /run/sshd.log || true').then((o) => o.trim(), () => '?')));
      process.stderr.write(`[zettabee test bed] guest CPU (QEMU, emulated): ${guests.guests.map((x, i) => `${x.name} ${x.cpuSeconds()?.toFixed(0) ?? '?'} s (${logins[i]} ssh logins)`).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
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
    // the kill tests' zettabee runs leave their (empty) ssh control
    // directories; zettabee sweeps them only after ten minutes
    sweepControlDirs((mtime) => mtime >= started);
  }
}

main().then((code) => process.exit(code));

// The daemon's figures (issue 16), for bench.ts: a running `zettabee
// daemon -v`, driven and read from the outside as an operator would.
//   10. a 1 MiB local update inside the daemon vs syncoid (<= 0.3)
//   11. the same over ssh vs raw `zfs snapshot` + `send -i | ssh recv` over an open connection (<= 1.1)
//   12. 10 pairs, interval=15s, a steady 1 MiB/s writer each: every pair's lag < 30 s (BENCH_LAG_SECONDS, default 600)
//   13. RSS (and open fds) after 2,000 cycles within 10% of after 100 (BENCH_CYCLES, default 2000)
import { execa, type ResultPromise } from 'execa';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ppidOf, processes } from '../test/e2e/procs.js';
import { LAUNCHER, type Site } from '../test/e2e/support.js';
import { log, median, sleep } from './lib.js';

/** a daemon started with -v: each update it finishes prints `update LABEL: ok, @snap (S s; on the destination after R s)` */
export class BenchDaemon {
  private out = '';
  private err = '';
  private readonly child: ResultPromise;
  /** seconds of each update done, by label, in order */
  readonly done = new Map<string, number[]>();
  /** seconds until each update's snapshot was recorded as on the destination (on its receipt, or after the guid check), by label */
  readonly replicated = new Map<string, number[]>();
  private waiters: Array<() => void> = [];

  /** `intervalMs`: the test hook ZETTABEE_TEST_DAEMON_INTERVAL_MS; left out, the pairs' interval= counts */
  constructor(site: Site, args: readonly string[], intervalMs?: number) {
    this.child = execa(LAUNCHER, ['-c', site.pairsFile, '--settings', site.settingsFile, '-v', 'daemon', ...args], {
      reject: false,
      env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', ...(intervalMs !== undefined ? { ZETTABEE_TEST_DAEMON_INTERVAL_MS: String(intervalMs) } : {}) },
    });
    this.child.stderr!.on('data', (c: Buffer) => (this.err += c.toString()));
    this.child.stdout!.on('data', (c: Buffer) => {
      this.out += c.toString();
      let nl: number;
      while ((nl = this.out.indexOf('\n')) >= 0) {
        const line = this.out.slice(0, nl);
        this.out = this.out.slice(nl + 1);
        const m = /^update (\S+): ok, @\S+ \(([\d.]+) s(?:; on the destination after ([\d.]+) s)?\)$/.exec(line);
        if (!m) continue;
        const list = this.done.get(m[1]!) ?? [];
        list.push(Number(m[2]));
        this.done.set(m[1]!, list);
        const r = this.replicated.get(m[1]!) ?? [];
        r.push(Number(m[3] ?? m[2]));
        this.replicated.set(m[1]!, r);
        for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  count(label: string): number {
    return this.done.get(label)?.length ?? 0;
  }

  /** wait until `label` has done `n` updates */
  async until(label: string, n: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(label) < n) {
      if (this.child.exitCode !== null) throw new Error(`the daemon ended: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`no update ${n} of ${label} within ${timeoutMs} ms: ${this.err}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }

  /** one update now (SIGUSR1): its seconds, as the daemon measured it (launch to end; `replicated` has when its snapshot was on the destination) */
  async once(label: string): Promise<number> {
    const n = this.count(label);
    this.child.kill('SIGUSR1');
    await this.until(label, n + 1);
    return this.done.get(label)!.at(-1)!;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const r = await this.child;
    if (r.exitCode !== 0) throw new Error(`the daemon exited ${r.exitCode}: ${this.err}`);
    if (/error/.test(this.err)) log(`daemon stderr: ${this.err.trim()}`);
  }
}

function status(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** the targets of a process's open fds ('pipe:[123]', '/var/log/...', 'socket:[456]'), by fd */
function fdTargets(pid: number): string[] {
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * Resident memory (KiB) of a process, and its open file descriptors: all of
 * them, and those of its own, that is without the pipes it shares with a
 * child still running (a command's stdio, an idle spare process's three:
 * src/exec/spawn.ts). How many of those there are when a sample is taken
 * depends on what runs then; a pipe left open after its child is gone, a
 * leak, counts among its own.
 */
export function footprint(pid: number): { rssKiB: number; fds: number; plumbing: number } {
  const mine = fdTargets(pid);
  const theirs = new Set(processes().filter((p) => ppidOf(p.pid) === pid).flatMap((p) => fdTargets(p.pid)));
  // node's child stdio is a socketpair: the two ends have inodes of their own, ss(8) pairs them
  const peer = unixPeers();
  const plumbing = mine.filter((t) => {
    const m = /^socket:\[(\d+)\]$/.exec(t);
    const other = m ? peer.get(m[1]!) : undefined;
    return theirs.has(t) || (other !== undefined && theirs.has(`socket:[${other}]`));
  }).length;
  return { rssKiB: status(pid, 'VmRSS'), fds: mine.length - plumbing, plumbing };
}

/** a window of figure 13's samples */
export interface Footprint {
  rssKiB: number;
  /** the fewest descriptors of its own */
  fds: number;
  fdsMedian: number;
  /** pipes to running children and idle spares, median */
  plumbing: number;
}

/** every unix socket's peer, by inode (`ss -x -a -n`: Local Address, Port = inode, Peer Address, Port) */
function unixPeers(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of execFileSync('ss', ['-x', '-a', '-n'], { encoding: 'utf8' }).split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && /^\d+$/.test(f[5]!) && /^\d+$/.test(f[7]!) && f[7] !== '0') out.set(f[5]!, f[7]!);
  }
  return out;
}

/**
 * Figure 13's measurement: run `label` back to back until `cycles` updates,
 * sampling RSS and fds over the 20 updates up to 100 and up to the end.
 * RSS: medians (a sample may land just before or after a garbage
 * collection). Fds of its own: the fewest of each window, and the median
 * beside it. The updates run back to back, so every sample also catches
 * descriptors on their way out (a child that exited, whose stdio node has
 * not closed yet: 24 against 26 in two medians at 05:24); a leak raises the
 * fewest for good.
 */
export async function footprintOver(d: BenchDaemon, label: string, cycles: number): Promise<{ early: Footprint; late: Footprint; seconds: number }> {
  const t0 = Date.now();
  const sample = async (from: number, to: number) => {
    const rss: number[] = [];
    const fds: number[] = [];
    const plumbing: number[] = [];
    for (let n = from; n <= to; n++) {
      await d.until(label, n, 600_000);
      const f = footprint(d.pid);
      rss.push(f.rssKiB);
      fds.push(f.fds);
      plumbing.push(f.plumbing);
    }
    return { rssKiB: median(rss), fds: Math.min(...fds), fdsMedian: median(fds), plumbing: median(plumbing) };
  };
  const early = await sample(80, 100);
  let last = Date.now();
  for (let n = 200; n < cycles - 20; n += 100) {
    await d.until(label, n, 600_000);
    if (Date.now() - last > 30_000) {
      log(`figure 13: ${n} of ${cycles} updates`);
      last = Date.now();
    }
  }
  const late = await sample(cycles - 20, cycles);
  return { early, late, seconds: (Date.now() - t0) / 1000 };
}

/** every second, each pair's lag as status computes it (now - its newest snapshot on the destination), for `seconds` */
export async function watchLag(statusOf: () => Array<{ label: string; creation: number | null }>, seconds: number, writer: () => void): Promise<Map<string, number>> {
  const worst = new Map<string, number>();
  const end = Date.now() + seconds * 1000;
  let next = Date.now();
  let lastLog = Date.now();
  while (Date.now() < end) {
    writer();
    const now = Date.now() / 1000;
    for (const s of statusOf()) {
      const lag = s.creation === null ? Infinity : now - s.creation;
      worst.set(s.label, Math.max(worst.get(s.label) ?? 0, lag));
    }
    if (Date.now() - lastLog > 60_000) {
      log(`figure 12: ${Math.round((end - Date.now()) / 1000)} s left; worst lag so far ${Math.max(...worst.values()).toFixed(1)} s`);
      lastLog = Date.now();
    }
    next += 1000;
    await sleep(Math.max(0, next - Date.now()));
  }
  return worst;
}

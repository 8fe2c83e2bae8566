// Measuring tools for the benchmark: wall time of a child process, its peak
// resident memory, the processes it spawned, and the statistics and text of
// a figure. Nothing here knows about zfs.
import { execa } from 'execa';
import { readFileSync, rmSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** a POSIX shell word */
export function q(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface Timed {
  seconds: number;
  /** peak resident set size (VmHWM) of the spawned process, KiB, when asked for */
  peakKiB?: number;
  /** epoch ms when the process was spawned and when it ended */
  startMs: number;
  endMs: number;
  stdout: string;
  stderr: string;
  exitCode: number;
  pid?: number;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** poll /proc/<pid>/status VmHWM while it runs */
  rss?: boolean;
  /** exit codes that count as success (default [0]) */
  okCodes?: number[];
  timeoutMs?: number;
}

function vmHWM(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // exited
  }
}

/**
 * Spawn argv, wait for it, and return its wall time. VmHWM is the kernel's
 * own high-water mark of the process's resident memory, so polling it every
 * 10 ms misses nothing but what the process allocates in its last 10 ms.
 */
export async function timed(argv: readonly string[], opts: SpawnOptions = {}): Promise<Timed> {
  const startMs = Date.now();
  const t0 = performance.now();
  const child = execa(argv[0]!, argv.slice(1), {
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 300_000,
    ...(opts.env ? { env: opts.env } : {}),
  });
  let peak: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (opts.rss && child.pid !== undefined) {
    const pid = child.pid;
    const poll = (): void => {
      const v = vmHWM(pid);
      if (v !== undefined) peak = Math.max(peak ?? 0, v);
    };
    poll();
    timer = setInterval(poll, 10);
  }
  const r = await child;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  const out: Timed = {
    seconds,
    startMs,
    endMs: Date.now(),
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    exitCode: r.exitCode ?? -1,
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    ...(peak !== undefined ? { peakKiB: peak } : {}),
  };
  if (!(opts.okCodes ?? [0]).includes(out.exitCode)) {
    throw new Error(`${argv.join(' ')}: exit ${out.exitCode}${r.signal ? ` (${r.signal})` : ''}\n${out.stderr.trim() || out.stdout.trim()}`);
  }
  return out;
}

/** a shell pipeline under bash with pipefail, so any failing stage fails it */
export function bash(script: string, opts: SpawnOptions = {}): Promise<Timed> {
  return timed(['bash', '-o', 'pipefail', '-c', script], opts);
}

export interface ExecCount {
  /** successful execve calls by program basename */
  byProgram: Map<string, number>;
  total: number;
  /** every program started: ms since the first exec, pid, argv as strace shows it */
  timeline: string[];
}

/**
 * Run argv under `strace -f -ttt -e trace=execve,exit_group` and count the
 * programs every process of the tree executed. -f follows every fork; only
 * execve calls that returned 0 count (a PATH search's failed attempts do
 * not), so each is one program really started, whatever path or shell it
 * came through. A call strace shows split ("<unfinished ...>", then
 * "<... execve resumed>") is joined by pid. Only for counting and the
 * timeline: strace slows the run down.
 */
export async function countExecs(argv: readonly string[], traceFile: string, opts: SpawnOptions = {}): Promise<ExecCount> {
  rmSync(traceFile, { force: true });
  await timed(['strace', '-f', '-qq', '-ttt', '-s', '100', '-e', 'trace=execve,exit_group', '-e', 'signal=none', '-o', traceFile, '--', ...argv], opts);
  const byProgram = new Map<string, number>();
  const started: Array<{ pid: string; t: number; argv: string; prog: string }> = [];
  const exited = new Map<string, number>();
  const pending = new Map<string, { t: number; text: string }>();
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    const m = /^(\d+)\s+([\d.]+) (.*)$/.exec(line);
    if (!m) continue;
    const [, pid, ts, rest] = m as unknown as [string, string, string, string];
    const t = Number(ts) * 1000;
    let call: { t: number; text: string } | undefined;
    if (rest.startsWith('execve(') && rest.endsWith('<unfinished ...>')) {
      pending.set(pid, { t, text: rest });
      continue;
    }
    if (rest.startsWith('<... execve resumed>')) {
      const p = pending.get(pid);
      pending.delete(pid);
      if (p) call = { t: p.t, text: p.text.replace(/<unfinished \.\.\.>$/, '') + rest.slice('<... execve resumed>'.length) };
    } else if (rest.startsWith('execve(')) {
      call = { t, text: rest };
    } else if (rest.startsWith('exit_group(') || rest.startsWith('+++ exited')) {
      if (!exited.has(pid)) exited.set(pid, t);
      continue;
    }
    if (!call || !/= 0\s*$/.test(call.text)) continue;
    const e = /^execve\("([^"]+)", \[(.*?)\](?:\.\.\.)?, /.exec(call.text);
    if (!e) continue;
    const prog = e[1]!.split('/').pop()!;
    byProgram.set(prog, (byProgram.get(prog) ?? 0) + 1);
    // a later exec in the same pid (env -> node) replaces the earlier program
    started.push({ pid, t: call.t, argv: e[2]!.replace(/", "/g, ' ').replace(/^"|"$/g, ''), prog });
  }
  rmSync(traceFile, { force: true });
  const t0 = started[0]?.t ?? 0;
  const timeline = started.map((s, i) => {
    const next = started.slice(i + 1).find((x) => x.pid === s.pid);
    const end = next ? undefined : exited.get(s.pid);
    const dur = end !== undefined ? `${(end - s.t).toFixed(1).padStart(6)} ms` : '     exec';
    return `+${(s.t - t0).toFixed(1).padStart(7)} ms ${dur}  ${s.argv.slice(0, 150)}`;
  });
  return { byProgram, total: started.length, timeline };
}

export function describeExecs(c: ExecCount, first: readonly string[] = ['zfs', 'ssh']): string {
  const parts = first.filter((p) => c.byProgram.has(p)).map((p) => `${c.byProgram.get(p)} ${p}`);
  const rest = [...c.byProgram.entries()].filter(([p]) => !first.includes(p)).sort((a, b) => b[1] - a[1]);
  if (rest.length) parts.push(rest.map(([p, n]) => `${n} ${p}`).join(', '));
  return `${c.total} programs: ${parts.join(', ')}`;
}

/**
 * Run the contenders side by side: a warm-up of each (not counted), then
 * `runs` rounds, the order rotated every round (a b, b a, a b, ... or
 * a b c, b c a, c a b, ...) so no contender always runs right after the same
 * other one's clean-up. Each function does its own untimed preparation and
 * returns the seconds of its timed part; the results come back per contender.
 */
export async function sideBySide<T extends { seconds: number }>(runs: number, fns: ReadonlyArray<(round: number) => Promise<T>>, warmup = true): Promise<T[][]> {
  if (warmup) for (const f of fns) await f(-1);
  const out: T[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < fns.length; k++) {
      const j = (i + k) % fns.length;
      out[j]!.push(await fns[j]!(i));
    }
  }
  return out;
}

export const secs = (xs: readonly { seconds: number }[]): number[] => xs.map((x) => x.seconds);

export function fmtS(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
}

export function fmtRate(bytes: number, s: number): string {
  return `${(bytes / s / 1e6).toFixed(0)} MB/s`;
}

export function fmtList(xs: readonly number[]): string {
  return xs.map((x) => x.toFixed(3)).join(' ');
}

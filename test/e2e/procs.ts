// Finding, freezing and reaping the real processes of a transfer from /proc
// (no child process), for tests that kill or stall a run mid-stream.
import { expect } from 'chai';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinSettings } from '../../src/config/settings.js';
import { BusyError } from '../../src/errors.js';
import { PairLock } from '../../src/state/lock.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Proc {
  pid: number;
  argv: string[];
}

/** every process of this machine with its argv (read from /proc, no child process) */
export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length) out.push({ pid: Number(e), argv });
    } catch {
      /* it exited meanwhile */
    }
  }
  return out;
}

/**
 * zfs send/receive processes (and ssh clients carrying them) that work on one
 * of these datasets. Other test files and other users may run zfs at the same
 * time: only processes that name our datasets count.
 */
export function transferProcs(datasets: readonly string[]): Proc[] {
  return processes().filter((p) => {
    const text = p.argv.join(' ');
    return /\bzfs'?\s+'?(send|receive|recv)\b/.test(text) && datasets.some((d) => text.includes(d));
  });
}

/**
 * The real `zfs send` process (not an ssh client) sending a snapshot of `ds`.
 * zfs-fuse's zfs overwrites the '@' of its snapshot arguments with NUL, so
 * /proc shows `ds` and the short name as two words.
 */
export function zfsSendOf(ds: string): Proc[] {
  return processes().filter(
    (p) => p.argv[0]!.split('/').pop() === 'zfs' && p.argv[1] === 'send' && p.argv.some((a) => a === ds || a.startsWith(`${ds}@`)),
  );
}

/** poll until probe returns something truthy; fail naming `what` after timeoutMs */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * `read()` while this test holds the pair's lock, so that no run of the
 * daemon (nor anything else) is at the pair meanwhile: it waits for a
 * running update to end and takes the lock before the next one can (the
 * daemon finds the pair busy and tries again later, its warm state kept:
 * a busy attempt changes nothing). Stopping the daemon between two runs
 * instead needed a gap between them, which a loaded machine may not leave.
 */
export async function underPairLock<T>(lockDir: string, fp: string, read: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const settings = builtinSettings();
  settings.paths = { ...settings.paths, lock: lockDir };
  const lock = await waitFor(`the lock of pair ${fp}`, timeoutMs, async () => {
    try {
      return await PairLock.acquire(settings, fp, { action: 'test', label: fp, recoverStale: false });
    } catch (e) {
      if (e instanceof BusyError) return null;
      throw e;
    }
  }, 5);
  try {
    return await read();
  } finally {
    await lock.release();
  }
}

/**
 * `act()` while the daemon `pid` is stopped (SIGSTOP) at a moment when no
 * zfs send or receive of these datasets runs (nor an ssh client carrying
 * one): whatever `act` does then comes before the next receive starts, or
 * after the last one ended. No quiet moment between two runs is needed
 * (under load the daemon's updates follow each other at once): a run may
 * be stopped in its snapshot or finish phase, and goes on after.
 */
export async function whileFrozen<T>(pid: number, datasets: readonly string[], act: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const frozen = await waitFor(`a moment without a transfer of ${datasets.join(', ')}`, timeoutMs, async () => {
    process.kill(pid, 'SIGSTOP');
    if (transferProcs(datasets).length === 0) return true;
    process.kill(pid, 'SIGCONT');
    return false;
  }, 20);
  try {
    return await act();
  } finally {
    if (frozen) process.kill(pid, 'SIGCONT');
  }
}

/**
 * SIGSTOP each of procs; returns those it reached. A process listed from
 * /proc may have ended before the signal (ESRCH): it is left out, so the
 * caller sees that it came too late (seen once in a CI run under load).
 */
export function stopProcs(procs: readonly Proc[]): Proc[] {
  return procs.filter((p) => {
    try {
      process.kill(p.pid, 'SIGSTOP');
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw e;
    }
  });
}

/**
 * The zfs send processes of ds, as soon as they exist, stopped (SIGSTOP):
 * the transfer is frozen mid-way. One that ended before the signal reached
 * it is skipped and the search goes on, so the test fails only when
 * zettabee ends (or nothing is seen for a minute), with a message saying so.
 */
export async function freezeSend(ds: string, child: { pid?: number | undefined }, exited: () => boolean): Promise<Proc[]> {
  return waitFor(`zfs send of ${ds} to start`, 60_000, () => {
    if (exited()) throw new Error(`zettabee (pid ${child.pid}) ended before its zfs send of ${ds} was seen and stopped`);
    const stopped = stopProcs(zfsSendOf(ds));
    return stopped.length ? stopped : null;
  }, 5);
}

export function ppidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** the ssh control directories (ControlPath=<dir>/%C) the ssh clients of a running zettabee use */
export function controlDirsOf(pid: number): string[] {
  const dirs = new Set<string>();
  for (const p of processes()) {
    if (p.argv[0] !== 'ssh' || ppidOf(p.pid) !== pid) continue;
    for (const a of p.argv) {
      const m = /^ControlPath=(.*)\/%C$/.exec(a);
      if (m) dirs.add(m[1]!);
    }
  }
  return [...dirs];
}

/**
 * The ssh master connections whose sockets live in `dir` (or below it). A
 * master that a command started (ControlMaster=auto with ControlPersist)
 * retitles itself `ssh: <socket> [mux]`; one that `ssh -f -N` started keeps
 * its argv, which names the ControlPath.
 */
export function sshMasters(dir: string): Proc[] {
  return processes().filter((p) => p.argv[0]!.startsWith(`ssh: ${dir}/`) || (p.argv[0] === 'ssh' && p.argv.includes('-N') && p.argv.some((a) => a.includes(`ControlPath="${dir}/`) || a.includes(`ControlPath=${dir}/`))));
}

/**
 * A killed run cannot close its ssh master connection (ControlPersist) or
 * remove its control directory: stop the masters it left (by pid) and remove
 * the directories, so the test leaves nothing behind. Returns the pids stopped.
 */
export function cleanControlDirs(dirs: readonly string[]): number[] {
  const stopped: number[] = [];
  for (const dir of dirs) {
    for (const p of sshMasters(dir)) {
      try {
        process.kill(p.pid, 'SIGTERM');
        stopped.push(p.pid);
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return stopped;
}

export function thaw(procs: readonly Proc[]): void {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  }
}

/** wait until no zfs send/receive of these datasets is left; fail naming them after 20 s */
export async function noTransferLeft(datasets: readonly string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const left = transferProcs(datasets);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      expect.fail(`zfs send/receive processes still running 20 s after the kill: ${left.map((p) => `${p.pid} ${p.argv.join(' ')}`).join('; ')}`);
    }
    await sleep(100);
  }
}

export interface NotifySocket {
  /** the path to give the daemon as NOTIFY_SOCKET */
  path: string;
  /** the datagrams systemd would have received, one a line (repr) */
  notified(): string[];
  close(): void;
}

/**
 * A real sd_notify datagram socket, bound by python3 (node has no unix
 * datagram sockets), that a test reads as systemd would: start it, give
 * the daemon its path as NOTIFY_SOCKET, read what arrived.
 */
export async function notifySocket(path: string): Promise<NotifySocket> {
  const { execa } = await import('execa');
  const reader = execa('/usr/bin/python3', ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nwhile True:\n  print(repr(s.recv(65536)),flush=True)', path], { reject: false });
  let notes = '';
  reader.stdout!.on('data', (c: Buffer) => (notes += c.toString()));
  await waitFor('the notify socket to be bound', 10_000, () => notes.includes('bound') || reader.exitCode !== null);
  if (!notes.includes('bound')) throw new Error(`python3 could not bind ${path}: ${String((await reader).stderr)}`);
  return { path, notified: () => notes.split('\n').filter((l) => /^b['"]/.test(l)), close: () => void reader.kill() };
}

/** what a run or the daemon left in a lock directory: pair locks, the daemon's pid and schedule files */
export function lockLeftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.lock') || f.startsWith('zettabee-daemon'));
}

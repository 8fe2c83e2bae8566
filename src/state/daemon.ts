// The running daemon as other zettabee processes see it: its pid file
// (<lock>/zettabee-daemon.pid, for `zettabee stop` and systemd) and its
// schedule (<lock>/zettabee-daemon.json: each pair's next planned run, for
// `status`, and for a cron `update` to know the pair is the daemon's).
// Both live in the lock directory (/run: gone after a reboot) and are
// removed when the daemon ends; a daemon killed with SIGKILL leaves them,
// and they are recognised as dead by pid and process start time.
import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Settings } from '../config/settings.js';
import { writeFileAtomic } from './atomic.js';
import { pidAlive, procStartOf } from './lock.js';
import { daemonPidFile, daemonScheduleFile } from './paths.js';

export interface DaemonPairPlan {
  /** ISO 8601: when the pair's next update starts (or started, while running) */
  next: string;
  running: boolean;
  /** failed runs in a row (the backoff) */
  failures: number;
}

export interface DaemonSchedule {
  pid: number;
  /** /proc/<pid>/stat start time: a reused pid is not the daemon */
  procStart?: string;
  host: string;
  started: string;
  pairsFile: string;
  /** by fingerprint */
  pairs: Record<string, DaemonPairPlan>;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function readPid(settings: Settings): number | null {
  try {
    const t = readFileSync(daemonPidFile(settings), 'utf8').trim();
    return /^\d+$/.test(t) && Number(t) > 0 ? Number(t) : null;
  } catch {
    return null;
  }
}

export interface LiveDaemon {
  pid: number;
  /** null while the daemon has not written it yet, or when it is unreadable */
  schedule: DaemonSchedule | null;
}

/** the daemon that runs with these settings' lock directory, or null */
export function liveDaemon(settings: Settings): LiveDaemon | null {
  const pid = readPid(settings);
  if (pid === null || !pidAlive(pid)) return null;
  const raw = readJson(daemonScheduleFile(settings)) as DaemonSchedule | null;
  const schedule = raw && typeof raw === 'object' && raw.pid === pid && typeof raw.pairs === 'object' && raw.pairs !== null ? raw : null;
  if (schedule?.procStart && procStartOf(pid) !== schedule.procStart) return null;
  return { pid, schedule };
}

/** this process as the daemon: the pid file; throws (EEXIST aside) when the lock directory is unwritable */
export function writePidFile(settings: Settings): void {
  writeFileAtomic(daemonPidFile(settings), `${process.pid}\n`, { durable: false, mode: 0o644, dirMode: 0o755 });
}

export function writeSchedule(settings: Settings, s: Omit<DaemonSchedule, 'pid' | 'procStart' | 'host'>): void {
  const procStart = procStartOf(process.pid);
  const full: DaemonSchedule = { pid: process.pid, ...(procStart ? { procStart } : {}), host: hostname(), ...s };
  writeFileAtomic(daemonScheduleFile(settings), JSON.stringify(full) + '\n', { durable: false, mode: 0o644, dirMode: 0o755 });
}

/** remove the pid and schedule files, if they are this process's */
export function removeDaemonFiles(settings: Settings): void {
  if (readPid(settings) !== process.pid) return;
  rmSync(daemonScheduleFile(settings), { force: true });
  rmSync(daemonPidFile(settings), { force: true });
}

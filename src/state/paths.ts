// Where a pair's files live: <state>/<fp>.status, <lock>/<fp>.lock, <log>/<fp>.log.
import { join } from 'node:path';
import type { Settings } from '../config/settings.js';

export function statusFile(s: Settings, fp: string): string {
  return join(s.paths.state, `${fp}.status`);
}

export function lockFile(s: Settings, fp: string): string {
  return join(s.paths.lock, `${fp}.lock`);
}

export function logFile(s: Settings, fp: string): string {
  return join(s.paths.log, `${fp}.log`);
}

/** who holds <fp>.lock: next to the lock directory, never inside it (a file inside would change the directory's mtime, which proper-lockfile reads as a compromised lock) */
export function holderFile(s: Settings, fp: string): string {
  return join(s.paths.lock, `${fp}.holder`);
}

/** the holder that `unlock --force` evicted while it was alive: the next run waits for it to be gone */
export function evictedFile(s: Settings, fp: string): string {
  return join(s.paths.lock, `${fp}.evicted`);
}

export function progressFile(s: Settings, fp: string): string {
  return join(s.paths.state, `${fp}.progress`);
}

/** the running daemon's pid (`zettabee stop` reads it): one daemon per lock directory */
export function daemonPidFile(s: Settings): string {
  return join(s.paths.lock, 'zettabee-daemon.pid');
}

/** the running daemon's schedule: each pair's next planned run, for `status` */
export function daemonScheduleFile(s: Settings): string {
  return join(s.paths.lock, 'zettabee-daemon.json');
}

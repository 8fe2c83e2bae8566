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

// A pair's monitoring result now, from its status file and lock alone (no
// zfs, no ssh): what `check` prints and what --nagios/--icinga send.
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { inspectLock, type LockState } from '../state/lock.js';
import { readStatus, StatusFileError, type StatusRecord } from '../state/status.js';
import { evaluate, type CheckResult } from './check.js';

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** whatever goes wrong reading the files makes the result UNKNOWN, with why */
export function checkPair(settings: Settings, pair: Pair, now: number): CheckResult {
  let record: StatusRecord | null = null;
  let unreadable: string | undefined;
  try {
    record = readStatus(settings, pair.fingerprint);
  } catch (e) {
    // StatusFileError: unreadable or not a status record; anything else is just as much "could not run"
    unreadable = e instanceof StatusFileError ? e.message : `cannot read the status file: ${errText(e)}`;
  }
  let lock: LockState;
  try {
    lock = inspectLock(settings, pair.fingerprint);
  } catch (e) {
    lock = { kind: 'free' };
    unreadable = [unreadable, `cannot inspect the lock: ${errText(e)}`].filter(Boolean).join('; ');
  }
  return evaluate({ pair, record, lock, now, ...(unreadable ? { unreadable } : {}) });
}

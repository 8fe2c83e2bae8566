// STUB: interface fixed by the lead; implementation by the monitoring helper.
// A pair's monitoring result from its status file and lock alone (no zfs, no
// ssh): the state per the contract's "Monitoring semantics", a one-line
// summary, long output for the on-call person, and perfdata.
import type { Pair } from '../config/pairs.js';
import type { LockState } from '../state/lock.js';
import type { StatusRecord } from '../state/status.js';

export type CheckState = 0 | 1 | 2 | 3;
export const STATE_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
export type StateName = (typeof STATE_NAMES)[number];

export interface CheckInput {
  pair: Pair;
  /** null: no status file (never initialized) */
  record: StatusRecord | null;
  lock: LockState;
  /** ms since the epoch */
  now: number;
  /** why the status file could not be read (UNKNOWN) */
  unreadable?: string;
}

export interface CheckResult {
  state: CheckState;
  /** one line, no '|' (plugin output's first line before the perfdata) */
  summary: string;
  /** further lines for long output */
  long: string[];
  /** perfdata items, e.g. "lag=12s;3600;7200;0" */
  perfdata: string[];
}

/** pure: the contract's rules, worst state wins */
export function evaluate(input: CheckInput): CheckResult {
  void input;
  throw new Error('not implemented');
}

/** "ZETTABEE <STATE> - <summary> | <perfdata>" then the long lines */
export function pluginOutput(r: CheckResult): string {
  void r;
  throw new Error('not implemented');
}

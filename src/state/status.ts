// A pair's status file, <state>/<fp>.status: JSON, written atomically, read by
// `status`, `check` and the monitors without touching zfs or ssh.
import { readFileSync, rmSync } from 'node:fs';
import type { Settings } from '../config/settings.js';
import { writeJsonAtomic } from './atomic.js';
import { progressFile, statusFile } from './paths.js';
import type { DirectionRecord } from '../domain/direction.js';

export type PairState = 'Synchronized' | 'Uninitialized' | 'Inconsistent';
export type RunResultWord = 'running' | 'ok' | 'failed' | 'busy';

export interface RunRecord {
  /** initialize | update | purge | ... */
  action: string;
  pid: number;
  /** os.hostname() of the machine that ran it */
  host: string;
  /** ISO 8601 */
  started: string;
  /** ISO 8601, absent while running */
  ended?: string;
  result: RunResultWord;
  /** wall seconds of the run, when ended */
  seconds?: number;
  /** stream bytes moved */
  bytes?: number;
  /** the snapshot this run created / sent (short name) */
  snapshot?: string;
  /** one-line error text when result is failed */
  error?: string;
  hint?: string;
  /** what a run that ended well still warned about (a child whose source is gone, a snapshot retention could not destroy): check says WARNING */
  warnings?: string[];
}

export interface Inconsistency {
  /** noCommon | diverged | modified | fingerprint | missing | ... */
  kind: string;
  message: string;
  hint?: string;
  /** extra lines: both sides' newest snapshots, etc. */
  details?: string[];
}

export interface SnapshotRef {
  /** short name, after '@' */
  name: string;
  guid: string;
  /** creation, epoch seconds */
  creation: number;
}

export interface StatusRecord {
  version: 1;
  fingerprint: string;
  /** shost:szfs as written */
  source: string;
  /** dhost:dzfs as written */
  destination: string;
  state: PairState;
  inconsistency?: Inconsistency;
  /** the newest pair snapshot the destination holds (lag is measured from its creation) */
  lastSnapshot?: SnapshotRef;
  /** the last run that ended well */
  lastSuccess?: { action: string; ended: string; seconds: number; bytes?: number };
  /** the current or the last run */
  run?: RunRecord;
  /** free-form cached facts (capabilities probed per side, with a time) */
  cache?: Record<string, unknown>;
  /** which way the pair runs, once a failover, takeover or failback changed it (the datasets' zettabee:<fp>:role is the truth) */
  direction?: DirectionRecord;
}

/** the status file cannot be read or is not a status record */
export class StatusFileError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'StatusFileError';
  }
}

const STATES: readonly string[] = ['Synchronized', 'Uninitialized', 'Inconsistent'];

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** null when the file does not exist; throws StatusFileError when unreadable or malformed */
export function readStatus(settings: Settings, fp: string): StatusRecord | null {
  const path = statusFile(settings, fp);
  // one read and one parse: `status` calls this for every pair
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StatusFileError(path, `cannot read: ${errText(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StatusFileError(path, `not JSON: ${errText(err)}`);
  }
  const problem = recordProblem(value);
  if (problem) throw new StatusFileError(path, `not a status record: ${problem}`);
  return value as StatusRecord;
}

/** only what the readers rely on; the rest is trusted as written by writeStatus */
function recordProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  if (r.version !== 1) return `version is ${JSON.stringify(r.version)}, expected 1`;
  if (typeof r.fingerprint !== 'string') return 'fingerprint is missing';
  if (typeof r.state !== 'string' || !STATES.includes(r.state)) return `state is ${JSON.stringify(r.state)}, expected one of ${STATES.join(', ')}`;
  return null;
}

/** write atomically (temp file in the same directory, fsync, rename), mode 0640; creates the directory (0750) if missing */
export function writeStatus(settings: Settings, fp: string, record: StatusRecord): void {
  writeJsonAtomic(statusFile(settings, fp), record, true);
}

/** remove the status file (and a progress file next to it); no error when missing */
export function removeStatus(settings: Settings, fp: string): void {
  // force: true ignores ENOENT and nothing else
  rmSync(statusFile(settings, fp), { force: true });
  rmSync(progressFile(settings, fp), { force: true });
}

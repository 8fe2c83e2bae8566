// A pair's status file, <state>/<fp>.status: JSON, written atomically, read by
// `status`, `check` and the monitors without touching zfs or ssh.
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Settings } from '../config/settings.js';
import { progressFile, statusFile } from './paths.js';

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

/**
 * Replace `path` with `value` as JSON so a reader sees the old or the new
 * file, never half of one. `durable`: fsync the data and the directory too
 * (the status file must survive a power cut; a progress file need not).
 */
export function writeJsonAtomic(path: string, value: unknown, durable: boolean): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const data = Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o640);
    fchmodSync(fd, 0o640); // the umask must not decide who may read it
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    if (durable) fsyncSync(fd); // the data is on disk before the name points at it (no empty file after a crash)
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw err;
  }
  if (durable) syncDir(dir);
}

/** make the rename itself durable; best effort (not every filesystem allows fsync on a directory) */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* the file is written; only its durability across a power cut is less certain */
  } finally {
    if (fd !== null) try { closeSync(fd); } catch { /* ignore */ }
  }
}

/** remove the status file (and a progress file next to it); no error when missing */
export function removeStatus(settings: Settings, fp: string): void {
  // force: true ignores ENOENT and nothing else
  rmSync(statusFile(settings, fp), { force: true });
  rmSync(progressFile(settings, fp), { force: true });
}

// A running transfer's progress, <state>/<fp>.progress: written by the run
// about once a second, read by `runstatus`; no daemon. Gone when the run ends.
import { readFileSync, rmSync } from 'node:fs';
import type { Settings } from '../config/settings.js';
import { progressFile } from './paths.js';
import { writeJsonAtomic } from './atomic.js';

export interface ProgressRecord {
  pid: number;
  action: string;
  /** ISO 8601, when the run started */
  started: string;
  /** ISO 8601, when the stream started */
  streamStarted: string;
  bytes: number;
  /** seconds since the stream started */
  seconds: number;
  /** bytes the stream will carry, when zfs can estimate it */
  total?: number;
  /** ISO 8601 of this write */
  updated: string;
}

export function writeProgress(settings: Settings, fp: string, p: ProgressRecord): void {
  writeJsonAtomic(progressFile(settings, fp), p, false);
}

/** null when no transfer is running (or the file is unreadable mid-way) */
export function readProgress(settings: Settings, fp: string): ProgressRecord | null {
  try {
    const v = JSON.parse(readFileSync(progressFile(settings, fp), 'utf8')) as ProgressRecord;
    return typeof v.bytes === 'number' && typeof v.pid === 'number' ? v : null;
  } catch {
    return null;
  }
}

export function removeProgress(settings: Settings, fp: string): void {
  rmSync(progressFile(settings, fp), { force: true });
}

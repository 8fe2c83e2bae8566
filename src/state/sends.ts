// The zfs send processes of a pair's runs whose temporary holds may outlive
// them, <state>/<fp>.sends (one JSON line each): zfs-fuse puts a hold
// tagged .send-<pid>-0 on every snapshot of an `-I` range and never releases
// it when the send dies (receive failed, kill -9 of the whole run). A run
// notes its send's pid as soon as the send reports it, before any byte
// moves, so that even a run killed outright leaves the pid behind; the next
// run of the pair releases those holds (zettabee's lock says no other run
// of the pair can still be sending) and forgets the pids. A send that ended
// well took its holds along (tried on zfs-fuse: after exit 0, and after
// EPIPE, no .send tag is left): its pid is forgotten at once.
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../config/settings.js';

export interface SendRecord {
  /** the host the send ran on, as named in the pairs file */
  host: string;
  pid: number;
  /** a child the send sent on its own (exclude=, a catch-up); none: the pair's top (with its tree, -R) */
  dataset?: string;
}

function sendsFile(s: Settings, fp: string): string {
  return join(s.paths.state, `${fp}.sends`);
}

export function noteSend(s: Settings, fp: string, r: SendRecord): void {
  appendFileSync(sendsFile(s, fp), JSON.stringify(r) + '\n');
}

/** the sends noted by earlier runs (a line that does not parse is skipped) */
export function notedSends(s: Settings, fp: string): SendRecord[] {
  let text = '';
  try {
    text = readFileSync(sendsFile(s, fp), 'utf8');
  } catch {
    return [];
  }
  const out: SendRecord[] = [];
  for (const l of text.split('\n')) {
    try {
      const v = JSON.parse(l) as SendRecord;
      if (typeof v.host === 'string' && Number.isInteger(v.pid) && v.pid > 1 && (v.dataset === undefined || typeof v.dataset === 'string')) out.push(v);
    } catch {
      /* blank or torn line */
    }
  }
  return out;
}

/**
 * Forget one send that ended well: its temporary holds went with it, so
 * the next run has nothing to release for it (on a source with many
 * snapshots that is two zfs release per snapshot saved on every update).
 */
export function forgetSend(s: Settings, fp: string, pid: number): void {
  const left = notedSends(s, fp).filter((r) => r.pid !== pid);
  if (left.length === 0) forgetSends(s, fp);
  else writeFileSync(sendsFile(s, fp), left.map((r) => JSON.stringify(r) + '\n').join(''));
}

export function forgetSends(s: Settings, fp: string): void {
  rmSync(sendsFile(s, fp), { force: true });
}

// The file for node_exporter's textfile collector ([prometheus] textfile):
// every pair of the pairs file, built from the status files and locks alone
// (as `status` is: no zfs, no ssh), in the Prometheus text exposition format.
//
// Lag, state, status and runtime come from app/status.ts (viewOf), so the
// file, `status` and `check` never disagree. Every value is a gauge in base
// units (seconds, bytes, Unix seconds). Points in time are exported as
// timestamps, so PromQL can compute "how long ago" at query time
// (`time() - x`); lag is also given as of the write, as the brief for
// operators asks. A value zettabee does not know (no snapshot yet, no
// threshold set) has no sample, never a made-up 0.
//
// Writers: a run when it starts and when it ends (app/pair-run.ts), `status`,
// `purge` and `unlock`. Each rebuilds the whole file and replaces it with a
// rename (state/atomic.ts), so node_exporter never reads half a file, and a
// short lock (<lock>/textfile.lock) orders the rebuilds of concurrent
// processes, so the last file renamed in is built from the newest records.
import { dirname, join } from 'node:path';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import type { Pair } from '../config/pairs.js';
import { endpointText } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { collectViews, type PairView, type StatusWord } from '../app/status.js';
import { tempNameOwner, writeFileAtomic } from '../state/atomic.js';
import { pidAlive } from '../state/lock.js';

// Records: a key that is missing is a compile error when a state or a status is added
const STATES: Record<PairView['state'], true> = { Synchronized: true, Uninitialized: true, Inconsistent: true, Unknown: true };
const STATUSES: Record<StatusWord, true> = { Idle: true, Running: true, Initializing: true, Failed: true };
/** every value of zettabee_pair_state's `state` label */
export const PAIR_STATES = Object.keys(STATES) as ReadonlyArray<PairView['state']>;
/** every value of zettabee_pair_status's `status` label */
export const PAIR_STATUSES = Object.keys(STATUSES) as readonly StatusWord[];

type Labels = ReadonlyArray<readonly [string, string]>;

export interface Sample {
  /** the label pairs as written between the braces, escaped (labelText); '' for none */
  labels: string;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  samples: Sample[];
}

/** a label value per the exposition format: backslash, double quote and line feed escaped */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text per the exposition format: backslash and line feed escaped */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** a sample value as Go's ParseFloat reads it; finite values to the millisecond */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(Math.round(n * 1000) / 1000);
}

/** `k="v",...` with the values escaped: what goes between a sample's braces */
export function labelText(labels: Labels): string {
  return labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
}

function sampleLine(name: string, s: Sample): string {
  return `${name}${s.labels ? `{${s.labels}}` : ''} ${formatValue(s.value)}`;
}

/** the text exposition format: HELP, TYPE, then the samples of each family; families without samples are left out */
export function formatExposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`);
    for (const s of f.samples) lines.push(sampleLine(f.name, s));
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** the labels that name a pair on every per-pair series */
export function pairLabels(p: Pair): Labels {
  return [
    ['pair', p.label],
    ['source', endpointText(p.source)],
    ['destination', endpointText(p.destination)],
  ];
}

/** ISO 8601 to Unix seconds; undefined when it does not parse */
function unixSeconds(iso: string | undefined): number | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

/** each view with its pair's labels, escaped once for the dozen series of the pair */
type Labelled = { v: PairView; labels: string };

/** a per-pair gauge: one sample for each pair whose value is known */
function perPair(name: string, help: string, pairs: readonly Labelled[], value: (v: PairView) => number | null | undefined): Family {
  const samples: Sample[] = [];
  for (const { v, labels } of pairs) {
    const n = value(v);
    if (n !== null && n !== undefined) samples.push({ labels, value: n });
  }
  return { name, help, samples };
}

/** a set of 0/1 gauges, one per possible value, 1 for the current one (Prometheus' way to export an enum) */
function stateSet<T extends string>(name: string, help: string, label: string, values: readonly T[], pairs: readonly Labelled[], current: (v: PairView) => T): Family {
  const samples: Sample[] = [];
  for (const { v, labels } of pairs) {
    const now = current(v);
    for (const x of values) samples.push({ labels: `${labels},${labelText([[label, x]])}`, value: now === x ? 1 : 0 });
  }
  return { name, help, samples };
}

/** pure: the file's metric families for these views, all taken at `now` (ms since the epoch) */
export function textfileFamilies(views: readonly PairView[], now: number): Family[] {
  const running = (v: PairView) => (v.status === 'Running' || v.status === 'Initializing') && v.record?.run?.result === 'running';
  const pairs: Labelled[] = views.map((v) => ({ v, labels: labelText(pairLabels(v.pair)) }));
  return [
    { name: 'zettabee_textfile_written_timestamp_seconds', help: 'Unix time zettabee wrote this file (a run starting or ending, zettabee status, purge or unlock).', samples: [{ labels: '', value: now / 1000 }] },
    {
      name: 'zettabee_pair_info',
      help: 'Always 1: a pair of the pairs file, with its fingerprint (the name of its status and log files) and transport.',
      samples: pairs.map(({ v, labels }) => ({ labels: `${labels},${labelText([['fingerprint', v.pair.fingerprint], ['transport', v.pair.transport]])}`, value: 1 })),
    },
    stateSet('zettabee_pair_state', 'The pair state zettabee status shows: 1 for the current one, 0 for the others (Unknown: the status file is unreadable).', 'state', PAIR_STATES, pairs, (v) => v.state),
    stateSet('zettabee_pair_status', 'The run status zettabee status shows: 1 for the current one, 0 for the others (Failed: the last run failed or died, or its lock is stale).', 'status', PAIR_STATUSES, pairs, (v) => v.status),
    perPair('zettabee_pair_lag_seconds', 'Seconds since the newest pair snapshot on the destination was taken, as of this file being written (as zettabee status and check compute it).', pairs, (v) => v.lag),
    perPair('zettabee_pair_last_snapshot_timestamp_seconds', 'Unix time the newest pair snapshot on the destination was taken (time() minus this is the lag now).', pairs, (v) => v.record?.lastSnapshot?.creation),
    perPair('zettabee_pair_last_success_timestamp_seconds', 'Unix time the last run that ended well ended.', pairs, (v) => unixSeconds(v.record?.lastSuccess?.ended)),
    perPair('zettabee_pair_last_success_duration_seconds', 'Seconds the last run that ended well took.', pairs, (v) => v.record?.lastSuccess?.seconds),
    perPair('zettabee_pair_last_success_bytes', 'Stream bytes the last run that ended well moved.', pairs, (v) => v.record?.lastSuccess?.bytes),
    perPair('zettabee_pair_run_duration_seconds', 'Seconds the last run took, whatever its result; while a run is going, how long it has run so far (the runtime zettabee status shows).', pairs, (v) => v.runtime),
    perPair('zettabee_pair_run_started_timestamp_seconds', 'Unix time the run now going started; only while one runs (time() minus this is its runtime now).', pairs, (v) => (running(v) ? unixSeconds(v.record?.run?.started) : undefined)),
    perPair('zettabee_pair_lag_warning_threshold_seconds', 'The pair\'s wlag: check warns at this lag.', pairs, (v) => v.pair.options.wlag),
    perPair('zettabee_pair_lag_critical_threshold_seconds', 'The pair\'s clag: check is critical at this lag.', pairs, (v) => v.pair.options.clag),
    perPair('zettabee_pair_run_warning_threshold_seconds', 'The pair\'s wrun: check warns when a run goes on this long.', pairs, (v) => v.pair.options.wrun),
    perPair('zettabee_pair_run_critical_threshold_seconds', 'The pair\'s crun: check is critical when a run goes on this long.', pairs, (v) => v.pair.options.crun),
  ];
}

/** pure: the whole file for these views, taken at `now` */
export function textfileText(views: readonly PairView[], now: number): string {
  return formatExposition(textfileFamilies(views, now));
}

/** the lock that orders concurrent rebuilds; held for the milliseconds of one rebuild */
export function textfileLockPath(settings: Settings): string {
  return join(settings.paths.lock, 'textfile.lock');
}

/**
 * Held for one rebuild only (milliseconds; tens of them for a thousand
 * pairs), so a holder that died in those milliseconds (kill -9) is stale
 * after STALE_MS (proper-lockfile's least), and the retries, about 3 s in
 * all, outlast that. A holder paused longer than STALE_MS loses only the
 * ordering.
 */
const STALE_MS = 2000;
const RETRIES = { retries: 25, factor: 1.3, minTimeout: 10, maxTimeout: 200 };

async function orderLock(settings: Settings): Promise<(() => Promise<void>) | null> {
  try {
    mkdirSync(settings.paths.lock, { recursive: true, mode: 0o750 });
    return await lockfile.lock(textfileLockPath(settings), {
      lockfilePath: textfileLockPath(settings),
      realpath: false,
      stale: STALE_MS,
      retries: RETRIES,
      // the default throws from a timer; losing the lock only loses the ordering
      onCompromised: () => undefined,
    });
  } catch {
    // no lock (an unwritable lock directory, a holder that stays): the
    // rename still keeps the file whole; only the order of two concurrent
    // rebuilds is left to chance, and the next write puts it right
    return null;
  }
}

/**
 * Remove the temp files that writers killed mid-write (kill -9 in the
 * milliseconds between create and rename) left next to the textfile: names
 * of state/atomic.ts's tempName whose pid is gone. node_exporter never reads
 * them (they do not end in .prom), but the directory is shared.
 */
export function removeDeadTemps(path: string): void {
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return; // the write has just said what is wrong with the directory
  }
  for (const name of names) {
    const pid = tempNameOwner(path, name);
    if (pid !== null && !pidAlive(pid)) rmSync(join(dirname(path), name), { force: true });
  }
}

/** what a failed write says: the file, and why in words */
export function writeProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? `the directory ${dirname(path)} does not exist`
    : code === 'EACCES' || code === 'EPERM' ? `permission denied in ${dirname(path)}`
    : code === 'EROFS' ? `${dirname(path)} is on a read-only file system`
    : code === 'ENOSPC' ? `no space left in ${dirname(path)}`
    : code === 'EISDIR' ? `${path} is a directory`
    : err instanceof Error ? err.message : String(err);
  return `cannot write the Prometheus textfile ${path}: ${why}`;
}

/**
 * Rebuild the textfile from every pair's status file and lock and replace it
 * atomically (mode 0644: node_exporter runs as another user). Nothing
 * happens while [prometheus] textfile is unset. Never throws: a file that
 * cannot be written is a warning, passed to `warn`, never a failed run.
 */
export async function refreshTextfile(settings: Settings, pairs: readonly Pair[], warn: (line: string) => void, now: () => number = Date.now): Promise<void> {
  const path = settings.prometheus.textfile;
  if (!path) return;
  const release = await orderLock(settings);
  try {
    const at = now();
    writeFileAtomic(path, textfileText(collectViews(settings, pairs, at), at), { durable: true, mode: 0o644 });
    removeDeadTemps(path);
  } catch (e) {
    warn(writeProblem(path, e));
  } finally {
    await release?.().catch(() => undefined);
  }
}

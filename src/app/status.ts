// status: what each pair's status file and lock say, with lag computed now.
// No zfs, no ssh: a thousand pairs must take well under a second.
import type { Pair } from '../config/pairs.js';
import { endpointText } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { formatLag } from '../config/duration.js';
import { inspectLock, type LockState } from '../state/lock.js';
import { readStatus, StatusFileError, type StatusRecord } from '../state/status.js';

export type StatusWord = 'Idle' | 'Running' | 'Initializing' | 'Failed';

export interface PairView {
  pair: Pair;
  record: StatusRecord | null;
  /** why the status file could not be read */
  unreadable?: string;
  lock: LockState;
  state: StatusRecord['state'] | 'Unknown';
  /** seconds since the destination's newest pair snapshot was taken */
  lag: number | null;
  /** L locked (or a stale lock), + lag >= wlag, ! lag >= clag, R reversed (the pairs file's destination is the source) */
  flags: string;
  status: StatusWord;
  /** seconds the current run has taken so far, or the last run took */
  runtime: number | null;
  /** one short sentence when something needs attention */
  note?: string;
  /** when a running daemon updates the pair next (ms since the epoch); running: its update runs now */
  planned?: { next: number; running: boolean; failures: number };
  /** "reversed since ...: B -> A" when the pair runs the other way than the pairs file says */
  direction?: string;
}

/** a running daemon's plan for each pair, by fingerprint: the views get their next run from it */
export type Planned = ReadonlyMap<string, NonNullable<PairView['planned']>>;

/** the plans of a daemon's schedule file, as status shows them */
export function plannedOf(schedule: { pairs: Record<string, { next: string; running: boolean; failures: number }> } | null | undefined): Planned {
  const out = new Map<string, NonNullable<PairView['planned']>>();
  for (const [fp, p] of Object.entries(schedule?.pairs ?? {})) {
    const next = Date.parse(p.next);
    if (Number.isFinite(next)) out.set(fp, { next, running: Boolean(p.running), failures: Number(p.failures) || 0 });
  }
  return out;
}

/** "in 0:00:42", "now", "running": the next-run column while a daemon runs */
export function formatPlanned(p: PairView['planned'], now: number): string {
  if (!p) return '-';
  if (p.running) return 'running';
  const wait = (p.next - now) / 1000;
  return `${wait <= 0 ? 'now' : `in ${formatLag(Math.ceil(wait))}`}${p.failures > 1 ? ` (after ${p.failures} failures)` : ''}`;
}

/** the direction in words, or undefined when the pair runs as the pairs file says */
export function directionText(pair: Pair, record: StatusRecord | null): string | undefined {
  const d = record?.direction;
  if (!d?.reversed) return undefined;
  const when = d.since.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
  return `reversed since ${when} (${d.how} on ${d.host}): ${endpointText(pair.destination)} -> ${endpointText(pair.source)}`;
}

/** pure: the view of one pair from its record and lock state at `now` */
export function viewOf(pair: Pair, record: StatusRecord | null, lock: LockState, now: number, unreadable?: string): PairView {
  const lag = record?.lastSnapshot ? Math.max(0, now / 1000 - record.lastSnapshot.creation) : null;
  const run = record?.run;
  const startedAt = run ? Date.parse(run.started) : NaN;
  let status: StatusWord = 'Idle';
  let runtime: number | null = run?.seconds ?? null;
  let note: string | undefined;
  if (lock.kind === 'held') {
    status = run?.result === 'running' && run.action === 'initialize' ? 'Initializing' : 'Running';
    runtime = run?.result === 'running' && Number.isFinite(startedAt) ? Math.max(0, (now - startedAt) / 1000) : null;
  } else if (lock.kind === 'stale') {
    status = 'Failed';
    note = `stale lock (${lock.reason}); after checking, run: zettabee unlock ${pair.label}`;
  } else if (run?.result === 'running') {
    status = 'Failed';
    note = `the ${run.action} started ${run.started} by pid ${run.pid} ended without recording a result`;
  } else if (run?.result === 'failed') {
    status = 'Failed';
    note = run.error;
  }
  const o = pair.options;
  let flags = lock.kind === 'free' ? '' : 'L';
  // one lag flag, the worse: past clag is '!' (never '+!')
  if (lag !== null && o.clag !== undefined && lag >= o.clag) flags += '!';
  else if (lag !== null && o.wlag !== undefined && lag >= o.wlag) flags += '+';
  const direction = directionText(pair, record);
  if (direction) flags += 'R';
  let state: PairView['state'] = record?.state ?? 'Uninitialized';
  if (unreadable) {
    state = 'Unknown';
    note = unreadable;
  } else if (record?.state === 'Inconsistent' && record.inconsistency) {
    note = record.inconsistency.message;
  }
  const view: PairView = { pair, record, lock, state, lag, flags, status, runtime };
  if (unreadable) view.unreadable = unreadable;
  if (note) view.note = note;
  if (direction) view.direction = direction;
  return view;
}

export function collectViews(settings: Settings, pairs: readonly Pair[], now = Date.now(), planned?: Planned): PairView[] {
  return pairs.map((p) => {
    let record: StatusRecord | null = null;
    let unreadable: string | undefined;
    try {
      record = readStatus(settings, p.fingerprint);
    } catch (e) {
      if (!(e instanceof StatusFileError)) throw e;
      unreadable = e.message;
    }
    const v = viewOf(p, record, inspectLock(settings, p.fingerprint), now, unreadable);
    const plan = planned?.get(p.fingerprint);
    if (plan) v.planned = plan;
    return v;
  });
}

function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

/**
 * `source destination state lag flag status (runtime)`, aligned; --fullstatus
 * adds fingerprint, last snapshot, port; `next in H:MM:SS` ends the line
 * while a daemon runs (`now`: for that column)
 */
export function statusLines(views: readonly PairView[], full: boolean, now = Date.now()): string[] {
  if (views.length === 0) return [];
  const daemon = views.some((v) => v.planned);
  const rows = views.map((v) => {
    const row = [
      endpointText(v.pair.source),
      endpointText(v.pair.destination),
      v.state,
      v.lag === null ? '-' : formatLag(v.lag),
      v.flags || '-',
      `${v.status} (${v.runtime === null ? '-' : formatLag(v.runtime)})`,
    ];
    if (full) {
      row.push(v.pair.fingerprint, v.record?.lastSnapshot?.name ?? '-', v.pair.transport === 'mbuffer' ? String(v.pair.options.port) : '-');
    }
    // last, so that the columns before it stay where scripts expect them
    if (daemon) row.push(`next ${formatPlanned(v.planned, now)}`);
    return row;
  });
  const lines = columns(rows);
  if (full) {
    views.forEach((v, i) => {
      if (v.direction) lines[i] += `\n    ${v.direction}`;
      if (v.note) lines[i] += `\n    ${v.note}`;
    });
  }
  return lines.flatMap((l) => l.split('\n'));
}

export function statusJson(views: readonly PairView[]): unknown[] {
  return views.map((v) => ({
    source: endpointText(v.pair.source),
    destination: endpointText(v.pair.destination),
    fingerprint: v.pair.fingerprint,
    state: v.state,
    lag: v.lag === null ? null : Math.floor(v.lag),
    flags: v.flags,
    status: v.status,
    runtime: v.runtime === null ? null : Math.round(v.runtime),
    lastSnapshot: v.record?.lastSnapshot ?? null,
    transport: v.pair.transport,
    port: v.pair.transport === 'mbuffer' ? v.pair.options.port : null,
    thresholds: { wlag: v.pair.options.wlag ?? null, clag: v.pair.options.clag ?? null, wrun: v.pair.options.wrun ?? null, crun: v.pair.options.crun ?? null },
    lock: v.lock.kind === 'free' ? null : { state: v.lock.kind, holder: v.lock.holder, ...(v.lock.kind === 'stale' ? { reason: v.lock.reason } : {}) },
    lastRun: v.record?.run ?? null,
    inconsistency: v.record?.inconsistency ?? null,
    note: v.note ?? null,
    ...(v.planned ? { daemon: { next: new Date(v.planned.next).toISOString(), running: v.planned.running, failures: v.planned.failures } } : {}),
    direction: v.record?.direction ?? null,
  }));
}

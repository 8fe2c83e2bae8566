// A pair's monitoring result from its status file and lock alone (no zfs, no
// ssh): the state per the contract's "Monitoring semantics", a one-line
// summary, long output for the on-call person, and perfdata.
//
// Lag, runtime and the running/failed reading of the record come from
// app/status.ts (viewOf), so `status` and `check` never disagree.
import type { Pair } from '../config/pairs.js';
import { endpointText } from '../config/pairs.js';
import { formatLag } from '../config/duration.js';
import { formatBytes, formatRate } from '../domain/units.js';
import { directionText, viewOf } from '../app/status.js';
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

/**
 * How bad a state is when several are combined (worst wins): CRITICAL over
 * UNKNOWN over WARNING over OK. A known problem outranks "cannot tell", and
 * "cannot tell" outranks a warning because it may hide a critical one (the
 * order Icinga Web and Thruk sort by).
 */
const SEVERITY: Record<CheckState, number> = { 0: 0, 1: 1, 3: 2, 2: 3 };

export function worstState(states: readonly CheckState[]): CheckState {
  let worst: CheckState = 0;
  for (const s of states) if (SEVERITY[s] > SEVERITY[worst]) worst = s;
  return worst;
}

/** the longest a reason may be on the summary line; the long output keeps it whole */
const SUMMARY_REASON_MAX = 300;

/** '|' starts the perfdata in plugin output: never let text contain one; one line only */
export function clean(text: string): string {
  return text.replace(/\|/g, '/').replace(/[\r\n]+/g, ' ').trimEnd();
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** "2026-11-22 07:00:00 UTC": what the on-call person reads */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** an ISO 8601 string from the record, shown the same way; as written when it does not parse */
function formatIso(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? formatTime(ms) : iso;
}

interface Reason {
  state: CheckState;
  text: string;
}

/** perfdata numbers are integers; an unset threshold leaves its field empty */
function perf(label: string, value: number, uom: string, warn?: number, crit?: number): string {
  return `${label}=${Math.round(value)}${uom};${warn ?? ''};${crit ?? ''};0`;
}

/** pure: the contract's rules, worst state wins */
export function evaluate(input: CheckInput): CheckResult {
  const { pair, record, lock, now, unreadable } = input;
  const view = viewOf(pair, record, lock, now, unreadable);
  const o = pair.options;
  const run = record?.run;
  const label = pair.label;
  const reasons: Reason[] = [];
  const todo: string[] = [];
  const long: string[] = [`pair: ${endpointText(pair.source)} -> ${endpointText(pair.destination)} (fingerprint ${pair.fingerprint})`];

  // A live run: the record's run when it says running, else the lock holder
  // (a run that has the lock but has not written its record yet, or an action
  // that keeps no record).
  let running: { action: string; since: string; pid: number | null; host: string; seconds: number | null } | null = null;
  if (lock.kind === 'held') {
    const h = lock.holder;
    if (run?.result === 'running') {
      running = { action: run.action, since: run.started, pid: run.pid, host: run.host, seconds: view.runtime };
    } else if (h) {
      const t = Date.parse(h.started);
      running = { action: h.action, since: h.started, pid: h.pid, host: h.host, seconds: Number.isFinite(t) ? Math.max(0, (now - t) / 1000) : null };
    } else {
      running = { action: 'a run', since: '', pid: null, host: '', seconds: null };
    }
  }
  const who = running?.pid ? `pid ${running.pid} on ${running.host}` : 'a starting run';

  if (unreadable) {
    // the check could not run: nothing else in the record can be trusted
    reasons.push({ state: 3, text: `status file unreadable: ${unreadable}` });
    todo.push(`look at the status file; the next update replaces an unreadable one (zettabee logfile ${label} shows the pair's history)`);
  }

  const initialized = record !== null && (record.state !== 'Uninitialized' || record.lastSnapshot !== undefined || record.lastSuccess !== undefined);
  if (!unreadable && !initialized) {
    const initializing = running?.action === 'initialize';
    const since = running?.seconds != null ? ` for ${formatLag(running.seconds)}` : '';
    reasons.push({ state: 1, text: initializing ? `not initialized yet (initialize running${since})` : `never initialized; run zettabee initialize ${label}` });
    if (!initializing) todo.push(`run zettabee initialize ${label} (zettabee setup ${label} first if the destination is new)`);
  }

  const dir = record?.direction;
  if (dir?.how === 'takeover' && record?.inconsistency?.kind !== 'splitBrain') {
    // the old source was not reached: it may still be writable, and nothing replicates
    const now = dir.reversed ? pair.destination : pair.source;
    const old = dir.unreached ?? endpointText(dir.reversed ? pair.source : pair.destination);
    reasons.push({ state: 2, text: `taken over: ${endpointText(now)} is the source since ${formatIso(dir.since)} (takeover on ${dir.host}); the old source ${old} was not reached and may still be writable` });
    todo.push(`when ${old} is back, run zettabee failback ${label}: it keeps what ${old} wrote since, makes it the destination and replicates (update refuses until then)`);
  }

  if (record?.state === 'Inconsistent') {
    const inc = record.inconsistency;
    reasons.push({ state: 2, text: `inconsistent: ${inc?.message ?? 'the destination no longer matches the source'}` });
    if (inc) {
      long.push(`inconsistent (${inc.kind}): ${inc.message}`);
      for (const d of inc.details ?? []) long.push(`  ${d}`);
    }
    todo.push(inc?.hint ?? `see zettabee status --fullstatus ${label} and zettabee logfile ${label}`);
  }

  // lag = now - creation of the newest pair snapshot on the destination
  const lag = view.lag;
  let lagReason = false;
  if (lag !== null) {
    if (o.clag !== undefined && lag >= o.clag) {
      reasons.push({ state: 2, text: `lag ${formatLag(lag)} >= clag ${formatLag(o.clag)}` });
      lagReason = true;
    } else if (o.wlag !== undefined && lag >= o.wlag) {
      reasons.push({ state: 1, text: `lag ${formatLag(lag)} >= wlag ${formatLag(o.wlag)}` });
      lagReason = true;
    }
  }

  // runtime thresholds apply only to a run still going
  let runReason = false;
  if (running && running.seconds !== null) {
    const rt = running.seconds;
    const what = `${running.action} running for ${formatLag(rt)}`;
    if (o.crun !== undefined && rt >= o.crun) {
      reasons.push({ state: 2, text: `${what} >= crun ${formatLag(o.crun)}` });
      runReason = true;
    } else if (o.wrun !== undefined && rt >= o.wrun) {
      reasons.push({ state: 1, text: `${what} >= wrun ${formatLag(o.wrun)}` });
      runReason = true;
    }
    if (runReason) {
      todo.push(`the ${running.action} (${who}) may be stuck: zettabee runstatus ${label} shows whether data still moves, zettabee logfile ${label} what it did; if it is hung, stop it${running.pid ? ` (kill ${running.pid} on ${running.host})` : ''}`);
    }
  }

  if (lock.kind === 'stale') {
    // it also explains a record left saying "running": one reason, not two
    reasons.push({ state: 1, text: `stale lock (${lock.reason}); after checking, run zettabee unlock ${label}` });
    long.push(`lock: stale: ${lock.reason}`);
    todo.push(`make sure no zettabee run for this pair is still going, look at zettabee logfile ${label}, then run: zettabee unlock ${label}`);
  } else if (lock.kind === 'free' && run?.result === 'running') {
    reasons.push({ state: 1, text: `the ${run.action} started ${formatIso(run.started)} (pid ${run.pid} on ${run.host}) ended without recording a result` });
    todo.push(`see zettabee logfile ${label} for how it ended`);
  } else if (run?.result === 'failed') {
    // also while a new run holds the lock but has not recorded itself yet: still the last result
    reasons.push({ state: 1, text: `last ${run.action} failed: ${run.error ?? 'no error text recorded'}` });
    todo.push(run.hint ?? `see zettabee logfile ${label}`);
  } else if (run?.result === 'ok' && run.warnings?.length) {
    // it worked, but something needs a person: a false OK would hide it until it piles up
    const n = run.warnings.length;
    reasons.push({ state: 1, text: `last ${run.action} ended with ${n === 1 ? 'a warning' : `${n} warnings`}: ${run.warnings[0]}` });
    for (const w of run.warnings) long.push(`warning: ${w}`);
    todo.push(`see zettabee logfile ${label}; the warning says what to do`);
  }

  if (lagReason && reasons.length === 1) {
    // lag alone, nothing failing: updates are not being run
    todo.push(`make sure cron (or the systemd timer) runs zettabee update ${label}; zettabee logfile ${label} shows the last runs`);
  }

  // long output: what the on-call person needs at 3 a.m.
  const snap = record?.lastSnapshot;
  if (snap) long.push(`last good snapshot: ${snap.name}, taken ${formatTime(snap.creation * 1000)} (${formatLag(lag ?? 0)} ago)`);
  else if (!unreadable) long.push('last good snapshot: none on the destination yet');
  const ok = record?.lastSuccess;
  if (ok) {
    const moved = ok.bytes !== undefined ? `, ${formatBytes(ok.bytes)} at ${formatRate(ok.bytes, ok.seconds)}` : '';
    long.push(`last success: ${ok.action} ended ${formatIso(ok.ended)}, took ${formatLag(ok.seconds)}${moved}`);
  }
  if (running) {
    long.push(`running: ${running.action} by ${who}${running.since ? ` since ${formatIso(running.since)}` : ''}${running.seconds !== null ? ` (${formatLag(running.seconds)})` : ''}`);
  } else if (run && run.result !== 'running') {
    const ended = run.ended ? ` at ${formatIso(run.ended)}` : '';
    const took = run.seconds !== undefined ? ` after ${formatLag(run.seconds)}` : '';
    long.push(`last run: ${run.action} ${run.result}${ended}${took}${run.result === 'failed' && run.error ? `: ${run.error}` : ''}`);
  }
  const th = (v: number | undefined) => (v === undefined ? '-' : formatLag(v));
  long.push(`thresholds: wlag ${th(o.wlag)}, clag ${th(o.clag)}, wrun ${th(o.wrun)}, crun ${th(o.crun)}`);
  for (const t of todo) long.push(`to do: ${t}`);

  // summary: the deciding reasons first, then the other problems, then facts
  const state = worstState(reasons.map((r) => r.state));
  const ordered = [...reasons].sort((a, b) => SEVERITY[b.state] - SEVERITY[a.state]);
  const parts = ordered.map((r) => shorten(r.text, SUMMARY_REASON_MAX));
  if (lag !== null && !lagReason) parts.push(`lag ${formatLag(lag)}`);
  if (running && !runReason && running.action !== 'initialize') {
    parts.push(running.seconds !== null ? `${running.action} running for ${formatLag(running.seconds)}` : `${running.action} starting`);
  }
  if (snap) parts.push(`last snapshot ${formatTime(snap.creation * 1000)}`);
  const reversed = directionText(pair, record);
  if (reversed && dir?.how !== 'takeover') parts.push(reversed);
  if (reversed) long.splice(1, 0, `direction: ${reversed}`);

  // perfdata: lag of the destination, runtime of the current (or last) run,
  // bytes and rate of the last successful transfer
  const perfdata: string[] = [];
  if (lag !== null) perfdata.push(perf('lag', Math.floor(lag), 's', o.wlag, o.clag));
  const runtime = running ? running.seconds : view.runtime;
  if (runtime !== null) perfdata.push(perf('runtime', runtime, 's', o.wrun, o.crun));
  if (ok?.bytes !== undefined) {
    perfdata.push(perf('bytes', ok.bytes, 'B'));
    if (ok.seconds > 0) perfdata.push(perf('rate', ok.bytes / ok.seconds, 'B'));
  }

  return { state, summary: clean(parts.join('; ')), long: long.map(clean), perfdata };
}

/** "ZETTABEE <STATE> - <summary> | <perfdata>" then the long lines */
export function pluginOutput(r: CheckResult): string {
  const first = `ZETTABEE ${STATE_NAMES[r.state]} - ${clean(r.summary)}`;
  return [r.perfdata.length ? `${first} | ${r.perfdata.join(' ')}` : first, ...r.long.map(clean)].join('\n');
}

/** "lag=12s;..." -> "'pool/a lag'=12s;...": one pair's perfdata among many */
export function prefixPerfdata(label: string, item: string): string {
  const eq = item.indexOf('=');
  const name = item.slice(0, eq).replace(/^'(.*)'$/, '$1');
  // a quote inside a quoted label is written twice (Monitoring Plugins guidelines)
  return `'${`${label} ${name}`.replace(/'/g, "''")}'${item.slice(eq)}`;
}

/**
 * Many pairs as one plugin result: a first line that counts the states (with
 * every pair's perfdata, labelled), then `<label>: <STATE> - <summary>` per
 * pair in pairs-file order; the state is the worst of them.
 */
export function combinedOutput(items: ReadonlyArray<{ label: string; result: CheckResult }>): { state: CheckState; output: string } {
  if (items.length === 0) return { state: 3, output: 'ZETTABEE UNKNOWN - no pairs to check' };
  const state = worstState(items.map((i) => i.result.state));
  const counts = ([2, 3, 1, 0] as const)
    .map((s) => [s, items.filter((i) => i.result.state === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${STATE_NAMES[s].toLowerCase()}`);
  const first = clean(`ZETTABEE ${STATE_NAMES[state]} - ${items.length} ${items.length === 1 ? 'pair' : 'pairs'}: ${counts.join(', ')}`);
  const perfdata = items.flatMap((i) => i.result.perfdata.map((p) => prefixPerfdata(i.label, p)));
  const lines = items.map((i) => clean(`${i.label}: ${STATE_NAMES[i.result.state]} - ${i.result.summary}`));
  return { state, output: [perfdata.length ? `${first} | ${perfdata.join(' ')}` : first, ...lines].join('\n') };
}

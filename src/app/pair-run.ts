// The frame every pair action runs in: the pair's lock, its status record
// (running -> ok/failed, written atomically), START/END lines in its log,
// and one place that turns a failure into the status file's words.
import { hostname } from 'node:os';
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { formatTransfer } from '../domain/units.js';
import { ActionError, BusyError, ZettabeeError } from '../errors.js';
import type { Host } from '../exec/host.js';
import type { Hosts } from '../exec/hosts.js';
import { PairLock, waitForEvicted } from '../state/lock.js';

import type { PairLog, PairLogs } from '../state/log.js';
import { refreshTextfile } from '../monitor/prometheus.js';
import { readStatus, StatusFileError, writeStatus, type Inconsistency, type PairState, type SnapshotRef, type StatusRecord } from '../state/status.js';
import type { Progress } from '../transport/pipeline.js';
import { removeProgress, writeProgress } from '../state/progress.js';
import type { DirectionRecord } from '../domain/direction.js';
import type { WarmSlot } from './replicate.js';

/** the actions that run under the pair's lock and keep its status record */
export type PairAction = 'initialize' | 'update' | 'failover' | 'takeover' | 'failback';

/** how often a run checks that it still holds its lock (unlock --force stops it within this) */
const LOCK_WATCH_MS = 500;

/** a failure that also changes what the pair's state is (Inconsistent, Uninitialized) */
export class PairError extends ActionError {
  constructor(
    message: string,
    hint: string | undefined,
    details: readonly string[] = [],
    readonly state?: PairState,
    readonly inconsistency?: Inconsistency,
  ) {
    super(message, hint, details);
  }
}

export interface EngineDeps {
  settings: Settings;
  /** every pair of the pairs file: the Prometheus textfile a run rewrites covers them all */
  allPairs: readonly Pair[];
  hosts: Hosts;
  logs: PairLogs;
  /** aborts the running transfer (SIGINT/SIGTERM) */
  signal?: AbortSignal;
  now?: () => Date;
  /** live transfer progress (the terminal progress bar) */
  onProgress?: (pair: Pair, p: Progress) => void;
  /** what --verbose prints */
  note?: (pair: Pair, line: string) => void;
  /** what a warning prints on stderr (a run that succeeded with trouble) */
  warn?: (pair: Pair, line: string) => void;
  /**
   * how long a capability probe is trusted (default a day), and whether a
   * pair whose last run failed probes again: the daemon's policy
   */
  probe?: { maxAgeMs: number; afterFailure: boolean };
  /** the destination holds the run's new snapshot, recorded (on its receipt, or after the guid check: replicate.ts onReceipt; the rest of the finish follows) */
  onReplicated?: (pair: Pair) => void;
  /** the daemon's memory of this pair between its runs: what lets an update skip the listings (replicate.ts, WarmState) */
  warm?: WarmSlot;
}

export interface Outcome {
  /** the newest pair snapshot the destination now holds */
  lastSnapshot: SnapshotRef;
  bytes: number;
  /** the snapshot created by this run (short name) */
  snapshot: string;
  /** trouble that did not fail the run (a retention step that failed) */
  warnings: string[];
}

export interface PairRun {
  pair: Pair;
  deps: EngineDeps;
  settings: Settings;
  src: Host;
  dst: Host;
  log: PairLog;
  signal: AbortSignal;
  now: () => Date;
  /** when this run started, as its status record says (run.started) */
  started: Date;
  /** the record as it was before this run (or a fresh one) */
  status: StatusRecord;
  /** save facts worth keeping between runs (capability probes) */
  cache: Record<string, unknown>;
  note(line: string): void;
  /**
   * before anything is destroyed or released: throws (and stops the run)
   * unless this run still holds the pair's lock. A run whose lock was
   * removed (unlock --force) and perhaps taken by a new run must not touch
   * what the new run plans from.
   */
  mustHoldLock(what: string): void;
  /**
   * a run that `unlock --force` evicted is still alive (it did not stop
   * within the wait): destroy nothing that run may still be sending
   */
  evictedAlive: boolean;
  /** true when this run goes the other way than the pairs file says (pair, src and dst are swapped) */
  reversed?: boolean;
  /** record which way the pair runs now (kept in the status record whatever the run's ending) */
  setDirection(d: DirectionRecord): void;
  /**
   * the destination holds the new snapshot (zfs receive exited 0 on the
   * stream that names it, or the guid check matched): recorded at once
   * (Synchronized, the new last snapshot; the run still running), before
   * the bookkeeping and retention that follow; a guid check that fails
   * afterwards takes it back (runLocked)
   */
  replicated?(last: SnapshotRef): void;
}

export function pairEndpoint(e: { host: string; dataset: string }): string {
  return `${e.host}:${e.dataset}`;
}

export function freshRecord(pair: Pair): StatusRecord {
  return {
    version: 1,
    fingerprint: pair.fingerprint,
    source: pairEndpoint(pair.source),
    destination: pairEndpoint(pair.destination),
    state: 'Uninitialized',
  };
}

/** the status record, or a fresh one when missing or unreadable (logged) */
export function loadRecord(settings: Settings, pair: Pair, log?: PairLog): StatusRecord {
  try {
    const r = readStatus(settings, pair.fingerprint);
    if (r) return { ...r, source: pairEndpoint(pair.source), destination: pairEndpoint(pair.destination) };
  } catch (e) {
    if (!(e instanceof StatusFileError)) throw e;
    log?.warn(`status file unreadable, starting a new one: ${e.message}`);
  }
  return freshRecord(pair);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/**
 * Run `body` for one pair under its lock. BusyError (a live run holds the
 * lock) leaves the status file alone. Every other ending is recorded. The
 * Prometheus textfile is rewritten once the run has recorded its start, and
 * again after it ended, whatever the ending (busy and not started too).
 */
export async function runPairAction(pair: Pair, deps: EngineDeps, action: PairAction, body: (run: PairRun) => Promise<Outcome>): Promise<Outcome> {
  const log = deps.logs.for(pair.fingerprint);
  // a textfile that cannot be written is a warning, in the pair's log and
  // on stderr; once a run (the start's and the end's would say the same)
  let warned = false;
  const metrics = () =>
    refreshTextfile(deps.settings, deps.allPairs, (line) => {
      if (warned) return;
      warned = true;
      log.warn(`${action}: ${line}`);
      deps.warn?.(pair, line);
    });
  try {
    return await runLocked(pair, deps, action, body, log, metrics);
  } finally {
    // after the lock is released: the file must not show this pair still running
    await metrics();
  }
}

/**
 * What every run of a pair starts with, before its lock: the clock, an
 * abort signal of its own (joined to the caller's), and the ssh handshakes,
 * which run while this machine takes the lock and reads the status file
 * (not for a takeover: its source may be gone, and only the destination is
 * asked, as it turns out once the record is read).
 */
function openRun(pair: Pair, deps: EngineDeps, action: PairAction): { now: () => Date; local: AbortController; signal: AbortSignal } {
  const now = deps.now ?? (() => new Date());
  const local = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, local.signal]) : local.signal;
  if (action !== 'takeover') {
    deps.hosts.for(pair.source, pair).open();
    deps.hosts.for(pair.destination, pair).open();
  }
  return { now, local, signal };
}

async function runLocked(pair: Pair, deps: EngineDeps, action: PairAction, body: (run: PairRun) => Promise<Outcome>, log: PairLog, metrics: () => Promise<void>): Promise<Outcome> {
  const { settings } = deps;
  const { now, local, signal } = openRun(pair, deps, action);

  let lock: PairLock;
  try {
    lock = await PairLock.acquire(settings, pair.fingerprint, {
      action,
      label: pair.label,
      recoverStale: pair.options.stale_lock === 'recover',
      onCompromised: (err) => {
        log.error(`${action}: the lock was removed while this run held it (${err.message}); stopping`);
        local.abort(new ActionError('the pair lock was removed while this run held it (zettabee unlock --force?)'));
      },
    });
  } catch (e) {
    if (e instanceof BusyError) log.info(`${action}: not started: ${e.message}`);
    else if (e instanceof ZettabeeError) log.error(`${action}: not started: ${e.message}`);
    throw e;
  }

  // a run that unlock --force evicted may still be finishing: wait for it
  const evicted = await waitForEvicted(settings, pair.fingerprint);
  if (evicted.holder && !evicted.gone) log.warn(`${action}: the run that unlock --force evicted (pid ${evicted.holder.pid} on ${evicted.holder.host}) still runs; this run destroys nothing that run may still be sending`);
  // the lock is watched closely, not only at proper-lockfile's next update:
  // a run that lost it stops its transfer within a second
  const watch = setInterval(() => {
    if (!local.signal.aborted && !lock.stillHeld()) {
      log.error(`${action}: the lock was removed while this run held it (zettabee unlock --force?); stopping`);
      local.abort(new ActionError('the pair lock was removed while this run held it (zettabee unlock --force?)'));
    }
  }, LOCK_WATCH_MS);
  watch.unref();
  const started = now();
  const record = loadRecord(settings, pair, log);
  const before: StatusRecord = structuredClone(record);
  const cache: Record<string, unknown> = { ...(record.cache ?? {}) };
  record.run = { action, pid: process.pid, host: hostname(), started: started.toISOString(), result: 'running' };
  // the record of the run's start (result: running); a warm update of the
  // daemon writes it once its snapshot's process has started (setImmediate),
  // its fsyncs beside the snapshot instead of before it. Any later record
  // of the run replaces it (startPending). Nothing recovers from it: a run
  // that dies before it is written left only what a dead run leaves anyway.
  let startPending = false;
  const save = (): void => {
    startPending = false;
    writeStatus(settings, pair.fingerprint, record);
  };
  try {
    if (lock.orphaned) log.warn(`${action}: took over a lock directory that no run held: ${lock.orphaned}`);
    if (lock.recovered) {
      const h = lock.recovered;
      log.warn(`${action}: took over a stale lock of pid ${h.pid} (${h.action}, started ${h.started}); stale_lock = recover`);
    }
    if (deps.warm?.state) {
      startPending = true;
      setImmediate(() => {
        if (!startPending) return;
        try {
          save();
        } catch (e) {
          local.abort(new ActionError(`cannot write the status file: ${oneLine(e)}`));
          return;
        }
        metrics().catch(() => undefined);
      });
    } else {
      save();
      await metrics();
    }
    // every transfer publishes its progress for `runstatus`, besides whatever the caller shows
    let streamStarted: string | undefined;
    const publish = (p: Progress) => {
      streamStarted ??= new Date(Date.now() - p.seconds * 1000).toISOString();
      try {
        writeProgress(settings, pair.fingerprint, {
          pid: process.pid,
          action,
          started: started.toISOString(),
          streamStarted,
          bytes: p.bytes,
          seconds: p.seconds,
          ...(p.total !== undefined ? { total: p.total } : {}),
          updated: new Date().toISOString(),
        });
      } catch {
        // progress is a convenience: never fail a transfer over it
      }
      deps.onProgress?.(pair, p);
    };
    const run: PairRun = {
      pair,
      deps: { ...deps, onProgress: (_p, pr) => publish(pr) },
      settings,
      src: deps.hosts.for(pair.source, pair),
      dst: deps.hosts.for(pair.destination, pair),
      log,
      signal,
      now,
      started,
      status: before,
      cache,
      note: (line) => deps.note?.(pair, line),
      evictedAlive: Boolean(evicted.holder && !evicted.gone),
      setDirection: (d) => {
        record.direction = d;
      },
      replicated: (last) => {
        record.state = 'Synchronized';
        delete record.inconsistency;
        record.lastSnapshot = last;
        try {
          save();
        } catch (e) {
          // the record at the run's end says it again
          log.warn(`${action}: could not write the status file: ${oneLine(e)}`);
        }
        deps.onReplicated?.(pair);
      },
      mustHoldLock: (what) => {
        if (lock.stillHeld()) return;
        const e = new ActionError(`the pair lock was removed while this run held it (zettabee unlock --force?); stopped before ${what}`, 'nothing more was destroyed or released; the run that holds the lock now, or the next update, takes over');
        local.abort(e);
        log.error(`${action}: ${e.message}`);
        throw e;
      },
    };
    const outcome = await body(run);
    const ended = now();
    const seconds = (ended.getTime() - started.getTime()) / 1000;
    record.state = 'Synchronized';
    delete record.inconsistency;
    record.lastSnapshot = outcome.lastSnapshot;
    record.run = { ...record.run, ended: ended.toISOString(), result: 'ok', seconds, bytes: outcome.bytes, snapshot: outcome.snapshot, ...(outcome.warnings.length ? { warnings: outcome.warnings } : {}) };
    record.lastSuccess = { action, ended: ended.toISOString(), seconds, bytes: outcome.bytes };
    record.cache = cache;
    save();
    // already in the log (written as they happened); the terminal hears of them now
    for (const w of outcome.warnings) deps.warn?.(pair, w);
    log.info(`${action} END @${outcome.snapshot}: ${formatTransfer(outcome.bytes, seconds)}`);
    return outcome;
  } catch (e) {
    const ended = now();
    const seconds = (ended.getTime() - started.getTime()) / 1000;
    const hint = e instanceof ZettabeeError ? e.hint : undefined;
    record.run = { ...record.run, ended: ended.toISOString(), result: 'failed', seconds, error: oneLine(e), ...(hint ? { hint } : {}) };
    if (e instanceof PairError && e.state) {
      record.state = e.state;
      if (e.inconsistency) record.inconsistency = e.inconsistency;
      else delete record.inconsistency;
      // recorded on its receipt, the snapshot then failed the guid check on the destination: not replicated after all
      if (e.inconsistency?.kind === 'verify') {
        if (before.lastSnapshot) record.lastSnapshot = before.lastSnapshot;
        else delete record.lastSnapshot;
      }
    }
    record.cache = cache;
    try {
      save();
    } catch (w) {
      log.error(`${action}: could not write the status file: ${oneLine(w)}`);
    }
    log.error(`${action} FAILED after ${seconds.toFixed(1)} s: ${oneLine(e)}`);
    if (e instanceof ZettabeeError) for (const d of e.details) log.error(`  ${d}`);
    if (hint) log.error(`  hint: ${hint}`);
    throw e;
  } finally {
    clearInterval(watch);
    removeProgress(settings, pair.fingerprint);
    await lock.release();
  }
}

/**
 * Run `body` (a dry run: it reads, it changes nothing) for one pair under
 * its lock, so that no run changes the pair while the plan is made. The
 * status record, the log's START/END and the progress file stay as they
 * are; a busy pair is a BusyError, as for a run.
 */
export async function withPairReadOnly<T>(pair: Pair, deps: EngineDeps, action: PairAction, body: (run: PairRun) => Promise<T>): Promise<T> {
  const { settings, logs } = deps;
  const log = logs.for(pair.fingerprint);
  const { now, signal } = openRun(pair, deps, action);
  const lock = await PairLock.acquire(settings, pair.fingerprint, { action: `${action} --dry-run`, label: pair.label, recoverStale: false });
  try {
    const record = loadRecord(settings, pair);
    const run: PairRun = {
      pair,
      deps,
      settings,
      src: deps.hosts.for(pair.source, pair),
      dst: deps.hosts.for(pair.destination, pair),
      log,
      signal,
      now,
      started: now(),
      status: structuredClone(record),
      cache: { ...(record.cache ?? {}) },
      note: (line) => deps.note?.(pair, line),
      evictedAlive: false,
      setDirection: () => {
        // a dry run changes nothing
      },
      mustHoldLock: (what) => {
        throw new ActionError(`a dry run changes nothing (it was about to ${what})`);
      },
    };
    return await body(run);
  } finally {
    await lock.release();
  }
}

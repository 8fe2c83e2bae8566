// When the daemon runs each pair next: pure arithmetic on times in ms, so
// that it is table-tested without a clock.
//
// A pair starts every `interval` (counted from one start to the next, so a
// run's own length does not push the schedule back), or at once when its
// run took longer than that. A failed run is retried after the interval,
// then after two, then four intervals (never longer): a destination that is
// down costs one attempt per four intervals, and since a failing update
// removes the snapshot it took (or fails before taking one), nothing piles
// up meanwhile. A pair that was busy (a cron run held its lock) is simply
// tried again an interval later.

export type RunResult = 'ok' | 'failed' | 'busy';

export interface PairTimes {
  /** when the pair is due next (ms since the epoch) */
  next: number;
  /** failed runs in a row */
  failures: number;
}

/** the longest wait after failures, in intervals */
export const MAX_BACKOFF = 4;

/** the wait after `failures` failed runs in a row, in intervals: 1, 1, 2, 4, 4, ... */
export function backoffFactor(failures: number): number {
  if (failures <= 1) return 1;
  return Math.min(MAX_BACKOFF, 2 ** (failures - 1));
}

/** a pair the daemon has not run yet: due at once */
export function firstTimes(now: number): PairTimes {
  return { next: now, failures: 0 };
}

/** when the pair runs next after a run that started at `started` and ended at `ended` */
export function afterRun(prev: PairTimes, result: RunResult, started: number, ended: number, intervalSeconds: number): PairTimes {
  const failures = result === 'failed' ? prev.failures + 1 : result === 'ok' ? 0 : prev.failures;
  const wait = intervalSeconds * 1000 * (result === 'failed' ? backoffFactor(failures) : 1);
  return { next: Math.max(ended, started + wait), failures };
}

/**
 * The pairs to start now, most overdue first, at most `free` of them; the
 * ones in `running` are skipped (a pair never runs twice at once).
 */
export function duePairs<K>(times: ReadonlyMap<K, PairTimes>, running: ReadonlySet<K>, now: number, free: number): K[] {
  if (free <= 0) return [];
  return [...times.entries()]
    .filter(([k, t]) => t.next <= now && !running.has(k))
    .sort((a, b) => a[1].next - b[1].next)
    .slice(0, free)
    .map(([k]) => k);
}

/** ms until the next pair not running is due (0: one is due now); null when none waits */
export function untilNext<K>(times: ReadonlyMap<K, PairTimes>, running: ReadonlySet<K>, now: number): number | null {
  let best: number | null = null;
  for (const [k, t] of times) {
    if (running.has(k)) continue;
    const d = Math.max(0, t.next - now);
    if (best === null || d < best) best = d;
  }
  return best;
}

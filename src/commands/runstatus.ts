// runstatus DEST [--interval S]: follow a running transfer from its progress
// file: bytes, rate, elapsed and, where the size is known, percent and ETA.
// Redraws in place on a terminal, plain lines otherwise; ends with the run.
import type { CommandModule } from 'yargs';
import { selectPair } from '../config/select.js';
import { formatLag } from '../config/duration.js';
import { formatBytes, formatRate, formatTransfer } from '../domain/units.js';
import { ActionError, BusyError, UsageError, type ZettabeeError } from '../errors.js';
import { inspectLock } from '../state/lock.js';
import { readProgress, type ProgressRecord } from '../state/progress.js';
import { readStatus, type RunRecord } from '../state/status.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string; interval?: number };

/** "update failed at T, 624 B in 1.6 s (386 B/s): why": a run from the status file */
export function runText(run: RunRecord): string {
  const moved = run.bytes !== undefined && run.seconds ? `, ${formatTransfer(run.bytes, run.seconds)}` : '';
  return `${run.action} ${run.result}${run.ended ? ` at ${run.ended}` : ''}${moved}${run.error ? `: ${run.error}` : ''}`;
}

/** the run runstatus follows: the lock holder's (or the progress file's) pid and action */
export interface Followed {
  pid: number;
  action: string;
}

/**
 * How the run runstatus followed ended, from the status file it left: the
 * words for the last line, and the error that gives runstatus its exit code
 * (none: the run ended well, exit 0). A run that left no result of its own
 * (killed, or the file names another run) has failed as far as anyone can
 * tell.
 */
export function followedEnd(label: string, run: RunRecord | undefined, followed: Followed | null): { text: string; error?: ZettabeeError } {
  if (!run || (followed && run.pid !== followed.pid) || run.result === 'running') {
    const who = followed ? `the ${followed.action} (pid ${followed.pid})` : 'the run';
    const text = `${who} recorded no result (was it killed?)`;
    return { text, error: new ActionError(`${who} ended without recording a result`, `zettabee logfile ${label} shows how it ended`) };
  }
  const text = runText(run);
  if (run.result === 'ok') return { text };
  if (run.result === 'busy') return { text, error: new BusyError(`the ${run.action} found the pair busy`) };
  return { text, error: new ActionError(`the ${run.action} failed${run.error ? `: ${run.error}` : ''}`, run.hint) };
}

/** one progress line; `rate` is the recent rate when known, else the average */
export function progressText(label: string, p: ProgressRecord, rate: number | null, now: number): string {
  const elapsed = (now - Date.parse(p.started)) / 1000;
  const r = rate ?? (p.seconds > 0 ? p.bytes / p.seconds : 0);
  const parts = [`${label}: ${p.action} (pid ${p.pid})`, formatBytes(p.bytes), `${formatRate(r, 1)}`, `elapsed ${formatLag(elapsed)}`];
  if (p.total && p.total > 0) {
    const pct = Math.min(100, (100 * p.bytes) / p.total);
    parts.push(`${pct.toFixed(0)}% of ${formatBytes(p.total)}`);
    if (r > 0 && p.bytes < p.total) parts.push(`ETA ${formatLag((p.total - p.bytes) / r)}`);
  }
  return parts.join('  ');
}

/** wait, or less when the signal aborts; leaves no listener behind (runstatus sleeps once a line) */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export function runstatusCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'runstatus <dest>',
    describe: 'follow a running transfer: bytes, rate, elapsed, percent and ETA where known; ends with the run',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair' })
        .option('interval', { type: 'number', default: 2, describe: 'seconds between lines (when not on a terminal)' }) as never,
    handler: async (args) => {
      const interval = args.interval ?? 2;
      if (!(interval >= 0.2 && interval <= 3600)) throw new UsageError(`--interval must be from 0.2 to 3600 seconds, not ${String(args.interval)}`);
      const ctx = loadContext(args, io);
      const pair = selectPair(ctx.pairs, args.dest);
      const fp = pair.fingerprint;
      const tty = io.progress;
      // the run being followed, once one was seen
      let followed: Followed | null = null;
      let seen = false;
      let last: { bytes: number; at: number } | null = null;
      for (;;) {
        if (io.signal?.aborted) break;
        const lock = inspectLock(ctx.settings, fp);
        const p = readProgress(ctx.settings, fp);
        const now = Date.now();
        // a run publishes progress only while it holds the lock: without the
        // lock it is over, whatever progress file a killed run left behind
        if (lock.kind !== 'held') {
          tty?.(null);
          const run = readStatus(ctx.settings, fp)?.run;
          if (!seen) {
            const what = run ? runText(run) : 'never run';
            io.out(`${pair.label}: no transfer is running (last run: ${what})${lock.kind === 'stale' ? `; stale lock: ${lock.reason}` : ''}`);
            return;
          }
          const end = followedEnd(pair.label, run, followed);
          io.out(`${pair.label}: ended: ${end.text}`);
          if (end.error) throw end.error;
          return;
        }
        const h = lock.holder;
        if (h) followed = { pid: h.pid, action: h.action };
        else if (p) followed = { pid: p.pid, action: p.action };
        seen = true;
        let line: string;
        if (!p) {
          line = `${pair.label}: ${h ? `${h.action} (pid ${h.pid}) since ${h.started}` : 'a run'} is preparing; no data moved yet`;
        } else {
          const rate = last && now > last.at && p.bytes >= last.bytes ? ((p.bytes - last.bytes) * 1000) / (now - last.at) : null;
          line = progressText(pair.label, p, rate, now);
          last = { bytes: p.bytes, at: now };
        }
        if (tty) tty(line);
        else io.out(line);
        await sleep(tty ? 1000 : interval * 1000, io.signal);
      }
      tty?.(null);
    },
  };
}

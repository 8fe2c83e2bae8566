// runstatus DEST [--interval S]: follow a running transfer from its progress
// file: bytes, rate, elapsed and, where the size is known, percent and ETA.
// Redraws in place on a terminal, plain lines otherwise; ends with the run.
import type { CommandModule } from 'yargs';
import { selectPair } from '../config/select.js';
import { formatLag } from '../config/duration.js';
import { formatBytes, formatRate, formatTransfer } from '../domain/units.js';
import { UsageError } from '../errors.js';
import { inspectLock } from '../state/lock.js';
import { readProgress, type ProgressRecord } from '../state/progress.js';
import { readStatus } from '../state/status.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string; interval?: number };

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

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
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
      let seen = false;
      let last: { bytes: number; at: number } | null = null;
      for (;;) {
        if (io.signal?.aborted) break;
        const lock = inspectLock(ctx.settings, fp);
        const p = readProgress(ctx.settings, fp);
        const now = Date.now();
        if (lock.kind !== 'held' && !p) {
          tty?.(null);
          const run = readStatus(ctx.settings, fp)?.run;
          const what = run
            ? `${run.action} ${run.result}${run.ended ? ` at ${run.ended}` : ''}${run.bytes !== undefined && run.seconds ? `, ${formatTransfer(run.bytes, run.seconds)}` : ''}${run.error ? `: ${run.error}` : ''}`
            : 'never run';
          io.out(seen ? `${pair.label}: ended: ${what}` : `${pair.label}: no transfer is running (last run: ${what})${lock.kind === 'stale' ? `; stale lock: ${lock.reason}` : ''}`);
          return;
        }
        seen = true;
        let line: string;
        if (!p) {
          const h = lock.kind === 'held' ? lock.holder : null;
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

// status [DEST] [--fullstatus] [--json]: from the status files and locks only.
import type { CommandModule } from 'yargs';
import { selectPairs } from '../config/select.js';
import { ExitError, EXIT_FAILED } from '../errors.js';
import { liveDaemon } from '../state/daemon.js';
import { loadContext, refreshTextfileFor, reporterFor, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest?: string; fullstatus?: boolean; json?: boolean };

export function statusCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'status [dest]',
    describe: 'one line per pair: source destination state lag flag status (runtime); reads status files only',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'only this pair' })
        .option('fullstatus', { type: 'boolean', describe: 'add fingerprint, last snapshot, mbuffer port and what needs attention' })
        .option('json', { type: 'boolean', describe: 'print JSON instead' }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      const reporter = await reporterFor(args, io, ctx.settings, 'status');
      const { collectViews, plannedOf, statusJson, statusLines } = await import('../app/status.js');
      const pairs = selectPairs(ctx.pairs, args.dest);
      const now = Date.now();
      // while a daemon runs: each pair's next planned update
      const daemon = liveDaemon(ctx.settings);
      const views = collectViews(ctx.settings, pairs, now, daemon ? plannedOf(daemon.schedule) : undefined);
      if (args.json) io.out(JSON.stringify(statusJson(views), null, 2));
      else statusLines(views, Boolean(args.fullstatus), now).forEach((l) => io.out(l));
      const unreadable = views.filter((v) => v.unreadable);
      for (const v of unreadable) io.err(`zettabee: error: status ${v.pair.label}: status file unreadable: ${v.unreadable}`);
      // every pair of the pairs file, whatever DEST selects: a cron line keeps lag and staleness fresh between runs
      await refreshTextfileFor(ctx, io, 'status', { now });
      // every selected pair, so one cron line reports lag and stuck runs between updates
      await reporter?.report(pairs);
      if (unreadable.length) throw new ExitError(EXIT_FAILED);
    },
  };
}

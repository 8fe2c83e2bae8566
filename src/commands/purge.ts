// purge DEST [--destination-snapshots] [--yes]
import type { CommandModule } from 'yargs';
import { selectPair } from '../config/select.js';
import { ActionError, UsageError } from '../errors.js';
import { Hosts } from '../exec/hosts.js';
import { liveDaemon } from '../state/daemon.js';
import { PairLogs } from '../state/log.js';
import { loadContext, refreshTextfileFor, reporterFor, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string; yes?: boolean; 'destination-snapshots'?: boolean; 'dry-run'?: boolean };

export function purgeCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'purge <dest>',
    describe: "retire a pair: destroy its snapshots on the source, remove its properties and status files (the destination stays)",
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair' })
        .option('destination-snapshots', { type: 'boolean', describe: "also destroy the pair's snapshots on the destination" })
        .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask (for scripts)' })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'print what purge would do, and do nothing' }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      const pair = selectPair(ctx.pairs, args.dest);
      if (args['dry-run']) {
        const { purgePair } = await import('../app/purge.js');
        const hosts = new Hosts(ctx.settings);
        const logs = new PairLogs();
        logs.open(ctx.settings, [pair.fingerprint], Boolean(args.debug));
        try {
          const plan = await purgePair(pair, { settings: ctx.settings, hosts, logs, destinationSnapshots: Boolean(args['destination-snapshots']), confirm: async () => false, dryRun: true });
          io.out(`purge ${pair.label} (dry run, nothing done) would:`);
          plan.forEach((l) => io.out(`  ${l}`));
        } finally {
          await hosts.close();
          await logs.close();
        }
        return;
      }
      if (!args.yes && !(io.interactive && io.ask)) {
        throw new UsageError('purge destroys snapshots; not on a terminal, so add --yes to confirm');
      }
      // the daemon's next update of the pair would only fail on what purge removed, every interval
      const daemon = liveDaemon(ctx.settings);
      if (daemon?.schedule?.pairs[pair.fingerprint]) {
        throw new ActionError(
          `purge ${pair.label}: the zettabee daemon (pid ${daemon.pid}) updates this pair; nothing was purged`,
          `stop the daemon first (zettabee stop, or systemctl stop zettabee), purge, remove the pair's line from the pairs file, then start the daemon again`,
        );
      }
      const reporter = await reporterFor(args, io, ctx.settings, 'purge');
      const { purgePair } = await import('../app/purge.js');
      const hosts = new Hosts(ctx.settings);
      const logs = new PairLogs();
      logs.open(ctx.settings, [pair.fingerprint], Boolean(args.debug));
      try {
        const done = await purgePair(pair, {
          settings: ctx.settings,
          hosts,
          logs,
          destinationSnapshots: Boolean(args['destination-snapshots']),
          confirm: async (plan) => {
            if (args.yes) return true;
            io.err(`purge ${pair.label} will:`);
            plan.forEach((l) => io.err(`  - ${l}`));
            const answer = await io.ask!('type yes to go ahead: ');
            return answer.trim() === 'yes';
          },
        });
        if (args.verbose) done.forEach((l) => io.out(`purge ${pair.label}: ${l}`));
      } finally {
        // done, failed, declined or busy: the monitor learns what the pair looks like now
        await reporter?.report([pair], logs);
        await refreshTextfileFor(ctx, io, 'purge', { log: logs.for(pair.fingerprint) });
        await hosts.close();
        await logs.close();
      }
    },
  };
}

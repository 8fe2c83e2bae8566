// unlock DEST [--force]: remove a lock left by a crashed run.
import { hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { selectPair } from '../config/select.js';
import { loadRecord } from '../app/pair-run.js';
import { unlockPair } from '../state/lock.js';
import { PairLogs } from '../state/log.js';
import { writeStatus } from '../state/status.js';
import { loadContext, refreshTextfileFor, reporterFor, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string; force?: boolean };

export function unlockCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'unlock <dest>',
    describe: 'remove the lock a crashed run left behind (refused while its holder runs, unless --force)',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair' })
        .option('force', { type: 'boolean', describe: 'remove the lock even though its holder still runs' }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      const pair = selectPair(ctx.pairs, args.dest);
      const reporter = await reporterFor(args, io, ctx.settings, 'unlock');
      let r;
      try {
        r = await unlockPair(ctx.settings, pair.fingerprint, pair.label, Boolean(args.force));
      } catch (e) {
        // refused (the holder still runs): report the run that holds the lock
        await reporter?.report([pair]);
        throw e;
      }
      if (r.removed === 'none') {
        io.out(`${pair.label} is not locked`);
        await reporter?.report([pair]);
        return;
      }
      const h = r.holder;
      const who = h ? `pid ${h.pid} on ${h.host} (${h.action}, started ${h.started})` : 'an unknown holder';
      const logs = new PairLogs();
      logs.open(ctx.settings, [pair.fingerprint], Boolean(args.debug));
      try {
        logs.for(pair.fingerprint).warn(`unlock: removed the ${r.removed} lock of ${who} (by pid ${process.pid} on ${hostname()})`);
        // a run that died mid-way still says "running" in the status file
        const record = loadRecord(ctx.settings, pair);
        if (record.run?.result === 'running') {
          record.run = { ...record.run, result: 'failed', ended: new Date().toISOString(), error: `interrupted: the run ended without cleaning up; its lock was removed by zettabee unlock` };
          writeStatus(ctx.settings, pair.fingerprint, record);
        }
      } finally {
        // the removed lock no longer counts against the pair
        await reporter?.report([pair], logs);
        await refreshTextfileFor(ctx, io, 'unlock', { log: logs.for(pair.fingerprint) });
        await logs.close();
      }
      io.out(`${pair.label}: removed the ${r.removed} lock of ${who}`);
    },
  };
}

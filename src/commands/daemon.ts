// daemon [--jobs N] [--grace DURATION]: update every pair every `interval`
// until stopped; stop [--timeout DURATION]: stop the daemon through its
// pid file and wait until it is gone.
import type { CommandModule } from 'yargs';
import { formatDuration, parseDuration } from '../config/duration.js';
import { ActionError, UsageError } from '../errors.js';
import { SdNotify } from '../exec/sdnotify.js';
import { liveDaemon } from '../state/daemon.js';
import { daemonPidFile } from '../state/paths.js';
import { loadContext, pairsPath, type GlobalArgs, type Io } from './context.js';

type DaemonArgs = GlobalArgs & { jobs?: number; grace?: string };
type StopArgs = GlobalArgs & { timeout?: string };

/**
 * For the end-to-end tests only (not documented for operators): every
 * pair's interval in milliseconds, below the 15 s that interval= allows,
 * so a test sees several cycles in seconds.
 */
const TEST_INTERVAL_ENV = 'ZETTABEE_TEST_DAEMON_INTERVAL_MS';

function durationOption(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const d = parseDuration(String(text));
  if (typeof d !== 'number') throw new UsageError(`--${name}: ${d.error}`);
  if (d > max) throw new UsageError(`--${name}: ${formatDuration(d)} is longer than ${formatDuration(max)}`);
  return d;
}

export function daemonCommand(io: Io): CommandModule<GlobalArgs, DaemonArgs> {
  return {
    command: 'daemon',
    describe: 'update every pair every interval (pair key, default 1m) until stopped: SIGTERM, the kill file or zettabee stop',
    builder: (y) =>
      y
        .option('jobs', { alias: 'j', type: 'number', describe: 'pairs updated at the same time', default: 1 })
        .option('grace', { type: 'string', describe: 'how long running updates may finish when stopped, before they are aborted', default: '30s' }) as never,
    handler: async (args) => {
      const jobs = args.jobs ?? 1;
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs must be a whole number from 1 to 64, not ${String(args.jobs)}`);
      const grace = durationOption('grace', args.grace, 30, 3600);
      const override = io.env[TEST_INTERVAL_ENV] ? Number(io.env[TEST_INTERVAL_ENV]) : undefined;
      if (override !== undefined && !(override > 0)) throw new UsageError(`${TEST_INTERVAL_ENV} must be a number of milliseconds`);
      // the first load's mistakes end the daemon (exit 2) before anything runs
      const first = loadContext(args, io);
      if (first.pairs.length === 0) throw new UsageError(`${first.pairsFile} has no pairs`, 'add a line per pair (source destination [key=value,...], zettabee.cfg(5)), then start the daemon');
      let loaded: typeof first | null = first;
      const notify = new SdNotify(io.env, (line) => io.err(`zettabee: warning: daemon: ${line}`));
      const { Daemon } = await import('../app/daemon.js');
      const daemon = new Daemon({
        args,
        io,
        pairsFile: first.pairsFile,
        load: () => {
          const ctx = loaded ?? loadContext(args, io);
          loaded = null;
          return ctx;
        },
        jobs,
        graceMs: grace * 1000,
        notify,
        ...(override !== undefined ? { intervalOverrideMs: override } : {}),
      });
      const handlers: Array<[NodeJS.Signals, () => void]> = [
        ['SIGTERM', () => daemon.requestStop('SIGTERM')],
        ['SIGINT', () => daemon.requestStop('SIGINT')],
        ['SIGHUP', () => daemon.requestReload()],
        ['SIGUSR1', () => daemon.requestRunNow()],
      ];
      for (const [sig, h] of handlers) process.on(sig, h);
      try {
        await daemon.run();
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
      }
    },
  };
}

export function stopCommand(io: Io): CommandModule<GlobalArgs, StopArgs> {
  return {
    command: 'stop',
    describe: 'stop the daemon (SIGTERM through its pid file) and wait until it has stopped',
    builder: (y) => y.option('timeout', { type: 'string', describe: 'how long to wait for it', default: '5m' }) as never,
    handler: async (args) => {
      const timeout = durationOption('timeout', args.timeout, 300, 86400);
      const ctx = loadContext(args, io);
      const d = liveDaemon(ctx.settings);
      if (!d) throw new ActionError(`no zettabee daemon runs with the lock directory ${ctx.settings.paths.lock}`, `it would have its pid in ${daemonPidFile(ctx.settings)}; the kill file ${pairsPath(args, io.env)}.kill stops a daemon too`);
      process.kill(d.pid, 'SIGTERM');
      const deadline = Date.now() + timeout * 1000;
      while (liveDaemon(ctx.settings)?.pid === d.pid) {
        if (Date.now() > deadline) throw new ActionError(`the daemon (pid ${d.pid}) still runs ${formatDuration(timeout)} after SIGTERM`, 'its log lines on stderr (journalctl -u zettabee) say what it waits for');
        await new Promise((r) => setTimeout(r, 100));
      }
      if (args.verbose) io.out(`the daemon (pid ${d.pid}) stopped`);
    },
  };
}

// initialize DEST and update [DEST|--all] [--jobs N]: silent on success
// (cron mails only on trouble), a progress line on a terminal, one error
// line per failed pair, exit 0 / 1 / 75 (every failure busy).
import type { CommandModule } from 'yargs';
import type { Pair } from '../config/pairs.js';
import { selectPairs } from '../config/select.js';
import { formatLag } from '../config/duration.js';
import { formatBytes, formatRate } from '../domain/units.js';
import { BusyError, EXIT_BUSY, EXIT_FAILED, ExitError, UsageError } from '../errors.js';
import { Hosts } from '../exec/hosts.js';
import { PairLogs } from '../state/log.js';
import { liveDaemon } from '../state/daemon.js';
import { mapLimit } from '../app/parallel.js';
import type { EngineDeps } from '../app/pair-run.js';
import { engineDeps, loadContext, reporterFor, type Context, type GlobalArgs, type Io } from './context.js';
import { formatError } from './report.js';

type Args = GlobalArgs & { dest?: string; all?: boolean; jobs?: number; 'dry-run'?: boolean };

function progressLine(pair: Pair, bytes: number, seconds: number, total?: number): string {
  const pct = total ? `  ${Math.min(100, (100 * bytes) / total).toFixed(0)}% of ${formatBytes(total)}` : '';
  return `${pair.label}: ${formatBytes(bytes)}${pct}  ${formatRate(bytes, seconds)}  ${formatLag(seconds)}`;
}

/**
 * --dry-run: each pair's plan on stdout, the very plan a run would log
 * ("plan:" lines) and carry out; nothing is changed, nothing is reported
 * to the monitor, the status file stays as it is. A pair that cannot be
 * planned (not initialized, a conflict) fails as its run would.
 */
async function dryRunPairs(io: Io, ctx: Context, args: Args, action: 'initialize' | 'update', pairs: Pair[]): Promise<void> {
  const hosts = new Hosts(ctx.settings);
  const { initializeDryRun, updateDryRun } = await import('../app/replicate.js');
  const logs = new PairLogs();
  logs.open(ctx.settings, pairs.map((p) => p.fingerprint), Boolean(args.debug));
  // a dry run writes no Prometheus textfile: nothing changed
  const deps = engineDeps(io, ctx, args, action, hosts, logs);
  const plan = action === 'initialize' ? initializeDryRun : updateDryRun;
  const failures: { pair: Pair; error: unknown }[] = [];
  try {
    for (const p of pairs) {
      try {
        const d = await plan(p, deps);
        io.out(`${action} ${p.label} (dry run, nothing done) would:`);
        for (const l of d.lines) io.out(`  ${l}`);
      } catch (e) {
        failures.push({ pair: p, error: e });
      }
    }
  } finally {
    await hosts.close();
    await logs.close();
  }
  if (failures.length === 0) return;
  if (pairs.length === 1) throw failures[0]!.error;
  for (const f of failures) formatError(`${action} ${f.pair.label}`, f.error, Boolean(args.debug)).lines.forEach((l) => io.err(l));
  throw new ExitError(failures.every((f) => f.error instanceof BusyError) ? EXIT_BUSY : EXIT_FAILED);
}

/** run one action over the pairs, `jobs` at a time, sharing ssh connections */
async function runPairs(io: Io, ctx: Context, args: Args, action: 'initialize' | 'update', pairs: Pair[], jobs: number): Promise<void> {
  const hosts = new Hosts(ctx.settings);
  // the first pairs' ssh handshakes run while the engine's modules load
  for (const p of pairs.slice(0, jobs)) {
    hosts.for(p.source, p).open();
    hosts.for(p.destination, p).open();
  }
  // before anything runs: a --nagios/--icinga that cannot work is a usage error, not a surprise afterwards
  const reporter = await reporterFor(args, io, ctx.settings, action).catch(async (e: unknown) => {
    await hosts.close();
    throw e;
  });
  // the engine loads with the first action that replicates (status and check never need it)
  const { initializePair, updatePair } = await import('../app/replicate.js');
  const logs = new PairLogs();
  logs.open(ctx.settings, pairs.map((p) => p.fingerprint), Boolean(args.debug));
  const showProgress = io.progress && pairs.length === 1 ? io.progress : undefined;
  const deps: EngineDeps = {
    ...engineDeps(io, ctx, args, action, hosts, logs),
    ...(showProgress ? { onProgress: (p: Pair, pr: { bytes: number; seconds: number; total?: number }) => showProgress(progressLine(p, pr.bytes, pr.seconds, pr.total)) } : {}),
  };
  const run = action === 'initialize' ? initializePair : updatePair;
  // a pair that a running daemon updates is its alone: a cron update would only double its work
  const daemon = action === 'update' ? liveDaemon(ctx.settings) : null;
  let results;
  try {
    results = await mapLimit(pairs, jobs, async (p) => {
      const planned = daemon?.schedule?.pairs[p.fingerprint];
      if (daemon && planned) throw new BusyError(`busy: the zettabee daemon (pid ${daemon.pid}) updates this pair; its next update ${planned.running ? 'runs now' : `starts at ${planned.next}`}`, 'stop the daemon (zettabee stop) to run updates by hand; this is not an error for cron');
      const o = await run(p, deps);
      showProgress?.(null);
      if (args.verbose) io.out(`${action} ${p.label}: ok, @${o.snapshot}`);
      return o;
    });
    // every pair, whatever its outcome (a busy one reports the run that holds it); one send for all
    await reporter?.report(pairs, logs);
  } finally {
    showProgress?.(null);
    await hosts.close();
    await logs.close();
  }
  const failures = results.flatMap((r, i) => (r.ok ? [] : [{ pair: pairs[i]!, error: r.error }]));
  if (failures.length === 0) return;
  // cron's overlapping run is not news: a busy pair says so only on a terminal or with -v
  const quiet = (e: unknown) => e instanceof BusyError && !args.verbose && !io.progress;
  if (pairs.length === 1) throw quiet(failures[0]!.error) ? new ExitError(EXIT_BUSY) : failures[0]!.error;
  for (const f of failures) {
    if (!quiet(f.error)) formatError(`${action} ${f.pair.label}`, f.error, Boolean(args.debug)).lines.forEach((l) => io.err(l));
  }
  throw new ExitError(failures.every((f) => f.error instanceof BusyError) ? EXIT_BUSY : EXIT_FAILED);
}

export function initializeCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'initialize <dest>',
    describe: 'snapshot the source and send it in full to a destination that does not exist yet',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair (dhost:dpool/fs, dpool/fs, last component or fingerprint)' })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'print the plan (every zfs command), and do nothing' }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      if (args['dry-run']) return dryRunPairs(io, ctx, args, 'initialize', selectPairs(ctx.pairs, args.dest));
      await runPairs(io, ctx, args, 'initialize', selectPairs(ctx.pairs, args.dest), 1);
    },
  };
}

export function updateCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'update [dest]',
    describe: 'send what changed since the newest common snapshot (every pair when DEST is left out)',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair; leave out (or --all) for every pair' })
        .option('all', { type: 'boolean', describe: 'update every pair' })
        .option('jobs', { alias: 'j', type: 'number', describe: 'pairs updated at the same time', default: 1 })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'print the plan of each pair (every zfs command), and do nothing' }) as never,
    handler: async (args) => {
      if (args.all && args.dest) throw new UsageError('give either DEST or --all, not both');
      const jobs = args.jobs ?? 1;
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs must be a whole number from 1 to 64, not ${String(args.jobs)}`);
      const ctx = loadContext(args, io);
      const pairs = selectPairs(ctx.pairs, args.dest);
      if (pairs.length === 0) throw new UsageError(`${ctx.pairsFile} has no pairs`);
      if (args['dry-run']) return dryRunPairs(io, ctx, args, 'update', pairs);
      await runPairs(io, ctx, args, 'update', pairs, jobs);
    },
  };
}

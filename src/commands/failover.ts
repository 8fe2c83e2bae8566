// failover DEST, takeover DEST [--yes], failback DEST [--discard]: reverse a
// pair's roles (src/app/failover.ts). Each prints what it did (a switch is
// done by a person, who wants to read that it happened), or with --dry-run
// its plan; errors and exit codes as for update.
import type { CommandModule } from 'yargs';
import type { Pair } from '../config/pairs.js';
import { selectPair } from '../config/select.js';
import { UsageError } from '../errors.js';
import { Hosts } from '../exec/hosts.js';
import { PairLogs } from '../state/log.js';
import type { EngineDeps } from '../app/pair-run.js';
import type { Switch } from '../app/failover.js';
import { engineDeps, loadContext, refreshTextfileFor, reporterFor, type Context, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string; yes?: boolean; discard?: boolean; 'dry-run'?: boolean };
type Action = 'failover' | 'takeover' | 'failback';

/** the engine's deps for one pair, its hosts and log closed after `body` */
async function withDeps<T>(io: Io, ctx: Context, args: Args, action: Action, pair: Pair, body: (deps: EngineDeps) => Promise<T>): Promise<T> {
  const hosts = new Hosts(ctx.settings);
  const logs = new PairLogs();
  logs.open(ctx.settings, [pair.fingerprint], Boolean(args.debug));
  const deps = engineDeps(io, ctx, args, action, hosts, logs);
  try {
    return await body(deps);
  } finally {
    await hosts.close();
    await logs.close();
  }
}

async function run(io: Io, args: Args, action: Action, go: (pair: Pair, deps: EngineDeps) => Promise<Switch>, dry: (pair: Pair, deps: EngineDeps) => Promise<Switch>): Promise<void> {
  const ctx = loadContext(args, io);
  const pair = selectPair(ctx.pairs, args.dest);
  if (args['dry-run']) {
    const plan = await withDeps(io, ctx, args, action, pair, (deps) => dry(pair, deps));
    io.out(`${action} ${pair.label} (dry run, nothing done) would:`);
    plan.lines.forEach((l) => io.out(`  ${l}`));
    return;
  }
  const reporter = await reporterFor(args, io, ctx.settings, action);
  await withDeps(io, ctx, args, action, pair, async (deps) => {
    try {
      const done = await go(pair, deps);
      done.lines.forEach((l) => io.out(`${action} ${pair.label}: ${l}`));
    } finally {
      // done or failed: the monitor learns which way the pair runs now
      await reporter?.report([pair], deps.logs);
      await refreshTextfileFor(ctx, io, action, { log: deps.logs.for(pair.fingerprint) });
    }
  });
}

const dest = { type: 'string', describe: 'the pair (as the pairs file names it: it stays the same in either direction)' } as const;
const dryRun = { alias: 'n', type: 'boolean', describe: 'print the plan (every zfs command), and do nothing' } as const;

export function failoverCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'failover <dest>',
    describe: 'planned switch: source read-only, a final update, then the destination becomes the source (again: switches back)',
    builder: (y) => y.positional('dest', dest).option('dry-run', dryRun) as never,
    handler: async (args) => {
      const { failoverPair, failoverDryRun } = await import('../app/failover.js');
      await run(io, args, 'failover', failoverPair, failoverDryRun);
    },
  };
}

export function takeoverCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'takeover <dest>',
    describe: 'the source is gone: make the destination the source at its newest snapshot, without contacting the source',
    builder: (y) =>
      y
        .positional('dest', dest)
        .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask (for scripts)' })
        .option('dry-run', dryRun) as never,
    handler: async (args) => {
      if (!args['dry-run'] && !args.yes && !(io.interactive && io.ask)) {
        throw new UsageError('takeover makes the destination writable without the source; not on a terminal, so add --yes to confirm');
      }
      const { takeoverPair, takeoverDryRun } = await import('../app/failover.js');
      const confirm = async (lines: string[]) => {
        if (args.yes) return true;
        io.err(`takeover ${args.dest} will:`);
        lines.forEach((l) => io.err(`  - ${l}`));
        return (await io.ask!('type yes to go ahead: ')).trim() === 'yes';
      };
      await run(io, args, 'takeover', (p, d) => takeoverPair(p, d, confirm), takeoverDryRun);
    },
  };
}

export function failbackCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'failback <dest>',
    describe: 'after a takeover, when the old source is back: keep what it wrote since (renamed aside), make it the destination, replicate',
    builder: (y) =>
      y
        .positional('dest', dest)
        .option('discard', { type: 'boolean', describe: 'roll the old source back instead, destroying what it wrote since the common snapshot' })
        .option('dry-run', dryRun) as never,
    handler: async (args) => {
      const { failbackPair, failbackDryRun } = await import('../app/failover.js');
      const discard = Boolean(args.discard);
      await run(io, args, 'failback', (p, d) => failbackPair(p, d, discard), (p, d) => failbackDryRun(p, d, discard));
    },
  };
}

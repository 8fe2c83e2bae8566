// The command line: global options, the actions, and the one place where an
// error becomes output and an exit code.
import { readFileSync } from 'node:fs';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';
import { loadContext, type GlobalArgs, type Io } from './commands/context.js';
import { fingerprintCommand } from './commands/fingerprint.js';
import { logfileCommand } from './commands/logfile.js';
import { setupCommand } from './commands/setup.js';
import { initializeCommand, updateCommand } from './commands/replicate.js';
import { daemonCommand, stopCommand } from './commands/daemon.js';
import { statusCommand } from './commands/status.js';
import { unlockCommand } from './commands/unlock.js';
import { purgeCommand } from './commands/purge.js';
import { failbackCommand, failoverCommand, takeoverCommand } from './commands/failover.js';
import { runstatusCommand } from './commands/runstatus.js';
import { checkCommand, unknown as unknownToMonitor } from './commands/check.js';
import { icingaConfigCommand, nagiosConfigCommand } from './commands/monitor-config.js';
import { formatError } from './commands/report.js';
import { hostNameProblem } from './domain/names.js';
import { printable } from './domain/printable.js';

export const ACTIONS = ['setup', 'initialize', 'update', 'failover', 'takeover', 'failback', 'daemon', 'stop', 'status', 'runstatus', 'unlock', 'purge', 'logfile', 'fingerprint', 'check', 'nagios-config', 'icinga-config'] as const;

/** action options that take a value, so their value is not mistaken for DEST */
const VALUE_OPTIONS = ['--jobs', '-j', '--interval', '--grace', '--timeout'];

interface GlobalOption {
  name: string;
  alias?: string;
  type: 'string' | 'boolean';
  describe: string;
  defaultDescription?: string;
}

/** the options before the action: yargs is told them, and unknownGlobalOption checks the words against them */
const GLOBAL_OPTIONS: readonly GlobalOption[] = [
  { name: 'config', alias: 'c', type: 'string', describe: 'pairs file (env ZETTABEE_CONFIG)', defaultDescription: '/etc/zettabee/zettabee.cfg' },
  { name: 'settings', type: 'string', describe: 'settings file (env ZETTABEE_SETTINGS)', defaultDescription: '/etc/zettabee/zettabee.ini' },
  { name: 'nagios', type: 'string', describe: 'report results to Nagios through send_nsca (HOST overrides [nagios] server)' },
  { name: 'icinga', type: 'boolean', describe: 'report results through the Icinga 2 API' },
  { name: 'debug', alias: 'd', type: 'boolean', describe: 'show details of errors' },
  { name: 'verbose', alias: 'v', type: 'boolean', describe: 'say what is done' },
  // yargs's own
  { name: 'help', alias: 'h', type: 'boolean', describe: '' },
  { name: 'version', type: 'boolean', describe: '' },
];

/**
 * What is wrong with the options before the action, or null. yargs cannot
 * know whether an option it does not know takes a value, so it takes the
 * next word as one: `zettabee -x status` lost its action and said "name an
 * action". The words up to the action are global options, checked here
 * (after normalizeArgv); from the action on, yargs checks them.
 */
export function unknownGlobalOption(argv: readonly string[]): string | null {
  const named = (n: string) => GLOBAL_OPTIONS.find((o) => o.name === n || (o.type === 'boolean' && `no-${o.name}` === n));
  const valueFollows = (i: number) => i + 1 < argv.length && !argv[i + 1]!.startsWith('-');
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    // the action, DEST, or shell completion: yargs takes it from here
    if (w === '--' || !w.startsWith('-') || w === '-' || w === '--get-yargs-completions') return null;
    if (w.startsWith('--')) {
      const name = w.slice(2).split('=')[0]!;
      const o = named(name);
      if (!o) return `unknown option --${name}`;
      if (o.type === 'string' && !w.includes('=')) {
        if (!valueFollows(i)) return `option --${name} needs a value`;
        i++;
      }
      continue;
    }
    // a cluster of short options, read as yargs reads it: -dv, -c FILE, -c/etc/x.cfg (a non-letter starts the value)
    for (let j = 1; j < w.length; j++) {
      const o = GLOBAL_OPTIONS.find((g) => g.alias === w[j]);
      if (!o) return `unknown option -${w[j]}${w.length > 2 ? ` (in ${w})` : ''}`;
      if (o.type !== 'string') continue;
      if (j < w.length - 1 && /\W/.test(w[j + 1]!)) break;
      if (j < w.length - 1) return `option -${w[j]} (--${o.name}) needs a value: write -${w[j]} ${w.slice(j + 1)}`;
      if (!valueFollows(i)) return `option -${w[j]} (--${o.name}) needs a value`;
      i++;
    }
  }
  return null;
}

/** yargs's "Unknown argument: x" as the option was written: "unknown option -x" */
function unknownArgumentsMessage(msg: string, argv: readonly string[]): string {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!m) return msg;
  const names = m[1]!.split(', ');
  const written = names.map((n) => (argv.some((a) => a === `--${n}` || a.startsWith(`--${n}=`)) ? `--${n}` : n.length === 1 && argv.some((a) => /^-[^-]/.test(a) && a.includes(n)) ? `-${n}` : null));
  if (written.some((w) => w === null)) return msg;
  return `unknown ${written.length === 1 ? 'option' : 'options'} ${written.join(', ')}`;
}

/**
 * The version in the nearest package.json above this module, the one node
 * itself takes the module's type from: the checkout's when run from dist/,
 * the one beside the bundle in /usr/lib/zettabee when installed from the
 * Debian package (which has no checkout above it).
 */
export function version(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      return (JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { version: string }).version;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dir.pathname === '/') throw e;
    }
  }
}

/**
 * `--nagios [HOST]` takes an optional value; when the next word is an action
 * it is the action, not the host.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  for (let i = 0; i < out.length; i++) {
    if (out[i] === '--') break;
    if (out[i] === '--nagios' && (i + 1 >= out.length || (ACTIONS as readonly string[]).includes(out[i + 1]!) || out[i + 1]!.startsWith('-'))) {
      out[i] = '--nagios=';
    }
  }
  return out;
}

/** the action word of a (normalized) command line */
function firstAction(argv: readonly string[]): string | undefined {
  return argv.find((a) => !a.startsWith('-') && (ACTIONS as readonly string[]).includes(a));
}

type ActionHandler = (args: Record<string, unknown>) => void | Promise<void>;

/**
 * The action without its handler, which goes into `handlers` instead: yargs
 * parses and checks the command line, and main() then runs the action.
 * Given a handler, yargs renders the whole --help text as the action starts,
 * in case it fails (~9 ms of CPU in every run); zettabee never shows help
 * on a failed action.
 */
function parseOnly<U>(mod: CommandModule<GlobalArgs, U>, handlers: Map<string, ActionHandler>): CommandModule<GlobalArgs, U> {
  const { handler, ...rest } = mod;
  handlers.set(String(mod.command).split(' ')[0]!, handler as unknown as ActionHandler);
  return rest as CommandModule<GlobalArgs, U>;
}

function buildParser(argv: string[], io: Io, handlers: Map<string, ActionHandler>): Argv<GlobalArgs> {
  const only = <U>(mod: CommandModule<GlobalArgs, U>) => parseOnly(mod, handlers);
  return yargs(argv)
    .scriptName('zettabee')
    .usage('$0 [-c PAIRS] [--settings INI] [--nagios [HOST]] [--icinga] [-d] [-v] <action> [DEST] [options]')
    .options(Object.fromEntries(GLOBAL_OPTIONS.filter((o) => o.describe).map(({ name, ...o }) => [name, o])))
    .command(only(setupCommand(io)))
    .command(only(initializeCommand(io)))
    .command(only(updateCommand(io)))
    .command(only(daemonCommand(io)))
    .command(only(stopCommand(io)))
    .command(only(failoverCommand(io)))
    .command(only(takeoverCommand(io)))
    .command(only(failbackCommand(io)))
    .command(only(statusCommand(io)))
    .command(only(runstatusCommand(io)))
    .command(only(unlockCommand(io)))
    .command(only(purgeCommand(io)))
    .command(only(fingerprintCommand(io)))
    .command(only(logfileCommand(io)))
    .command(only(checkCommand(io)))
    .command(only(nagiosConfigCommand(io)))
    .command(only(icingaConfigCommand(io)))
    .completion('completion', 'print a bash completion script (the Debian package installs it; from a checkout, put it in /etc/bash_completion.d/zettabee)', (current: string, args: Record<string, unknown>, defaults: (cb: (err: Error | null, completions: string[] | undefined) => void) => void, done: (completions: string[]) => void) => {
      // complete DEST with the pairs' destinations after an action word
      // args._ is [program, ...words typed so far, the word being completed]
      const words = (args._ as string[]).slice(1, -1);
      if (words.length === 1 && (ACTIONS as readonly string[]).includes(String(words[0]))) {
        try {
          const ctx = loadContext(args as GlobalArgs, io);
          done(ctx.pairs.map((p) => p.label).filter((l) => l.startsWith(current)));
          return;
        } catch {
          // an unreadable pairs file: offer the default completions
        }
      }
      defaults((err, completions) => done(err ? [] : (completions ?? [])));
    })
    // an option given twice: the last one counts (not an array where a string is expected)
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .demandCommand(1, 'name an action: ' + ACTIONS.join(', '))
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(version())
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(unknownArgumentsMessage(msg, argv), 'see zettabee --help');
    }) as unknown as Argv<GlobalArgs>;
}

function describeUnexpected(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/** runs the command line and returns the exit code; never calls process.exit */
export async function main(rawArgv: readonly string[], rawIo: Io): Promise<number> {
  // every line printed goes through printable: input quoted into a message cannot drive the terminal
  const io: Io = { ...rawIo, out: (l) => rawIo.out(printable(l)), err: (l) => rawIo.err(printable(l)) };
  const argv = normalizeArgv(rawArgv);
  const action = firstAction(argv);
  const actionIndex = action ? argv.indexOf(action) : -1;
  const rest = actionIndex >= 0 ? argv.slice(actionIndex + 1) : [];
  // the first word after the action that is neither an option nor an option's value
  const dest = rest.find((a, i) => !a.startsWith('-') && !VALUE_OPTIONS.includes(rest[i - 1] ?? ''));
  const debug = argv.includes('-d') || argv.includes('--debug');
  const where = [action, dest].filter(Boolean).join(' ');
  try {
    const refuse = (problem: string): never => {
      // a bad command line of check is UNKNOWN, as check's own parse errors are
      if (action === 'check') unknownToMonitor(io, `usage: ${problem}`, [], 'see zettabee check --help');
      throw new UsageError(problem, 'see zettabee --help');
    };
    const bad = unknownGlobalOption(argv);
    if (bad) refuse(bad);
    const handlers = new Map<string, ActionHandler>();
    const args = await buildParser(argv, io, handlers).parseAsync();
    // yargs has answered --help, --version and shell completion itself
    if (args.help || args.version || argv.includes('--get-yargs-completions')) return EXIT_OK;
    // words after '--' land here, not in DEST: 'update -- -x' would update every pair
    const extra = args._.slice(1).map(String);
    if (extra.length) refuse(`'${extra.join(' ')}' after the action is not taken (give DEST without '--'; a name starting with '-' as dpool/fs)`);
    // the --nagios HOST is checked as [nagios] server is, whether or not the action sends anything
    const nagiosHost = args.nagios ? hostNameProblem(args.nagios) : null;
    if (nagiosHost) refuse(`--nagios: ${nagiosHost}`);
    const handler = handlers.get(String(args._[0]));
    if (handler) await handler(args);
    return EXIT_OK;
  } catch (e) {
    const r = formatError(where, e, debug);
    r.lines.forEach((l) => io.err(l));
    return r.code;
  }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

export function run(): void {
  // SIGINT/SIGTERM abort the running transfer; the action then cleans up
  // (removes its unsent snapshot, records the failure, releases the lock).
  // An action that does not listen is ended after a grace period.
  const interrupt = new AbortController();
  // the daemon handles its signals itself: SIGTERM lets running updates
  // finish within its grace period, SIGHUP reloads
  const daemon = firstAction(normalizeArgv(process.argv.slice(2))) === 'daemon';
  for (const sig of daemon ? [] : Object.keys(SIGNAL_NUMBERS)) {
    process.once(sig, () => {
      interrupt.abort(`interrupted by ${sig}`);
      setTimeout(() => process.exit(128 + SIGNAL_NUMBERS[sig]!), 15_000).unref();
    });
  }
  const io: Io = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    env: process.env,
    signal: interrupt.signal,
    interactive: Boolean(process.stdin.isTTY),
    ask: async (question) => {
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
  if (process.stderr.isTTY) io.progress = (line) => process.stderr.write(line === null ? '\r\x1b[K' : `\r\x1b[K${line}`);
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`zettabee: internal error: ${printable(describeUnexpected(e))}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}

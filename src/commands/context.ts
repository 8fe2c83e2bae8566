// What every action needs: the settings and the pairs, loaded from the paths
// the global options (or the environment, or the defaults) name.
import { DEFAULT_PAIRS_FILE, DEFAULT_SETTINGS_FILE, loadConfig } from '../config/load.js';
import type { Pair } from '../config/pairs.js';
import type { EngineDeps } from '../app/pair-run.js';
import type { Hosts } from '../exec/hosts.js';
import type { PairLogs } from '../state/log.js';
import type { Settings } from '../config/settings.js';
import type { Reporter } from '../monitor/report.js';
import type { PairLog } from '../state/log.js';

export interface GlobalArgs {
  config?: string;
  settings?: string;
  nagios?: string;
  icinga?: boolean;
  debug?: boolean;
  verbose?: boolean;
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** aborted on SIGINT/SIGTERM: long actions stop cleanly */
  signal?: AbortSignal;
  /** present only when stderr is a terminal: redraw the progress line (null clears it) */
  progress?: (line: string | null) => void;
  /** true when stdin is a terminal (purge asks before it destroys) */
  interactive?: boolean;
  /** read one line from the terminal (purge's confirmation) */
  ask?: (question: string) => Promise<string>;
}

export interface Context {
  settings: Settings;
  pairs: Pair[];
  pairsFile: string;
}

export function pairsPath(args: GlobalArgs, env: NodeJS.ProcessEnv): string {
  return args.config || env.ZETTABEE_CONFIG || DEFAULT_PAIRS_FILE;
}

export function loadContext(args: GlobalArgs, io: Io): Context {
  const explicit = args.settings || io.env.ZETTABEE_SETTINGS;
  const pairsFile = pairsPath(args, io.env);
  return { ...loadConfig(pairsFile, explicit || DEFAULT_SETTINGS_FILE, Boolean(explicit)), pairsFile };
}

/**
 * The --nagios/--icinga reporter (null without either). Its code (send_nsca,
 * the Icinga API, the check evaluation) is loaded only when one is asked for:
 * the plain cron run does not pay for it.
 */
export async function reporterFor(args: GlobalArgs, io: Io, settings: Settings, action: string): Promise<Reporter | null> {
  if (args.nagios === undefined && !args.icinga) return null;
  const { makeReporter } = await import('../monitor/report.js');
  return makeReporter(args, io, settings, action);
}

/**
 * Rewrite the Prometheus textfile ([prometheus] textfile) over every pair
 * of the pairs file, after `action` read or changed status records. Its code
 * is loaded only when a textfile is set. A file that cannot be written is a
 * warning on stderr (and in the pair's log, when there is one), never a
 * failure of the action. `now` (ms): the instant the action's own output
 * was computed for, so both show the same lag.
 */
export async function refreshTextfileFor(ctx: Context, io: Io, action: string, o: { log?: PairLog; now?: number } = {}): Promise<void> {
  if (!ctx.settings.prometheus.textfile) return;
  const { refreshTextfile } = await import('../monitor/prometheus.js');
  const warn = (line: string) => {
    o.log?.warn(`${action}: ${line}`);
    io.err(`zettabee: warning: ${action}: ${line}`);
  };
  await refreshTextfile(ctx.settings, ctx.pairs, warn, o.now === undefined ? undefined : () => o.now!);
}

/**
 * The engine's deps for an action of the command line: the settings and
 * every pair, the hosts and logs it runs with, the interrupt signal, and
 * what it says on the terminal (its notes with --verbose on stdout, its
 * warnings on stderr)
 */
export function engineDeps(io: Io, ctx: Context, args: GlobalArgs, action: string, hosts: Hosts, logs: PairLogs): EngineDeps {
  return {
    settings: ctx.settings,
    allPairs: ctx.pairs,
    hosts,
    logs,
    ...(io.signal ? { signal: io.signal } : {}),
    note: (p, line) => {
      if (args.verbose) io.out(`${action} ${p.label}: ${line}`);
    },
    warn: (p, line) => io.err(`zettabee: warning: ${action} ${p.label}: ${line}`),
  };
}

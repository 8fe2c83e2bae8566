// What every action needs: the settings and the pairs, loaded from the paths
// the global options (or the environment, or the defaults) name.
import { DEFAULT_PAIRS_FILE, DEFAULT_SETTINGS_FILE, loadConfig } from '../config/load.js';
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import type { Reporter } from '../monitor/report.js';

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

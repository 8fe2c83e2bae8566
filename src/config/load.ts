// Reading the two configuration files from disk. Everything that can go
// wrong is collected and reported together as one ConfigError (exit 2).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { formatProblem, parsePairs, type Pair } from './pairs.js';
import { builtinSettings, parseSettings, type Settings } from './settings.js';

export const DEFAULT_PAIRS_FILE = '/etc/zettabee/zettabee.cfg';
export const DEFAULT_SETTINGS_FILE = '/etc/zettabee/zettabee.ini';

function readText(file: string, what: string, hint: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return null;
    throw new ConfigError(`cannot read ${what} ${file}: ${err.message}`, [], hint);
  }
}

/** `explicit` is false when the path is the built-in default: then a missing file is fine */
export function loadSettings(file: string, explicit: boolean): Settings {
  const text = readText(file, 'settings file', 'check the path given with --settings or ZETTABEE_SETTINGS');
  if (text === null) {
    if (explicit) throw new ConfigError(`settings file ${file} does not exist`, [], 'create it, or leave --settings out to use built-in defaults');
    return builtinSettings();
  }
  const { settings, problems } = parseSettings(text, file);
  if (problems.length) {
    throw new ConfigError(`${problems.length} ${problems.length === 1 ? 'mistake' : 'mistakes'} in ${file}; nothing was run`, problems.map(formatProblem));
  }
  return settings;
}

export function loadPairs(file: string, settings: Settings): Pair[] {
  const text = readText(file, 'pairs file', 'check the path given with -c or ZETTABEE_CONFIG');
  if (text === null) {
    throw new ConfigError(`pairs file ${file} does not exist`, [], 'create it (see zettabee.cfg(5)) or point -c at it');
  }
  const { pairs, problems } = parsePairs(text, file, settings.defaults);
  if (problems.length) {
    throw new ConfigError(`${problems.length} ${problems.length === 1 ? 'mistake' : 'mistakes'} in ${file}; nothing was run`, problems.map(formatProblem));
  }
  return pairs;
}

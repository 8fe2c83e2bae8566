// Reading the two configuration files from disk. Everything that can go
// wrong in either is collected and reported together as one ConfigError
// (exit 2): a broken settings file does not hide the pairs file's mistakes.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { formatProblem, parsePairs, type Pair } from './pairs.js';
import { builtinSettings, parseSettings, type Settings } from './settings.js';

export const DEFAULT_PAIRS_FILE = '/etc/zettabee/zettabee.cfg';
export const DEFAULT_SETTINGS_FILE = '/etc/zettabee/zettabee.ini';

/** the mistakes found in one file: a file that cannot be read (with a hint), or its lines' problems */
interface Mistakes {
  file: string;
  lines: string[];
  /** the file as a whole: missing or unreadable */
  whole?: { message: string; hint: string };
}

/** the text; null for a missing file that may be missing */
function readText(file: string, what: string, missingHint: string, unreadableHint: string, mustExist: boolean): string | null | Mistakes {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && !mustExist) return null;
    const whole = err.code === 'ENOENT'
      ? { message: `${what} ${file} does not exist`, hint: missingHint }
      : { message: `cannot read ${what} ${file}: ${err.message}`, hint: unreadableHint };
    return { file, lines: [], whole };
  }
}

const count = (n: number): string => `${n} ${n === 1 ? 'mistake' : 'mistakes'}`;

/**
 * The settings and the pairs. `explicitSettings` is false when the settings
 * path is the built-in default: then a missing settings file means built-in
 * defaults. The pairs are read with whatever [defaults] could be read.
 */
export function loadConfig(pairsFile: string, settingsFile: string, explicitSettings: boolean): { settings: Settings; pairs: Pair[] } {
  const found: Mistakes[] = [];
  let settings = builtinSettings();
  const settingsText = readText(settingsFile, 'settings file', 'create it, or leave --settings out to use built-in defaults', 'check the path given with --settings or ZETTABEE_SETTINGS', explicitSettings);
  if (typeof settingsText === 'object' && settingsText !== null) found.push(settingsText);
  else if (settingsText !== null) {
    const r = parseSettings(settingsText, settingsFile);
    settings = r.settings;
    if (r.problems.length) found.push({ file: settingsFile, lines: r.problems.map(formatProblem) });
  }
  let pairs: Pair[] = [];
  const pairsText = readText(pairsFile, 'pairs file', 'create it (see zettabee.cfg(5)) or point -c at it', 'check the path given with -c or ZETTABEE_CONFIG', true);
  if (typeof pairsText === 'object' && pairsText !== null) found.push(pairsText);
  else if (pairsText !== null) {
    const r = parsePairs(pairsText, pairsFile, settings.defaults);
    pairs = r.pairs;
    if (r.problems.length) found.push({ file: pairsFile, lines: r.problems.map(formatProblem) });
  }
  if (found.length === 0) return { settings, pairs };
  const only = found.length === 1 ? found[0]!.whole : undefined;
  if (only) throw new ConfigError(only.message, [], only.hint);
  const details = found.flatMap((m) => (m.whole ? [`${m.whole.message} (${m.whole.hint})`] : m.lines));
  const summary = found.map((m) => `${count(m.whole ? 1 : m.lines.length)} in ${m.file}`).join(' and ');
  throw new ConfigError(`${summary}; nothing was run`, details);
}

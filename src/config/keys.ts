// The per-pair keys, shared by the pairs file and the settings file's
// [defaults] section. One table: parsing, the "known keys" list in errors and
// the man page all follow it.
import { isAbsolute } from 'node:path';
import { parseDuration } from './duration.js';

export type Transport = 'local' | 'ssh' | 'mbuffer';

export interface PairOptions {
  transport?: Transport;
  port?: number;
  sshport?: number;
  sshkey?: string;
  sshuser?: string;
  wlag?: number;
  clag?: number;
  wrun?: number;
  crun?: number;
  keep?: number;
  recursive?: boolean;
  /** roll the destination back to the common snapshot when it was modified */
  rollback?: boolean;
  /** what update does with a lock whose holder died: refuse (default) or recover */
  stale_lock?: 'refuse' | 'recover';
}

export type OptionKey = keyof PairOptions;

type Parsed = { value: PairOptions[OptionKey] } | { error: string };

function integer(text: string, min: number, max: number, what: string): Parsed {
  if (!/^\d+$/.test(text)) return { error: `'${text}' is not ${what} (a whole number from ${min} to ${max})` };
  const n = Number(text);
  if (n < min || n > max) return { error: `${text} is out of range for ${what} (${min} to ${max})` };
  return { value: n };
}

function yesNo(key: string, t: string): Parsed {
  return t === 'yes' ? { value: true } : t === 'no' ? { value: false } : { error: `${key} must be yes or no, not '${t}'` };
}

function duration(text: string): Parsed {
  const r = parseDuration(text);
  return typeof r === 'number' ? { value: r } : r;
}

const KEYS: Record<OptionKey, { help: string; parse: (text: string) => Parsed }> = {
  transport: {
    help: 'local, ssh or mbuffer',
    parse: (t) =>
      t === 'local' || t === 'ssh' || t === 'mbuffer'
        ? { value: t }
        : { error: `unknown transport '${t}' (use local, ssh or mbuffer)` },
  },
  port: { help: 'mbuffer TCP port', parse: (t) => integer(t, 1, 65535, 'a TCP port') },
  sshport: { help: 'ssh port', parse: (t) => integer(t, 1, 65535, 'a TCP port') },
  sshkey: {
    help: 'private key file',
    parse: (t) =>
      isAbsolute(t) && !/[\0-\x1f\x7f]/.test(t)
        ? { value: t }
        : { error: `sshkey '${t}' must be an absolute path to a private key file` },
  },
  sshuser: {
    help: 'remote user',
    parse: (t) =>
      /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(t)
        ? { value: t }
        : { error: `'${t}' is not a user name (letters, digits, _ . -; not starting with a digit or '-')` },
  },
  wlag: { help: 'warning lag', parse: duration },
  clag: { help: 'critical lag', parse: duration },
  wrun: { help: 'warning runtime', parse: duration },
  crun: { help: 'critical runtime', parse: duration },
  keep: { help: 'pair snapshots kept on the destination', parse: (t) => integer(t, 0, 100000, 'a snapshot count') },
  recursive: {
    help: 'yes or no',
    parse: (t) => yesNo('recursive', t),
  },
  rollback: {
    help: 'yes or no: discard changes made on the destination since the last snapshot',
    parse: (t) => yesNo('rollback', t),
  },
  stale_lock: {
    help: 'refuse or recover',
    parse: (t) =>
      t === 'refuse' || t === 'recover' ? { value: t } : { error: `stale_lock must be refuse or recover, not '${t}'` },
  },
};

export const KNOWN_KEYS = Object.keys(KEYS) as OptionKey[];

export function isOptionKey(key: string): key is OptionKey {
  return Object.prototype.hasOwnProperty.call(KEYS, key);
}

export function unknownKeyMessage(key: string): string {
  const distances = KNOWN_KEYS.map((k) => editDistance(k, key));
  const best = Math.min(...distances);
  const near = best <= 2 ? KNOWN_KEYS.filter((_, i) => distances[i] === best) : [];
  const guess = near.length ? ` (did you mean ${near.join(' or ')}?)` : '';
  return `unknown key '${key}'${guess}; known keys: ${KNOWN_KEYS.join(', ')}`;
}

/** parse one key=value; `error` says what is wrong without file/line */
export function parseOption(key: string, text: string): { key: OptionKey; value: PairOptions[OptionKey] } | { error: string } {
  if (!isOptionKey(key)) return { error: unknownKeyMessage(key) };
  if (text === '') return { error: `${key} has no value (write ${key}=<${KEYS[key].help}>)` };
  const r = KEYS[key].parse(text);
  return 'error' in r ? { error: `${key}: ${r.error}` } : { key, value: r.value };
}

/** problems that involve two keys of the final, merged options */
export function optionConsistencyProblems(o: PairOptions): string[] {
  const out: string[] = [];
  if (o.wlag !== undefined && o.clag !== undefined && o.wlag > o.clag) out.push(`wlag (${o.wlag}s) is greater than clag (${o.clag}s)`);
  if (o.wrun !== undefined && o.crun !== undefined && o.wrun > o.crun) out.push(`wrun (${o.wrun}s) is greater than crun (${o.crun}s)`);
  return out;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

// The per-pair keys, shared by the pairs file and the settings file's
// [defaults] section. One table: parsing, the "known keys" list in errors and
// the man page all follow it.
import { isAbsolute } from 'node:path';
import { sshPathProblem } from '../domain/names.js';
import { formatDuration, parseDuration } from './duration.js';

export type Transport = 'local' | 'ssh' | 'mbuffer';

export type Compression = 'none' | 'lz4' | 'zstd' | 'gzip';

/** mbuffer memory per side when a pair uses mbuffer and sets no buffer= */
export const DEFAULT_BUFFER = 64 * 1024 * 1024;
/** mbuffer block size when a pair sets no blocksize= */
export const DEFAULT_BLOCKSIZE = 128 * 1024;
/** seconds without a byte moving before a transfer is killed, when a pair sets no stall= */
export const DEFAULT_STALL = 300;

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
  /** mbuffer memory per side in bytes; 0 (buffer=none): no mbuffer on the ssh and local transports */
  buffer?: number;
  /** mbuffer block size in bytes */
  blocksize?: number;
  /** bytes per second on the sending side (mbuffer -r); 0: no limit */
  bwlimit?: number;
  /** compress the stream between hosts (ssh and mbuffer transports) */
  compress?: Compression;
  /** seconds without any byte moving before the run is killed; 0: never */
  stall?: number;
  /** mbuffer transport: the peer address the receiving mbuffer accepts (mbuffer -I <accept>:<port>) */
  accept?: string;
  /** mbuffer transport: the destination's address as the sending side reaches it (mbuffer -O <connect>:<port>) */
  connect?: string;
  /** an encrypted source is sent raw (zfs send -w, the default); false: decrypted, on purpose */
  raw?: boolean;
  /** send the properties (zfs send -p) of a pair that is not recursive (-R always does) */
  props?: boolean;
  /** properties the destination keeps its own value of (zfs receive -x) */
  recv_exclude?: string[];
  /** properties set on what arrives (zfs receive -o) */
  recv_set?: Record<string, string>;
  /** children of a recursive pair (globs below the source) neither sent nor reported */
  exclude?: string[];
  /** a command (argv) run before the snapshot; when it fails, no snapshot is taken and the run fails */
  pre?: string[];
  /** a command (argv) run after the snapshot (taken or not), once pre succeeded; when it fails, a warning */
  post?: string[];
  /** seconds a pre or post command may take before it is killed */
  hook_timeout?: number;
  /** seconds between the starts of a pair's updates in `zettabee daemon` (cron runs ignore it) */
  interval?: number;
}

/** the daemon's interval when a pair sets no interval= */
export const DEFAULT_INTERVAL = 60;
/** the range of interval=: 15 s to a day */
export const INTERVAL_RANGE = { min: 15, max: 86400 } as const;

/** seconds a hook may run when a pair sets no hook_timeout= */
export const DEFAULT_HOOK_TIMEOUT = 300;

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

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Bytes from "64M", "128k", "1G", "65536": k, M, G, T are powers of 1024 (as
 * mbuffer reads them), with an optional trailing B or iB. Null when malformed.
 */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : null;
}

/** 67108864 -> "64M", 131072 -> "128k", 1000 -> "1000": how sizes are shown (and handed to mbuffer) */
export function formatSize(bytes: number): string {
  for (const [u, f] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${u}`;
  }
  return String(bytes);
}

function size(text: string, min: number, max: number, what: string, none?: string): Parsed {
  if (none !== undefined && (text === 'none' || text === '0')) return { value: 0 };
  const n = parseSize(text);
  const form = `a size such as 64M, 128k or 1G${none ? ', or none' : ''}`;
  if (n === null) return { error: `'${text}' is not ${what} (${form})` };
  if (n < min || n > max) return { error: `${text} is out of range for ${what} (${formatSize(min)} to ${formatSize(max)})` };
  return { value: n };
}

/** an mbuffer host: a plain host name or IPv4 address (mbuffer mis-parses IPv6 literals in host:port) */
function mbufferHost(key: string, t: string): Parsed {
  const ok = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(t) && !/\.\./.test(t);
  return ok ? { value: t } : { error: `${key} must be a host name or IPv4 address, not '${t}' (mbuffer cannot take IPv6 literals; use a name)` };
}

/** a zfs property name: native (compression), or user (com.example:tag) */
const PROPERTY = /^[a-z][a-z0-9_.:-]{0,255}$/;

/** the properties zettabee itself sets or relies on: not for recv_set / recv_exclude */
const OWN_PROPERTIES = new Set(['readonly']);

/** a list in one value: words separated by commas or blanks (quote the value when it holds either) */
function listOf(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

function propertyList(key: string, t: string): Parsed {
  const names = listOf(t);
  if (names.length === 0) return { error: `${key} names no property` };
  for (const n of names) {
    if (!PROPERTY.test(n)) return { error: `'${n}' is not a zfs property name` };
    if (OWN_PROPERTIES.has(n) || n.startsWith('zettabee:')) return { error: `${n} is zettabee's own to set (destinations stay read-only, its bookkeeping properties are its own)` };
  }
  return { value: [...new Set(names)] };
}

function propertyAssignments(t: string): Parsed {
  const out: Record<string, string> = {};
  const items = listOf(t);
  if (items.length === 0) return { error: 'recv_set sets no property (write recv_set="property=value,...")' };
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq) : '';
    const value = eq > 0 ? item.slice(eq + 1) : '';
    if (!name || !value) return { error: `'${item}' is not property=value` };
    if (!PROPERTY.test(name)) return { error: `'${name}' is not a zfs property name` };
    if (OWN_PROPERTIES.has(name) || name.startsWith('zettabee:')) return { error: `${name} is zettabee's own to set (destinations stay read-only, its bookkeeping properties are its own)` };
    if (name === 'origin') return { error: 'origin cannot be set on a received file system this way' };
    if (name in out) return { error: `${name} is set twice` };
    if (!/^[\x21-\x7e]+$/.test(value)) return { error: `the value of ${name} holds a character zfs would not take here` };
    out[name] = value;
  }
  return { value: out };
}

/** globs of children below the source: * and ? within one name, ** across names */
function globList(t: string): Parsed {
  const globs = listOf(t);
  if (globs.length === 0) return { error: 'exclude names no child' };
  for (const g of globs) {
    if (g.startsWith('/') || g.endsWith('/') || g.includes('//') || g.includes('@') || g.includes('#')) {
      return { error: `'${g}' is not a child below the source (write it relative to the source, e.g. exclude="tmp,vm/*/swap")` };
    }
    if (!/^[A-Za-z0-9_.:*?/-]+$/.test(g)) return { error: `'${g}' holds a character dataset names cannot hold (a glob knows * ? and **)` };
  }
  return { value: [...new Set(globs)] };
}

/**
 * A hook's command line: words separated by blanks; single quotes group
 * words with blanks into one ('sync; sleep 1'). No other quoting and no
 * shell: an admin who wants one writes /bin/sh -c '...'. The program is
 * an absolute path.
 */
export function parseCommand(text: string): string[] | { error: string } {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) return { error: `the single quote at character ${i + 1} has no closing quote` };
      cur = (cur ?? '') + text.slice(i + 1, close);
      i = close;
    } else if (c === ' ' || c === '\t') {
      if (cur !== null) words.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  if (words.length === 0) return { error: 'the command is empty' };
  if (!isAbsolute(words[0]!)) return { error: `the program '${words[0]}' must be an absolute path (a hook runs without a shell and without PATH lookups)` };
  if (words.some((w) => w.includes('\0'))) return { error: 'the command holds a NUL character' };
  return words;
}

function command(t: string): Parsed {
  const r = parseCommand(t);
  return Array.isArray(r) ? { value: r } : r;
}

function duration(text: string): Parsed {
  const r = parseDuration(text);
  return typeof r === 'number' ? { value: r } : r;
}

function interval(text: string): Parsed {
  const r = parseDuration(text);
  if (typeof r !== 'number') return r;
  if (r < INTERVAL_RANGE.min || r > INTERVAL_RANGE.max) return { error: `${formatDuration(r)} is out of range (15s to 1d)` };
  return { value: r };
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
    parse: (t) => {
      if (!isAbsolute(t)) return { error: `sshkey '${t}' must be an absolute path to a private key file` };
      const p = sshPathProblem(t);
      return p ? { error: `sshkey ${p}` } : { value: t };
    },
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
  buffer: {
    help: 'mbuffer memory per side, e.g. 64M, or none',
    parse: (t) => size(t, 256 * 1024, 64 * 1024 ** 3, 'a buffer size', 'none'),
  },
  blocksize: { help: 'mbuffer block size, e.g. 128k', parse: (t) => size(t, 4096, 64 * 1024 ** 2, 'a block size') },
  bwlimit: {
    help: 'bytes per second, e.g. 50M, or none',
    parse: (t) => size(t, 1024, 1024 ** 4, 'a rate in bytes per second', 'none'),
  },
  compress: {
    help: 'none, lz4, zstd or gzip',
    parse: (t) =>
      t === 'none' || t === 'lz4' || t === 'zstd' || t === 'gzip'
        ? { value: t }
        : { error: `compress must be none, lz4, zstd or gzip, not '${t}'` },
  },
  stall: {
    help: 'seconds without progress before a transfer is killed, e.g. 5m; 0 for never',
    parse: duration,
  },
  accept: { help: 'mbuffer: the sending host\'s address as the receiver sees it', parse: (t) => mbufferHost('accept', t) },
  connect: { help: 'mbuffer: the receiving host\'s address as the sender reaches it', parse: (t) => mbufferHost('connect', t) },
  raw: {
    help: 'yes (default) or no: send an encrypted source raw, as ciphertext, or decrypted',
    parse: (t) => yesNo('raw', t),
  },
  props: { help: 'yes or no: send the properties too (zfs send -p)', parse: (t) => yesNo('props', t) },
  recv_exclude: { help: 'properties the destination keeps its own of, e.g. "mountpoint,canmount"', parse: (t) => propertyList('recv_exclude', t) },
  recv_set: { help: 'properties set on what arrives, e.g. "canmount=noauto,compression=zstd"', parse: propertyAssignments },
  exclude: { help: 'children of a recursive pair not replicated, globs below the source, e.g. "tmp,vm/*/swap"', parse: globList },
  pre: { help: "a command run before the snapshot, e.g. \"/usr/local/bin/db-flush --wait 'a b'\"", parse: command },
  post: { help: 'a command run after the snapshot', parse: command },
  hook_timeout: { help: 'how long pre or post may take, e.g. 5m', parse: duration },
  interval: { help: 'how often the daemon updates the pair, 15s to 1d, e.g. 1m', parse: interval },
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

/** problems that involve two keys of the final, merged options (`ofPair`: a pair's, not only [defaults]) */
export function optionConsistencyProblems(o: PairOptions, ofPair = false): string[] {
  const out: string[] = [];
  if (ofPair && o.exclude?.length && !o.recursive) out.push('exclude= applies to recursive pairs only; set recursive=yes, or remove exclude=');
  for (const p of o.recv_exclude ?? []) if (o.recv_set && p in o.recv_set) out.push(`${p} is in both recv_exclude and recv_set; keep one`);
  if (o.hook_timeout === 0) out.push('hook_timeout must be more than 0 s');
  if (o.wlag !== undefined && o.clag !== undefined && o.wlag > o.clag) out.push(`wlag (${o.wlag}s) is greater than clag (${o.clag}s)`);
  if (o.wrun !== undefined && o.crun !== undefined && o.wrun > o.crun) out.push(`wrun (${o.wrun}s) is greater than crun (${o.crun}s)`);
  if ((o.buffer !== undefined && o.buffer > 0) || o.blocksize !== undefined) {
    const buffer = o.buffer || DEFAULT_BUFFER;
    const block = o.blocksize ?? DEFAULT_BLOCKSIZE;
    if (buffer < 2 * block) out.push(`buffer (${formatSize(buffer)}) must hold at least two blocks of blocksize (${formatSize(block)})`);
  }
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

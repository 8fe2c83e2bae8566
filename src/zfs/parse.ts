// Parsers of zfs/zpool output. Scripted (-H) output is split on tabs and every
// line's field count is checked; anything unexpected throws a ParseError that
// names the line, so a format change on some host fails loudly instead of
// planning from half-read data. Numbers that can exceed 2^53 (guids, txgs)
// never become JS numbers.

export class ParseError extends Error {
  constructor(
    readonly what: string,
    readonly lineNumber: number,
    readonly line: string,
    readonly reason: string,
  ) {
    super(`cannot parse ${what}: line ${lineNumber}: ${reason}: ${JSON.stringify(line)}`);
    this.name = 'ParseError';
  }
}

interface Line {
  n: number;
  text: string;
}

/** non-empty lines with 1-based numbers; a trailing newline is not a line */
function lines(text: string): Line[] {
  const out: Line[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (t.trim() !== '') out.push({ n: i + 1, text: t });
  });
  return out;
}

function fields(what: string, l: Line, count: number): string[] {
  const f = l.text.split('\t');
  if (f.length !== count) {
    throw new ParseError(what, l.n, l.text, `expected ${count} tab-separated fields, got ${f.length}`);
  }
  return f;
}

const UINT64_MAX = (1n << 64n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

function uint64(what: string, l: Line, field: string, value: string): bigint {
  if (!DECIMAL.test(value)) throw new ParseError(what, l.n, l.text, `${field} is not a decimal number`);
  const v = BigInt(value);
  if (v > UINT64_MAX) throw new ParseError(what, l.n, l.text, `${field} exceeds 64 bits`);
  return v;
}

function safeInt(what: string, l: Line, field: string, value: string): number {
  const v = uint64(what, l, field, value);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(what, l.n, l.text, `${field} is too large`);
  return Number(v);
}

// ---------------------------------------------------------------------------
// zfs get -Hp -d 1 -o name,property,value guid,createtxg,creation <ds>

export interface DatasetEntry {
  name: string;
  /** decimal, exact: guids exceed 2^53 */
  guid: string;
  createtxg: bigint;
  /** seconds since the epoch */
  creation: number;
}

export interface SnapshotEntry extends DatasetEntry {
  /** the file system or volume, before '@' */
  dataset: string;
  /** the short name, after '@' */
  snapshot: string;
}

export interface BookmarkEntry extends DatasetEntry {
  dataset: string;
  /** the short name, after '#' */
  bookmark: string;
}

export interface SnapshotListing {
  /** the dataset's own entry (absent only if zfs left it out) */
  dataset: DatasetEntry | null;
  /** ordered by createtxg, oldest first */
  snapshots: SnapshotEntry[];
  /** ordered by createtxg (OpenZFS lists bookmarks with `get -d 1`) */
  bookmarks: BookmarkEntry[];
  /** direct children that `-d 1` also lists, by name */
  children: string[];
}

const SNAP_WHAT = 'snapshot listing';

/**
 * Parse `zfs get -Hp -d 1 -o name,property,value guid,createtxg,creation <ds>`.
 * Each name must come with all three properties exactly once.
 */
export function parseSnapshotList(stdout: string, dataset: string): SnapshotListing {
  interface Partial {
    first: Line;
    props: Map<string, { l: Line; value: string }>;
  }
  const byName = new Map<string, Partial>();
  for (const l of lines(stdout)) {
    const [name, prop, value] = fields(SNAP_WHAT, l, 3) as [string, string, string];
    if (name === '') throw new ParseError(SNAP_WHAT, l.n, l.text, 'empty name');
    if (!(name === dataset || name.startsWith(`${dataset}@`) || name.startsWith(`${dataset}#`) || name.startsWith(`${dataset}/`))) {
      throw new ParseError(SNAP_WHAT, l.n, l.text, `${name} is not ${dataset} or below it`);
    }
    if (prop !== 'guid' && prop !== 'createtxg' && prop !== 'creation') {
      throw new ParseError(SNAP_WHAT, l.n, l.text, `unexpected property ${prop}`);
    }
    let p = byName.get(name);
    if (!p) byName.set(name, (p = { first: l, props: new Map() }));
    if (p.props.has(prop)) throw new ParseError(SNAP_WHAT, l.n, l.text, `${prop} of ${name} repeated`);
    p.props.set(prop, { l, value });
  }

  const result: SnapshotListing = { dataset: null, snapshots: [], bookmarks: [], children: [] };
  for (const [name, p] of byName) {
    if (name.startsWith(`${dataset}/`)) {
      result.children.push(name);
      continue;
    }
    const get = (prop: string) => {
      const v = p.props.get(prop);
      if (!v) throw new ParseError(SNAP_WHAT, p.first.n, p.first.text, `no ${prop} for ${name}`);
      return v;
    };
    const g = get('guid');
    const t = get('createtxg');
    const c = get('creation');
    const entry: DatasetEntry = {
      name,
      guid: uint64(SNAP_WHAT, g.l, 'guid', g.value).toString(),
      createtxg: uint64(SNAP_WHAT, t.l, 'createtxg', t.value),
      creation: safeInt(SNAP_WHAT, c.l, 'creation', c.value),
    };
    if (name === dataset) {
      result.dataset = entry;
    } else if (name[dataset.length] === '@') {
      const short = name.slice(dataset.length + 1);
      if (short === '' || /[@#/]/.test(short)) throw new ParseError(SNAP_WHAT, p.first.n, p.first.text, 'bad snapshot name');
      result.snapshots.push({ ...entry, dataset, snapshot: short });
    } else {
      const short = name.slice(dataset.length + 1);
      if (short === '' || /[@#/]/.test(short)) throw new ParseError(SNAP_WHAT, p.first.n, p.first.text, 'bad bookmark name');
      result.bookmarks.push({ ...entry, dataset, bookmark: short });
    }
  }
  const byTxg = (a: DatasetEntry, b: DatasetEntry) =>
    a.createtxg < b.createtxg ? -1 : a.createtxg > b.createtxg ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  result.snapshots.sort(byTxg);
  result.bookmarks.sort(byTxg);
  return result;
}

/**
 * Parse `zfs list -H -p -o name,guid,createtxg,creation -t
 * filesystem,volume,snapshot,bookmark -d 1 <ds>` (OpenZFS): the same
 * listing, read through the same checks.
 */
export function parseSnapshotListParsable(stdout: string, dataset: string): SnapshotListing {
  const asGet = lines(stdout)
    .flatMap((l) => {
      const [name, guid, createtxg, creation] = fields('zfs list -p output', l, 4) as [string, string, string, string];
      return [`${name}\tguid\t${guid}`, `${name}\tcreatetxg\t${createtxg}`, `${name}\tcreation\t${creation}`];
    })
    .join('\n');
  return parseSnapshotList(asGet, dataset);
}

/**
 * Parse the listing of a whole tree (zargv.listTree, either form): each
 * dataset's listing by its name, read through the same checks. The names
 * must all be `top` or below it.
 */
export function parseSnapshotTree(stdout: string, top: string, parsable: boolean): Map<string, SnapshotListing> {
  const byDataset = new Map<string, string[]>();
  for (const l of lines(stdout)) {
    const name = l.text.split('\t')[0]!;
    const ds = name.split(/[@#]/)[0]!;
    if (ds !== top && !ds.startsWith(`${top}/`)) throw new ParseError(SNAP_WHAT, l.n, l.text, `${name} is not ${top} or below it`);
    let group = byDataset.get(ds);
    if (!group) byDataset.set(ds, (group = []));
    group.push(l.text);
  }
  const out = new Map<string, SnapshotListing>();
  for (const [ds, group] of byDataset) out.set(ds, (parsable ? parseSnapshotListParsable : parseSnapshotList)(group.join('\n'), ds));
  return out;
}

// ---------------------------------------------------------------------------
// zfs get -H -p -o name,property,value,source <props> <ds...>

export interface PropValue {
  value: string;
  /** as zfs prints it: 'local', 'default', 'received', 'temporary', '-', 'inherited from X' */
  source: string;
  /** the ancestor for 'inherited from X' */
  inheritedFrom?: string;
}

const GET_WHAT = 'zfs get output';

/**
 * Parse `zfs get -H -p -o name,property,value,source`: dataset -> property ->
 * value. A user property's value may itself hold a tab: name and property
 * never do, and source is last, so the middle fields are the value.
 */
export function parseProps(stdout: string): Map<string, Map<string, PropValue>> {
  const out = new Map<string, Map<string, PropValue>>();
  for (const l of lines(stdout)) {
    const f = l.text.split('\t');
    if (f.length < 4) throw new ParseError(GET_WHAT, l.n, l.text, `expected 4 tab-separated fields, got ${f.length}`);
    const name = f[0]!;
    const prop = f[1]!;
    const source = f[f.length - 1]!;
    const value = f.slice(2, -1).join('\t');
    if (name === '' || prop === '') throw new ParseError(GET_WHAT, l.n, l.text, 'empty name or property');
    let m = out.get(name);
    if (!m) out.set(name, (m = new Map()));
    if (m.has(prop)) throw new ParseError(GET_WHAT, l.n, l.text, `${prop} of ${name} repeated`);
    const pv: PropValue = { value, source };
    const inh = /^inherited from (.+)$/.exec(source);
    if (inh) pv.inheritedFrom = inh[1]!;
    m.set(prop, pv);
  }
  return out;
}

/** the properties of one dataset from parseProps(); an empty map if absent */
export function propsOf(all: Map<string, Map<string, PropValue>>, ds: string): Map<string, PropValue> {
  return all.get(ds) ?? new Map();
}

/**
 * Parse `zfs get -Hp -d 1 -o name,property,value userrefs <ds>`: the user hold
 * count of each snapshot ('-' on file systems, which are left out).
 */
export function parseHoldCounts(stdout: string): Map<string, number> {
  const what = 'userrefs listing';
  const out = new Map<string, number>();
  for (const l of lines(stdout)) {
    const [name, prop, value] = fields(what, l, 3) as [string, string, string];
    if (prop !== 'userrefs') throw new ParseError(what, l.n, l.text, `unexpected property ${prop}`);
    if (!name.includes('@')) continue;
    out.set(name, safeInt(what, l, 'userrefs', value));
  }
  return out;
}

// ---------------------------------------------------------------------------
// zfs holds -H

export interface HoldEntry {
  snapshot: string;
  tag: string;
  /** as printed: 'Mon Jan  1 00:00 2024', or seconds with `holds -p` (OpenZFS 2.2) */
  timestamp: string;
}

/** Parse `zfs holds -H [-r] snap...`: snapshot, tag, timestamp. */
export function parseHolds(stdout: string): HoldEntry[] {
  const what = 'zfs holds output';
  return lines(stdout).map((l) => {
    const [snapshot, tag, timestamp] = fields(what, l, 3) as [string, string, string];
    if (!snapshot.includes('@')) throw new ParseError(what, l.n, l.text, `${snapshot} is not a snapshot`);
    if (tag === '') throw new ParseError(what, l.n, l.text, 'empty tag');
    return { snapshot, tag, timestamp };
  });
}

// ---------------------------------------------------------------------------
// zpool get

/** SPA_VERSION_FEATURES: feature-flag pools print version '-' */
export const FEATURE_FLAGS_VERSION = 5000;

function versionValue(what: string, l: Line, value: string): number {
  if (value === '-') return FEATURE_FLAGS_VERSION;
  if (!DECIMAL.test(value)) throw new ParseError(what, l.n, l.text, 'version is neither a number nor "-"');
  return safeInt(what, l, 'version', value);
}

/** Parse `zpool get -H -o value version <pool>`: 23, or 5000 for '-' (feature flags). */
export function parsePoolVersion(stdout: string): number {
  const what = 'zpool version';
  const ls = lines(stdout);
  if (ls.length !== 1) throw new ParseError(what, ls[1]?.n ?? 1, ls[1]?.text ?? stdout, `expected one line, got ${ls.length}`);
  const l = ls[0]!;
  const [value] = fields(what, l, 1) as [string];
  return versionValue(what, l, value.trim());
}

/**
 * Parse `zpool get -H -o property,value all <pool>`, keeping feature@* as
 * name -> state (other properties are skipped).
 */
export function parsePoolFeatures(stdout: string): Map<string, string> {
  const what = 'zpool feature list';
  const out = new Map<string, string>();
  for (const l of lines(stdout)) {
    const [prop, value] = fields(what, l, 2) as [string, string];
    if (prop.startsWith('feature@')) out.set(prop.slice('feature@'.length), value);
  }
  return out;
}

export interface PoolProps {
  pool: string;
  /** property -> value, as printed (sizes human-readable) */
  props: Map<string, string>;
  /** the pool version, FEATURE_FLAGS_VERSION for '-', null if not listed */
  version: number | null;
  /** feature name (without 'feature@') -> 'enabled' | 'active' | 'disabled' */
  features: Map<string, string>;
}

/**
 * Parse the headed table of `zpool get all <pool>`, the one form that works
 * on zfs-fuse (no -H/-o) and OpenZFS alike. Columns are padded with blanks,
 * and a wide value can push the next column out of line, so each row is
 * split on blanks: pool, property, value words, source (one word for pool
 * properties). A value's inner spacing is not kept.
 */
export function parsePoolProps(stdout: string): PoolProps {
  const what = 'zpool get output';
  const ls = lines(stdout);
  const head = ls[0];
  if (!head) throw new ParseError(what, 1, stdout, 'no output');
  if (!/^NAME\s+PROPERTY\s+VALUE\s+SOURCE\s*$/.test(head.text)) {
    throw new ParseError(what, head.n, head.text, 'expected the header NAME PROPERTY VALUE SOURCE');
  }
  let pool = '';
  const props = new Map<string, string>();
  const features = new Map<string, string>();
  let version: number | null = null;
  for (const l of ls.slice(1)) {
    const w = l.text.trim().split(/\s+/);
    if (w.length < 4) throw new ParseError(what, l.n, l.text, `expected at least 4 columns, got ${w.length}`);
    const name = w[0]!;
    const prop = w[1]!;
    const value = w.slice(2, -1).join(' ');
    if (pool === '') pool = name;
    else if (name !== pool) throw new ParseError(what, l.n, l.text, `a second pool ${name}`);
    if (props.has(prop)) throw new ParseError(what, l.n, l.text, `${prop} repeated`);
    props.set(prop, value);
    if (prop === 'version') version = versionValue(what, l, value);
    if (prop.startsWith('feature@')) features.set(prop.slice('feature@'.length), value);
  }
  if (pool === '') throw new ParseError(what, head.n, head.text, 'no properties listed');
  return { pool, props, version, features };
}

// ---------------------------------------------------------------------------
// receive_resume_token

/** version-checksum-size-zlib hex, e.g. 1-c41e551c7-c0-789c63... */
const RESUME_TOKEN = /^[0-9]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$/;

/**
 * A receive_resume_token value: null for '-' or empty (no partial state),
 * the token otherwise. Accepts the bare value or the whole stdout of
 * `zfs get -H -p -o value receive_resume_token <ds>`.
 */
export function parseResumeToken(value: string): string | null {
  const what = 'receive_resume_token';
  const ls = lines(value);
  if (ls.length === 0) return null;
  if (ls.length > 1) throw new ParseError(what, ls[1]!.n, ls[1]!.text, 'expected one value');
  const l = ls[0]!;
  const v = l.text.trim();
  if (v === '-') return null;
  if (!RESUME_TOKEN.test(v)) throw new ParseError(what, l.n, l.text, 'not a resume token');
  return v;
}

// ---------------------------------------------------------------------------
// zfs list -H -o name, zfs send -nvP

/** Parse `zfs list -H -o name ...`: one name per line. */
export function parseNames(stdout: string): string[] {
  return lines(stdout).map((l) => fields('zfs list output', l, 1)[0]!);
}

/**
 * The byte estimate of `zfs send -n -v -P ...` (OpenZFS): the 'size' line,
 * or the sum of the per-stream lines if there is none. Null when the output
 * has no estimate at all.
 */
export function parseSendEstimate(text: string): bigint | null {
  const what = 'zfs send -nvP output';
  let size: bigint | null = null;
  let sum = 0n;
  let streams = 0;
  for (const l of lines(text)) {
    const f = l.text.split('\t');
    if (f[0] === 'size') {
      if (f.length !== 2) throw new ParseError(what, l.n, l.text, 'expected size<TAB>bytes');
      size = uint64(what, l, 'size', f[1]!);
    } else if (f[0] === 'full' || f[0] === 'incremental') {
      const last = f[f.length - 1]!;
      if (DECIMAL.test(last)) {
        sum += uint64(what, l, 'stream size', last);
        streams++;
      }
    }
  }
  return size ?? (streams > 0 ? sum : null);
}

// ---------------------------------------------------------------------------
// zfs -? (usage text)

export interface UsageCommand {
  /** every usage line of the command, continuation lines joined */
  lines: string[];
  /** single-letter options mentioned anywhere in its lines */
  flags: Set<string>;
  /** --long options mentioned */
  longFlags: Set<string>;
}

export interface ZfsUsage {
  commands: Map<string, UsageCommand>;
}

/**
 * Read the command list printed by `zfs -?` (zfs-fuse, OpenZFS and Solaris
 * print the same shape: a tab, the command, its options; continuation lines
 * start with a tab and four blanks). Throws when no command line is found.
 */
export function parseZfsUsage(text: string): ZfsUsage {
  const commands = new Map<string, UsageCommand>();
  let last: { cmd: UsageCommand; index: number } | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const cont = /^\t {2,}(\S.*)$/.exec(line) ?? /^ {8,}(\S.*)$/.exec(line);
    if (cont && last) {
      last.cmd.lines[last.index] += ` ${cont[1]!.trim()}`;
      continue;
    }
    const m = /^\t([a-z][a-z-]*)(?:\s(.*))?$/.exec(line);
    if (!m) {
      last = null;
      continue;
    }
    const name = m[1]!;
    let cmd = commands.get(name);
    if (!cmd) commands.set(name, (cmd = { lines: [], flags: new Set(), longFlags: new Set() }));
    cmd.lines.push(line.trim());
    last = { cmd, index: cmd.lines.length - 1 };
  }
  if (commands.size === 0) throw new ParseError('zfs usage', 1, text.split('\n')[0] ?? '', 'no command lines found');
  for (const cmd of commands.values()) {
    for (const l of cmd.lines) {
      for (const m of l.matchAll(/(?:^|[\s[|<(])-([A-Za-z0-9]+)/g)) for (const c of m[1]!) cmd.flags.add(c);
      for (const m of l.matchAll(/-\[([A-Za-z|]+)\]/g)) for (const c of m[1]!.replace(/\|/g, '')) cmd.flags.add(c);
      for (const m of l.matchAll(/(?:^|[\s[|<(])--([a-z][a-z-]*)/g)) cmd.longFlags.add(m[1]!);
    }
  }
  return { commands };
}

/** does the usage list `zfs <command>` with option -<flag>? */
export function usageHasFlag(u: ZfsUsage, command: string, flag: string): boolean {
  return u.commands.get(command)?.flags.has(flag) ?? false;
}

export interface DiffSummary {
  /** paths listed (at most the limit asked for) */
  count: number;
  /** the listing was cut at the limit: there may be more */
  more: boolean;
  byType: { created: number; removed: number; modified: number; renamed: number };
  /** the first few, as `+/path`, `-/path`, `M/path`, `R/old -> /new` */
  first: string[];
}

/**
 * Parse `zfs diff -H` (one change per line: `+`, `-`, `M` or `R`, a tab,
 * the path; a rename adds a tab and the new path). `limit`: the line limit
 * the listing was cut at.
 */
export function parseDiff(stdout: string, limit: number, shown = 3): DiffSummary {
  const s: DiffSummary = { count: 0, more: false, byType: { created: 0, removed: 0, modified: 0, renamed: 0 }, first: [] };
  for (const line of stdout.split('\n')) {
    const f = line.split('\t');
    if (f.length < 2 || !/^[-+MR]$/.test(f[0]!)) continue;
    s.count++;
    const key = ({ '+': 'created', '-': 'removed', M: 'modified', R: 'renamed' } as const)[f[0] as '+' | '-' | 'M' | 'R'];
    s.byType[key]++;
    if (s.first.length < shown) s.first.push(f[0] === 'R' ? `R${f[1]} -> ${f[2] ?? '?'}` : `${f[0]}${f[1]}`);
  }
  s.more = s.count >= limit;
  return s;
}

/** "3 paths changed (2 created, 1 modified): +/a, +/b, M/" */
export function describeDiff(d: DiffSummary): string {
  const parts = (Object.entries(d.byType) as Array<[string, number]>).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const n = `${d.more ? 'at least ' : ''}${d.count} path${d.count === 1 ? '' : 's'} changed`;
  return `${n} (${parts.join(', ')}): ${d.first.join(', ')}${d.count > d.first.length ? ', ...' : ''}`;
}

/**
 * The snapshot a resume token leads to: `toname = pool/fs@snap` in what
 * `zfs send -n -v -P -t <token>` prints ("resume token contents:" and an
 * nvlist). Null when it does not say.
 */
export function parseResumeTarget(text: string): string | null {
  const m = /^\s*toname = (\S+@\S+)\s*$/m.exec(text);
  return m ? m[1]! : null;
}

// Pure argv builders for zfs and zpool. Every function returns a fresh argv
// array (first element 'zfs' or 'zpool') for Host.exec/run: never a shell
// string. Dataset-name validation lives in src/domain; here we only refuse
// what would turn a name into something else: an empty word, or a word that
// starts with '-' (zfs would read it as an option).
//
// Portability notes (checked against zfs-fuse 0.7, OpenZFS 2.1 and 2.3, as
// recorded on the test bed in test/fixtures/zfs):
// - zfs-fuse's `zfs set` takes ONE property=value and `zfs snapshot` ONE
//   snapshot; OpenZFS takes several. setProps() therefore returns one argv
//   per property; snapshot() takes several names only when told the host can.
// - zfs-fuse's `zpool get` has neither -H nor -o: poolProps() is the portable
//   form (headed table); poolVersion()/poolFeatures() need OpenZFS/ZoL.
// - zfs-fuse lacks `zfs list -p`, so exact numbers come from `zfs get -Hp`.

/** the properties listSnapshots() asks for, in the order zfs prints them */
export const SNAPSHOT_PROPS = ['guid', 'createtxg', 'creation'] as const;

function word(what: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`zfs argv: empty ${what}`);
  }
  if (value.startsWith('-')) {
    throw new TypeError(`zfs argv: ${what} ${JSON.stringify(value)} starts with '-'`);
  }
  return value;
}

function words(what: string, values: readonly string[]): string[] {
  if (values.length === 0) throw new TypeError(`zfs argv: no ${what} given`);
  return values.map((v) => word(what, v));
}

function propName(name: string): string {
  word('property name', name);
  if (/[=,\s]/.test(name)) throw new TypeError(`zfs argv: property name ${JSON.stringify(name)} contains '=', ',' or blank`);
  return name;
}

function assignment(name: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`zfs argv: property ${name} has no string value`);
  return `${propName(name)}=${value}`;
}

/** `zfs -?`: the usage text the capability probe reads (stdout, exit 0) */
export function usage(): string[] {
  return ['zfs', '-?'];
}

/**
 * The dataset itself, its snapshots (and, on OpenZFS, bookmarks and direct
 * children) with exact guid, createtxg and creation. The portable listing:
 * zfs-fuse has no `list -p` and no `get -t`, and `zfs list -o guid` rounds.
 */
export function listSnapshots(ds: string): string[] {
  return ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', SNAPSHOT_PROPS.join(','), word('dataset', ds)];
}

/**
 * The same listing as listSnapshots() where `zfs list -p` exists (OpenZFS):
 * one line per entry instead of one per property, so a third of the output
 * for a dataset with thousands of snapshots.
 */
export function listSnapshotsParsable(ds: string): string[] {
  return ['zfs', 'list', '-H', '-p', '-o', `name,${SNAPSHOT_PROPS.join(',')}`, '-t', 'filesystem,volume,snapshot,bookmark', '-d', '1', word('dataset', ds)];
}

/**
 * listSnapshots() of a dataset and of every file system and volume below it
 * (-r): a recursive pair's whole tree, on both sides, per dataset
 */
export function listTree(ds: string, opts: { parsable?: boolean } = {}): string[] {
  if (opts.parsable) return ['zfs', 'list', '-H', '-p', '-o', `name,${SNAPSHOT_PROPS.join(',')}`, '-t', 'filesystem,volume,snapshot,bookmark', '-r', word('dataset', ds)];
  return ['zfs', 'get', '-Hp', '-r', '-o', 'name,property,value', SNAPSHOT_PROPS.join(','), word('dataset', ds)];
}

/** user hold counts of the dataset's snapshots: cheaper than `zfs holds` per snapshot */
export function holdCounts(ds: string): string[] {
  return ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', 'userrefs', word('dataset', ds)];
}

/**
 * `zfs get -H -p -o name,property,value,source p1,p2 ds`; with `tree`, of
 * the file systems and volumes below ds too (`-r -t filesystem,volume`:
 * OpenZFS; zfs-fuse has no -t)
 */
export function getProps(ds: string, props: readonly string[], opts: { tree?: boolean } = {}): string[] {
  if (props.length === 0) throw new TypeError('zfs argv: no property given');
  return ['zfs', 'get', '-H', '-p', ...(opts.tree ? ['-r', '-t', 'filesystem,volume'] : []), '-o', 'name,property,value,source', props.map(propName).join(','), word('dataset', ds)];
}

/** `zfs get -H -p -o value receive_resume_token ds` ('-' when there is none; OpenZFS only) */
export function resumeToken(ds: string): string[] {
  return ['zfs', 'get', '-H', '-p', '-o', 'value', 'receive_resume_token', word('dataset', ds)];
}

/**
 * `zfs snapshot [-r] name...`. Several names make one atomic snapshot on
 * OpenZFS; zfs-fuse accepts exactly one (capabilities.snapshotMany).
 */
export function snapshot(names: readonly string[], opts: { recursive?: boolean } = {}): string[] {
  return ['zfs', 'snapshot', ...(opts.recursive ? ['-r'] : []), ...words('snapshot name', names)];
}

/**
 * `zfs destroy <fs>@<snap>`. Refuses anything without '@': a builder that
 * can only ever destroy a snapshot cannot take a file system with it.
 */
export function destroy(snap: string, opts: { recursive?: boolean } = {}): string[] {
  word('snapshot name', snap);
  const at = snap.indexOf('@');
  if (at <= 0 || at === snap.length - 1) {
    throw new TypeError(`zfs argv: destroy is for snapshots only, got ${JSON.stringify(snap)}`);
  }
  return ['zfs', 'destroy', ...(opts.recursive ? ['-r'] : []), snap];
}

/** `zfs destroy <fs>#<bookmark>`: refuses anything that is not a bookmark */
export function destroyBookmark(name: string): string[] {
  word('bookmark name', name);
  const at = name.indexOf('#');
  if (at <= 0 || at === name.length - 1 || name.includes('@')) throw new TypeError(`zfs argv: destroyBookmark is for bookmarks only, got ${JSON.stringify(name)}`);
  return ['zfs', 'destroy', name];
}

/** `zfs set k=v ds`: one property per command, the form every zfs accepts */
export function setProp(ds: string, name: string, value: string): string[] {
  return ['zfs', 'set', assignment(name, value), word('dataset', ds)];
}

/**
 * One `zfs set` argv per property, in the object's order (zfs-fuse's
 * `zfs set` takes a single property=value).
 */
export function setProps(ds: string, props: Readonly<Record<string, string>>): string[][] {
  const entries = Object.entries(props);
  if (entries.length === 0) throw new TypeError('zfs argv: no property given');
  return entries.map(([k, v]) => setProp(ds, k, v));
}

/** `zfs set k1=v1 k2=v2 ds`: OpenZFS only (capabilities.setMany) */
export function setPropsAtOnce(ds: string, props: Readonly<Record<string, string>>): string[] {
  const entries = Object.entries(props);
  if (entries.length === 0) throw new TypeError('zfs argv: no property given');
  return ['zfs', 'set', ...entries.map(([k, v]) => assignment(k, v)), word('dataset', ds)];
}

/** `zfs inherit [-S] prop ds` (-S: revert to the received value; OpenZFS) */
export function inheritProp(prop: string, ds: string, opts: { received?: boolean } = {}): string[] {
  return ['zfs', 'inherit', ...(opts.received ? ['-S'] : []), propName(prop), word('dataset', ds)];
}

export interface SendOptions {
  /** the snapshot to send (not with resumeToken) */
  snapshot?: string;
  /** incremental base: a snapshot (full or '@short') or, with -i, a bookmark */
  from?: string;
  /** 'i': one step from `from`; 'I': every snapshot in between. Default 'i'. */
  incremental?: 'i' | 'I';
  /** -R: the file system, its descendants and their snapshots */
  replicate?: boolean;
  /** -p: include properties */
  props?: boolean;
  /** -c: keep on-disk compression (OpenZFS) */
  compressed?: boolean;
  /** -L: allow blocks over 128k (OpenZFS) */
  largeBlocks?: boolean;
  /** -e: WRITE_EMBEDDED records (OpenZFS) */
  embedded?: boolean;
  /** -w: raw, encrypted as on disk (OpenZFS) */
  raw?: boolean;
  /** -t: resume an interrupted receive (OpenZFS); the token carries the rest */
  resumeToken?: string;
  /** -n -v -P: estimate only, parsable; nothing is sent (OpenZFS) */
  dryRun?: boolean;
}

/** `zfs send ...` */
export function send(o: SendOptions): string[] {
  const a = ['zfs', 'send'];
  if (o.dryRun) a.push('-n', '-v', '-P');
  if (o.resumeToken !== undefined) {
    // zfs rejects -i/-I, -R and -p with -t: the token already says what to send
    if (o.snapshot !== undefined || o.from !== undefined || o.replicate || o.props) {
      throw new TypeError('zfs argv: send -t takes no snapshot, from, replicate or props');
    }
    // -c/-L/-e/-w are recorded in the token too; repeating them is harmless
    if (o.compressed) a.push('-c');
    if (o.largeBlocks) a.push('-L');
    if (o.embedded) a.push('-e');
    if (o.raw) a.push('-w');
    a.push('-t', word('resume token', o.resumeToken));
    return a;
  }
  if (o.snapshot === undefined) throw new TypeError('zfs argv: send needs a snapshot or a resume token');
  if (o.replicate) a.push('-R');
  if (o.props) a.push('-p');
  if (o.compressed) a.push('-c');
  if (o.largeBlocks) a.push('-L');
  if (o.embedded) a.push('-e');
  if (o.raw) a.push('-w');
  if (o.from !== undefined) a.push(`-${o.incremental ?? 'i'}`, word('incremental source', o.from));
  a.push(word('snapshot', o.snapshot));
  return a;
}

export interface RecvOptions {
  target: string;
  /** -F: roll back / destroy on the target to make the stream fit */
  force?: boolean;
  /** -u: do not mount (accepted by zfs-fuse too, though its usage hides it) */
  noMount?: boolean;
  /** -s: keep partial state so an interrupted receive can resume (OpenZFS) */
  resumable?: boolean;
  /** -o k=v: set properties on the received file system (OpenZFS) */
  options?: Readonly<Record<string, string>>;
  /** -x prop: do not take prop from the stream (OpenZFS) */
  exclude?: readonly string[];
  /** -o origin=<snapshot>: receive an incremental as a clone of it (OpenZFS) */
  origin?: string;
  /** -v: print what is received (to stderr on OpenZFS) */
  verbose?: boolean;
}

/** `zfs receive ...` (reads the stream from stdin) */
export function recv(o: RecvOptions): string[] {
  const a = ['zfs', 'receive'];
  if (o.verbose) a.push('-v');
  if (o.force) a.push('-F');
  if (o.noMount) a.push('-u');
  if (o.resumable) a.push('-s');
  for (const [k, v] of Object.entries(o.options ?? {})) a.push('-o', assignment(k, v));
  for (const p of o.exclude ?? []) a.push('-x', propName(p));
  if (o.origin !== undefined) a.push('-o', `origin=${word('origin', o.origin)}`);
  a.push(word('target', o.target));
  return a;
}

/** the marker reportingPid() prints on stderr */
export const PID_MARK = '@@zettabee-pid:';

/**
 * A command that first reports its own pid on stderr (PID_MARK), then
 * becomes the command (exec keeps the pid): for a zfs send whose temporary
 * holds are tagged with its pid (zfs-fuse, state/sends.ts). A fixed sh
 * script; the command's words are its arguments.
 */
export function reportingPid(argv: readonly string[]): string[] {
  if (argv.length === 0) throw new TypeError('zfs argv: reportingPid of an empty command');
  return ['sh', '-c', `printf '${PID_MARK}%s\\n' "$$" >&2; exec "$@"`, 'zettabee-send', ...argv];
}

/** `zfs receive -A ds`: drop the partial state of an interrupted `receive -s` */
export function recvAbort(ds: string): string[] {
  return ['zfs', 'receive', '-A', word('dataset', ds)];
}

/** `zfs hold [-r] tag snap...` */
export function hold(tag: string, snaps: readonly string[], opts: { recursive?: boolean } = {}): string[] {
  return ['zfs', 'hold', ...(opts.recursive ? ['-r'] : []), word('hold tag', tag), ...words('snapshot', snaps)];
}

/** `zfs release [-r] tag snap...` */
export function release(tag: string, snaps: readonly string[], opts: { recursive?: boolean } = {}): string[] {
  return ['zfs', 'release', ...(opts.recursive ? ['-r'] : []), word('hold tag', tag), ...words('snapshot', snaps)];
}

/** `zfs holds -H [-r] snap...` (fails on zfs-fuse: its python helper is missing) */
export function holds(snaps: readonly string[], opts: { recursive?: boolean } = {}): string[] {
  return ['zfs', 'holds', '-H', ...(opts.recursive ? ['-r'] : []), ...words('snapshot', snaps)];
}

/** `zfs bookmark fs@snap fs#bookmark` (OpenZFS) */
export function bookmark(snap: string, bookmarkName: string): string[] {
  return ['zfs', 'bookmark', word('snapshot', snap), word('bookmark', bookmarkName)];
}

/** `zfs rollback [-r] snap` (-r destroys the snapshots newer than snap) */
export function rollback(snap: string, opts: { destroyNewer?: boolean } = {}): string[] {
  return ['zfs', 'rollback', ...(opts.destroyNewer ? ['-r'] : []), word('snapshot', snap)];
}

/**
 * What changed in a file system since a snapshot, at most `max` lines of
 * `zfs diff -H <snap> <fs>` (a fixed sh script: head ends a long diff early)
 */
export function diffSince(snap: string, fs: string, max: number): string[] {
  if (!Number.isInteger(max) || max < 1) throw new TypeError(`zfs argv: diff line limit ${max}`);
  return ['sh', '-c', 'zfs diff -H "$1" "$2" | head -n "$3"', 'zettabee-diff', word('snapshot', snap), word('file system', fs), String(max)];
}

/**
 * Mount the file systems of a received tree that are not mounted, may be
 * (canmount=on) and whose mountpoint lies below `root` (the destination
 * parent's own mountpoint), parents first; a mountpoint received from the
 * source that points elsewhere (/home, /var) is left alone, so a backup never
 * lands on this host's own paths. Always exits 0: a dataset that cannot be
 * mounted (its key is not loaded) stays unmounted.
 */
export function mountBelow(ds: string, root: string): string[] {
  if (!root.startsWith('/') || root === '/') throw new TypeError(`zfs argv: mount root ${JSON.stringify(root)}`);
  const script =
    'zfs list -H -o name,mountpoint,mounted,canmount -r -t filesystem "$1" | ' +
    'while IFS="$(printf "\t")" read -r n m d c; do case "$m" in "$2"/*) [ "$d" = no ] && [ "$c" = on ] && zfs mount "$n" 2>/dev/null;; esac; done; exit 0';
  return ['sh', '-c', script, 'zettabee-mount', word('dataset', ds), root.replace(/\/+$/, '')];
}

/**
 * Mount a file system (with `recursive`, the file systems below it too,
 * parents first) where its own mountpoint says, unless it is mounted
 * already or may not be (canmount); prints the name of each one that could
 * not be mounted, and always exits 0.
 */
export function mountHere(ds: string, recursive: boolean): string[] {
  const script =
    'zfs list -H -o name,mountpoint,mounted,canmount $2 -t filesystem "$1" | ' +
    'while IFS="$(printf "\t")" read -r n m d c; do case "$m" in /*) [ "$d" = no ] && [ "$c" = on ] && { zfs mount "$n" 2>/dev/null || printf "%s\n" "$n"; };; esac; done; exit 0';
  return ['sh', '-c', script, 'zettabee-mount', word('dataset', ds), recursive ? '-r' : '-d0'];
}

/**
 * Make a file system writable: readonly inherited (a local readonly=off
 * would travel with a replication stream, -R or -p, to the other side and
 * make that one writable too; zfs-fuse stores what it receives as the
 * dataset's own value), and set off only where the parent is read-only.
 * With `recursive`, the file systems below it are remounted where their
 * mount did not follow (see readonlyTree).
 */
export function makeWritable(ds: string, recursive = false): string[] {
  return readonlyTree(ds, 'zfs inherit readonly "$1" && { [ "$(zfs get -H -o value readonly "$1")" != on ] || zfs set readonly=off "$1"; }', 'on', 'off', recursive);
}

/** Make a file system read-only (readonly=on), with `recursive` the file systems below it too (see readonlyTree) */
export function makeReadonly(ds: string, recursive = false): string[] {
  return readonlyTree(ds, 'zfs set readonly=on "$1"', 'off', 'on', recursive);
}

/**
 * `top` on the dataset, then, with `recursive`, each file system below it
 * still mounted the old way: OpenZFS does not remount a child when its
 * parent's readonly changes (the child shows "<was> temporary"), so a set
 * and an inherit remount it; it keeps inheriting.
 */
function readonlyTree(ds: string, top: string, was: 'on' | 'off', now: 'on' | 'off', recursive: boolean): string[] {
  const script =
    `${top} || exit; [ "$2" = -r ] || exit 0; ` +
    'zfs list -H -o name -r -t filesystem "$1" | tail -n +2 | while read -r n; do ' +
    `[ "$(zfs get -H -o value,source readonly "$n")" = "$(printf "${was}\\ttemporary")" ] && { zfs set readonly=${now} "$n" && zfs inherit readonly "$n" || exit; }; done; exit 0`;
  return ['sh', '-c', script, now === 'on' ? 'zettabee-readonly' : 'zettabee-writable', word('dataset', ds), recursive ? '-r' : '-'];
}

/** `zfs rename from to` */
export function rename(from: string, to: string): string[] {
  return ['zfs', 'rename', word('dataset', from), word('dataset', to)];
}

/** `zfs clone snap fs` */
export function clone(snap: string, fs: string): string[] {
  if (!snap.includes('@')) throw new TypeError(`zfs argv: clone needs a snapshot, got ${JSON.stringify(snap)}`);
  return ['zfs', 'clone', word('snapshot', snap), word('file system', fs)];
}

/** `zfs promote fs` */
export function promote(fs: string): string[] {
  return ['zfs', 'promote', word('file system', fs)];
}

/** `zfs unmount fs` */
export function unmount(fs: string): string[] {
  return ['zfs', 'unmount', word('file system', fs)];
}

/** `zfs list -H -o name ds`: exit 0 and the name when it exists */
export function exists(ds: string): string[] {
  return ['zfs', 'list', '-H', '-o', 'name', word('dataset', ds)];
}

/** `zfs list -H -p -o name -d 0 pool`: a harmless test of `list -p` */
export function listParsableProbe(pool: string): string[] {
  return ['zfs', 'list', '-H', '-p', '-o', 'name', '-d', '0', word('pool', pool)];
}

/** `zpool get all pool`: the portable form (zfs-fuse's zpool get has no -H/-o) */
export function poolProps(pool: string): string[] {
  return ['zpool', 'get', 'all', word('pool', pool)];
}

/** `zpool get -H -o value version pool` ('-' on feature-flag pools; not zfs-fuse) */
export function poolVersion(pool: string): string[] {
  return ['zpool', 'get', '-H', '-o', 'value', 'version', word('pool', pool)];
}

/** `zpool get -H -o property,value all pool`; parse keeps feature@* (not zfs-fuse) */
export function poolFeatures(pool: string): string[] {
  return ['zpool', 'get', '-H', '-o', 'property,value', 'all', word('pool', pool)];
}

/**
 * Wait, at most `seconds`, until no `zfs receive` into ds runs on the host
 * (matched on its last argument); exit 1 when one still does. Without ps
 * it does not wait.
 */
export function waitNoReceive(ds: string, seconds: number): string[] {
  const script =
    'n=0; while ps -eo args 2>/dev/null | awk -v ds="$1" \'$1 ~ /(^|\\/)zfs$/ && ($2 == "receive" || $2 == "recv") && $NF == ds { f = 1 } END { exit !f }\'; do n=$((n + 1)); [ "$n" -ge "$2" ] && exit 1; sleep 0.2; done';
  return ['sh', '-c', script, 'zettabee-settle', word('dataset', ds), String(Math.max(1, Math.round(seconds * 5)))];
}

/** print a snapshot's guid (the comparison is the caller's) */
export function readGuid(snap: string): string[] {
  return ['zfs', 'get', '-H', '-p', '-o', 'value', 'guid', word('snapshot', snap)];
}

/**
 * The guard of a finish batch: prints the snapshot's guid and exits 0 only
 * when it is `guid` (a zfs failure keeps zfs's status and message), so
 * nothing after it runs for a snapshot that is not the one sent. A fixed
 * sh script: the snapshot and the guid are its arguments.
 */
export function verifyGuid(snap: string, guid: string): string[] {
  if (!/^\d+$/.test(guid)) throw new Error(`verifyGuid: ${JSON.stringify(guid)} is not a guid`);
  return ['sh', '-c', 'g=$(zfs get -H -p -o value guid "$1") || exit; printf "%s\\n" "$g"; [ "$g" = "$2" ]', 'zettabee-verify', word('snapshot', snap), guid];
}

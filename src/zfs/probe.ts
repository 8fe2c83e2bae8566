// What a host's zfs can do, found with as few commands as possible: one
// round of two commands (usage text, pool properties) and then, in parallel,
// only the harmless real probes the usage text cannot settle. Over ssh a
// round costs a session per command, so there all of them run at once as
// one batch in one session, the real probes unconditionally (they are
// harmless; their answers count only where the usage text asked for them). Nothing here
// changes data: the probes target a snapshot/file system name that does not
// exist, and receive reads an empty stdin. Without the pool those probes are
// skipped and what they would have told reads as 'no'.
//
// What usage text cannot tell, as measured on zfs-fuse 0.7:
// - `hold` is listed and works; `holds` is listed but fails (pyzfs.py missing)
// - `receive -u` works although the usage does not list it
import { randomBytes } from 'node:crypto';
import { ActionError } from '../errors.js';
import { CommandError, type Host, type RunResult } from '../exec/host.js';
import * as zargv from './argv.js';
import { classifyZfsError, type ClassifiedZfsError } from './classify.js';
import { FEATURE_FLAGS_VERSION, parsePoolProps, parseZfsUsage, usageHasFlag, type ZfsUsage } from './parse.js';

export interface Capabilities {
  /** zfs answered at all (false: not installed / not on PATH) */
  zfsPresent: boolean;
  /** the pool given to the probe is imported on the host */
  poolExists: boolean;
  /** `zfs hold` / `zfs release` work */
  holds: boolean;
  /** `zfs holds` works (zfs-fuse: no; read userrefs instead) */
  holdsList: boolean;
  /** `zfs bookmark` exists and the pool has feature@bookmarks */
  bookmarks: boolean;
  /** `zfs receive -s` / `-A` and a pool that can keep the partial state */
  recvResumable: boolean;
  /** `zfs receive -u` */
  recvNoMount: boolean;
  /** `zfs receive -o property=value` */
  recvOptions: boolean;
  /** `zfs receive -x property` */
  recvExclude: boolean;
  /** `zfs list -p` */
  listParsable: boolean;
  /** `zfs send -c` */
  sendCompressed: boolean;
  /** `zfs send -L` */
  sendLargeBlocks: boolean;
  /** `zfs send -e` */
  sendEmbedded: boolean;
  /** `zfs send -w` */
  sendRaw: boolean;
  /** `zfs send -t <token>` */
  sendResume: boolean;
  /** `zfs send -n -v -P` size estimates */
  sendDryRunParsable: boolean;
  /** `zfs snapshot a@x b@x` in one (atomic) command */
  snapshotMany: boolean;
  /** `zfs set a=1 b=2 ds` in one command */
  setMany: boolean;
  /** `zfs diff` (what changed since a snapshot; OpenZFS, not zfs-fuse) */
  diff: boolean;
  /** legacy pool version, 5000 for feature-flag pools, null if unknown */
  poolVersion: number | null;
  /** the pool's features that are enabled or active */
  featureFlags: string[];
  /** why a probe came out the way it did, when that was unexpected */
  notes: string[];
}

export interface ProbeOptions {
  /**
   * the name used for the harmless probes (a snapshot `<pool>@<name>` and a
   * file system `<pool>/<name>` that must not exist); random by default
   */
  probeName?: string;
  timeoutMs?: number;
}

/** what a host without zfs can do */
export function noZfsCapabilities(notes: string[] = []): Capabilities {
  return {
    zfsPresent: false,
    poolExists: false,
    holds: false,
    holdsList: false,
    bookmarks: false,
    recvResumable: false,
    recvNoMount: false,
    recvOptions: false,
    recvExclude: false,
    listParsable: false,
    sendCompressed: false,
    sendLargeBlocks: false,
    sendEmbedded: false,
    sendRaw: false,
    sendResume: false,
    sendDryRunParsable: false,
    snapshotMany: false,
    setMany: false,
    diff: false,
    poolVersion: null,
    featureFlags: [],
    notes,
  };
}

/** exec, but a binary that could not start reads as exit 127 like a shell's */
async function execOrMissing(host: Host, argv: string[], timeoutMs?: number): Promise<RunResult> {
  try {
    return await host.exec(argv, timeoutMs === undefined ? {} : { timeoutMs });
  } catch (e) {
    if (e instanceof CommandError && e.exitCode === undefined && /ENOENT/.test(e.reason)) {
      return { stdout: '', stderr: `${e.reason}\n`, exitCode: 127 };
    }
    throw e;
  }
}

function classify(r: RunResult): ClassifiedZfsError {
  return classifyZfsError(r.stderr, r.exitCode, r.stdout);
}

/** the harmless real probes, by name; which of them count depends on the usage text */
function probeArgvs(pool: string, name: string): Record<'hold' | 'holds' | 'recvU' | 'listP', string[]> {
  return {
    hold: zargv.hold('zettabee-probe', [`${pool}@${name}`]),
    holds: zargv.holds([`${pool}@${name}`]),
    recvU: zargv.recv({ target: `${pool}/${name}`, noMount: true }),
    listP: zargv.listParsableProbe(pool),
  };
}

/** whether the usage text leaves a probe to ask (they all need the pool: without it "does not exist" says nothing) */
function probeWanted(key: string, has: (cmd: string) => boolean, flag: (cmd: string, f: string) => boolean): boolean {
  switch (key) {
    case 'hold':
      return has('hold');
    case 'holds':
      return has('holds');
    case 'recvU':
      return has('receive') && !flag('receive', 'u');
    default:
      return !flag('list', 'p');
  }
}

interface Answers {
  usage: RunResult;
  pool: RunResult;
  /** the real probes that ran; with the usage at hand, only the wanted ones count */
  probes: Partial<Record<string, RunResult>>;
  /** a batch folds stderr into stdout: the usage text is in each */
  folded: boolean;
}

/** one session for everything: usage, pool and every real probe */
async function askAtOnce(host: Host, pool: string, name: string): Promise<Answers> {
  const probes = Object.entries(probeArgvs(pool, name));
  let results: RunResult[];
  try {
    results = await host.batch([zargv.usage(), zargv.poolProps(pool), ...probes.map(([, a]) => a)]);
  } catch (e) {
    // the session failed as a whole (ssh): report it as the usage's failure, as one command at a time would
    if (!(e instanceof CommandError)) throw e;
    const failed = { stdout: '', stderr: e.stderr, exitCode: e.exitCode ?? 255 };
    return { usage: failed, pool: failed, probes: {}, folded: false };
  }
  const [usage, poolProps, ...rest] = results;
  return { usage: usage!, pool: poolProps!, probes: Object.fromEntries(probes.map(([k], i) => [k, rest[i]])), folded: true };
}

function commandLine(u: ZfsUsage, command: string): string {
  return u.commands.get(command)?.lines.join('\n') ?? '';
}

export async function probeCapabilities(host: Host, pool: string, opts: ProbeOptions = {}): Promise<Capabilities> {
  const name = opts.probeName ?? `zettabee-probe-${randomBytes(6).toString('hex')}`;
  const run = (argv: string[]) => execOrMissing(host, argv, opts.timeoutMs);
  const notes: string[] = [];

  const once = host.local ? undefined : await askAtOnce(host, pool, name);
  const [u, p] = once ? [once.usage, once.pool] : await Promise.all([run(zargv.usage()), run(zargv.poolProps(pool))]);

  let usage: ZfsUsage;
  try {
    usage = parseZfsUsage(once?.folded ? u.stdout : `${u.stdout}\n${u.stderr}`);
  } catch {
    const c = classify(u);
    if (c.kind === 'commandNotFound') return noZfsCapabilities([`${host.name}: ${c.message}`]);
    throw new ActionError(`${host.name}: cannot tell what zfs can do: \`zfs -?\` failed: ${c.message}`, c.hint, c.detail ? [c.detail] : []);
  }

  // the pool: version, features, existence
  let poolExists = false;
  let poolVersion: number | null = null;
  let features = new Map<string, string>();
  if (p.exitCode === 0) {
    const pp = parsePoolProps(p.stdout);
    poolExists = true;
    poolVersion = pp.version;
    features = pp.features;
  } else {
    const c = classify(p);
    notes.push(c.kind === 'poolMissing' ? `pool ${pool} not found` : `pool ${pool}: ${c.message}`);
  }
  const featureFlags = [...features].filter(([, v]) => v === 'enabled' || v === 'active').map(([k]) => k);
  const legacyPool = poolVersion !== null && poolVersion < FEATURE_FLAGS_VERSION;
  /** true if the pool allows the feature, or the pool is unknown */
  const poolAllows = (feature: string) => !poolExists || (!legacyPool && featureFlags.includes(feature));

  const has = (cmd: string) => usage.commands.has(cmd);
  const flag = (cmd: string, f: string) => usageHasFlag(usage, cmd, f);

  // the real probes the usage text cannot settle, all at once (or already
  // answered in the one batch); they need the pool
  const wanted = poolExists ? Object.entries(probeArgvs(pool, name)).filter(([k]) => probeWanted(k, has, flag)) : [];
  const results = await Promise.all(wanted.map(([k, a]) => (once ? once.probes[k] : run(a))));
  const got = Object.fromEntries(wanted.map(([k], i) => [k, results[i]])) as Record<string, RunResult | undefined>;

  // hold on a snapshot that does not exist: "does not exist" means it works
  let holds = false;
  if (got.hold) {
    if (got.hold.exitCode === 0) {
      // the snapshot existed after all: undo our hold at once
      await run(zargv.release('zettabee-probe', [`${pool}@${name}`]));
      holds = true;
    } else {
      const c = classify(got.hold);
      holds = c.kind === 'datasetMissing' || c.kind === 'poolMissing';
      if (!holds && c.kind !== 'holdsUnsupported' && c.kind !== 'unsupportedOption') notes.push(`zfs hold: ${c.message}`);
    }
    if (holds && legacyPool && poolVersion! < 18) {
      holds = false;
      notes.push(`pool ${pool}: version ${poolVersion} has no user holds (needs 18)`);
    }
  }

  let holdsList = false;
  if (got.holds) {
    if (got.holds.exitCode === 0) holdsList = true;
    else {
      const c = classify(got.holds);
      holdsList = c.kind === 'datasetMissing' || c.kind === 'poolMissing';
      if (!holdsList && c.kind !== 'holdsUnsupported' && c.kind !== 'unsupportedOption') notes.push(`zfs holds: ${c.message}`);
    }
  }

  // receive -u with an empty stream: getopt answers before any data is read
  let recvNoMount = flag('receive', 'u');
  if (got.recvU) {
    const c = got.recvU.exitCode === 0 ? null : classify(got.recvU);
    recvNoMount = c === null || c.kind === 'streamFailed';
    if (c && c.kind !== 'streamFailed' && c.kind !== 'unsupportedOption') notes.push(`zfs receive -u: ${c.message}`);
  }

  let listParsable = flag('list', 'p');
  if (got.listP) {
    const c = got.listP.exitCode === 0 ? null : classify(got.listP);
    listParsable = c === null || c.kind === 'datasetMissing' || c.kind === 'poolMissing';
    if (c && !listParsable && c.kind !== 'unsupportedOption') notes.push(`zfs list -p: ${c.message}`);
  }

  return {
    zfsPresent: true,
    poolExists,
    holds,
    holdsList,
    bookmarks: has('bookmark') && poolAllows('bookmarks'),
    recvResumable: flag('receive', 's') && flag('receive', 'A') && poolAllows('extensible_dataset'),
    recvNoMount,
    recvOptions: flag('receive', 'o'),
    recvExclude: flag('receive', 'x'),
    listParsable,
    sendCompressed: flag('send', 'c'),
    sendLargeBlocks: flag('send', 'L'),
    sendEmbedded: flag('send', 'e'),
    sendRaw: flag('send', 'w'),
    sendResume: flag('send', 't'),
    sendDryRunParsable: flag('send', 'n') && flag('send', 'P'),
    snapshotMany: /\.\.\.\s*$/.test(commandLine(usage, 'snapshot')),
    setMany: /<property=value> \.\.\./.test(commandLine(usage, 'set')),
    diff: has('diff'),
    poolVersion,
    featureFlags,
    notes,
  };
}

const yn = (b: boolean) => (b ? 'yes' : 'no');

/** short human lines, e.g. for `zettabee status -v` or a probe log line */
export function describeCapabilities(c: Capabilities): string[] {
  if (!c.zfsPresent) return ['zfs: not found', ...c.notes];
  const pool = !c.poolExists
    ? 'pool: not found'
    : c.poolVersion === FEATURE_FLAGS_VERSION
      ? `pool: feature flags, ${c.featureFlags.length} enabled`
      : `pool: version ${c.poolVersion ?? 'unknown'}`;
  const sendFlags = [
    c.sendCompressed && '-c',
    c.sendLargeBlocks && '-L',
    c.sendEmbedded && '-e',
    c.sendRaw && '-w',
    c.sendResume && '-t',
    c.sendDryRunParsable && '-nvP',
  ].filter(Boolean);
  const recvFlags = [c.recvNoMount && '-u', c.recvResumable && '-s/-A', c.recvOptions && '-o', c.recvExclude && '-x'].filter(Boolean);
  return [
    pool,
    `send options: ${sendFlags.length ? sendFlags.join(' ') : 'none beyond -R -p -i -I'}`,
    `receive options: ${recvFlags.length ? recvFlags.join(' ') : 'none beyond -F'}`,
    `resumable transfers: ${yn(c.recvResumable && c.sendResume)}`,
    `holds: ${yn(c.holds)}${c.holds && !c.holdsList ? ' (listing them: no, read userrefs)' : ''}`,
    `bookmarks: ${yn(c.bookmarks)}`,
    `exact numbers from zfs list -p: ${yn(c.listParsable)}`,
    ...c.notes,
  ];
}

/** the `describe()` helper: same as describeCapabilities */
export const describe = describeCapabilities;

/** one short line for setup: the pool version, then what the host has and lacks */
export function summarizeCapabilities(c: Capabilities): string {
  const pool =
    c.poolVersion === null ? 'pool version unknown' : c.poolVersion >= FEATURE_FLAGS_VERSION ? `feature-flag pool (${c.featureFlags.length} features)` : `pool version ${c.poolVersion}`;
  const items: Array<[string, boolean]> = [
    ['holds', c.holds],
    ['bookmarks', c.bookmarks],
    ['resumable receive', c.recvResumable],
    ['recv -u', c.recvNoMount],
    ['recv -o', c.recvOptions],
    ['recv -x', c.recvExclude],
    ['list -p', c.listParsable],
    ['send -c', c.sendCompressed],
    ['send -L', c.sendLargeBlocks],
    ['send -e', c.sendEmbedded],
    ['send -w', c.sendRaw],
  ];
  const has = items.filter(([, v]) => v).map(([n]) => n);
  const lacks = items.filter(([, v]) => !v).map(([n]) => n);
  return [pool, has.length ? `has ${has.join(', ')}` : '', lacks.length ? `lacks ${lacks.join(', ')}` : ''].filter(Boolean).join('; ');
}

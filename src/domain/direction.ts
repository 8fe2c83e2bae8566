// Which way a pair runs. The pairs file names a source and a destination;
// failover, takeover and failback reverse that without an edit of the file.
// The truth lives on the datasets: each side's ZFS user property
// zettabee:<fp>:role says what it is now, and zettabee:<fp>:switched how and
// when it became that ("takeover 2026-12-01T14:00:00Z backup1"). The status
// record keeps a copy (for status and check, which never ask zfs). Pure.
import type { Endpoint, Pair } from '../config/pairs.js';

export type Role = 'source' | 'destination';
export type SwitchHow = 'failover' | 'takeover' | 'failback';

export interface Switched {
  how: SwitchHow;
  /** ISO 8601, UTC */
  at: string;
  /** the host zettabee ran on */
  host: string;
}

/** what one dataset says about itself: its role and how it got it (both absent on a pair never switched) */
export interface SideMark {
  role?: Role;
  switched?: Switched;
}

/** the direction as the status record keeps it */
export interface DirectionRecord {
  /** true: the pairs file's destination is the source now */
  reversed: boolean;
  /** when the direction last changed, ISO 8601 */
  since: string;
  how: SwitchHow;
  host: string;
  /** a takeover: the side that could not be reached (and may still be writable), host:dataset */
  unreached?: string;
  /** a failback: the dataset that keeps what the rejoining side wrote (a clone of its common snapshot, which stays while it exists) */
  kept?: string;
}

export function roleProps(fp: string): { role: string; switched: string } {
  return { role: `zettabee:${fp}:role`, switched: `zettabee:${fp}:switched` };
}

export function formatSwitched(s: Switched): string {
  return `${s.how} ${s.at} ${s.host}`;
}

export function parseSwitched(text: string | undefined): Switched | undefined {
  const m = /^(failover|takeover|failback) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+)$/.exec(text ?? '');
  return m ? { how: m[1] as SwitchHow, at: m[2]!, host: m[3]! } : undefined;
}

/**
 * The role's value names the dataset it was set on ("source tank/a"): a
 * replication stream (-R, props=yes) carries the sending side's properties
 * along, and zfs-fuse stores what it receives as the dataset's own value.
 */
export function formatRole(role: Role, dataset: string): string {
  return `${role} ${dataset}`;
}

/**
 * A dataset's role from its zettabee:<fp>:role: as it says when it names
 * this dataset (or names none: set by hand); a source's mark that names
 * another dataset arrived with a stream from that source, so this one is
 * its destination; anything else is no mark.
 */
export function parseRole(text: string | undefined, dataset: string): Role | undefined {
  const m = /^(source|destination)(?: (\S+))?$/.exec(text ?? '');
  if (!m) return undefined;
  if (m[2] === undefined || m[2] === dataset) return m[1] as Role;
  return m[1] === 'source' ? 'destination' : undefined;
}

/**
 * What the two marks say, the pairs file's source first:
 * - forward: as the pairs file says (no marks: a pair never switched)
 * - reversed: the pairs file's destination is the source
 * - splitBrain: both claim to be the source (a takeover, and the old source came back); `tookOver` says which side took over
 * - noSource: both are destinations (a failover that stopped half-way and could not put things back)
 */
export type Orientation =
  | { kind: 'forward' }
  | { kind: 'reversed' }
  | { kind: 'splitBrain'; tookOver: 'source' | 'destination' | 'unknown' }
  | { kind: 'noSource' };

export function orientation(configuredSource: SideMark, configuredDestination: SideMark): Orientation {
  const a = configuredSource.role ?? 'source';
  const b = configuredDestination.role ?? (configuredSource.role === 'destination' ? undefined : 'destination');
  if (a === 'source' && b === 'destination') return { kind: 'forward' };
  if (a === 'destination' && b === 'source') return { kind: 'reversed' };
  if (a === 'source' && b === 'source') {
    const ta = configuredSource.switched?.how === 'takeover' ? configuredSource.switched.at : undefined;
    const tb = configuredDestination.switched?.how === 'takeover' ? configuredDestination.switched.at : undefined;
    const tookOver = ta && tb ? (ta > tb ? 'source' : 'destination') : ta ? 'source' : tb ? 'destination' : 'unknown';
    return { kind: 'splitBrain', tookOver };
  }
  return { kind: 'noSource' };
}

/**
 * The pair as it runs when reversed: source and destination swapped, with
 * everything that names a pair (fingerprint, label, file and line) kept, so
 * the lock, log, status file, snapshots and the Nagios service stay the
 * same. mbuffer's addresses swap too: `accept` named the sending host as the
 * receiver sees it, `connect` the receiving host as the sender reaches it.
 */
export function reversePair(pair: Pair): Pair {
  const o = { ...pair.options };
  delete o.accept;
  delete o.connect;
  if (pair.options.accept !== undefined) o.connect = pair.options.accept;
  if (pair.options.connect !== undefined) o.accept = pair.options.connect;
  return { ...pair, source: pair.destination, destination: pair.source, options: o };
}

/** the pair as it runs now */
export function orientedPair(pair: Pair, reversed: boolean): Pair {
  return reversed ? reversePair(pair) : pair;
}

export function endpointName(e: Endpoint): string {
  return `${e.host}:${e.dataset}`;
}

// What an update must do, decided from plain data: both sides' snapshot
// lists in, a plan or a typed conflict out. No I/O here, so every rule has a
// table test.
//
// Rules (zrepl's and bzfs's, plus the original Zettabee's bookkeeping):
// - the incremental base is the newest snapshot both sides hold, matched by
//   guid (names can be reused; guids cannot), ordered by the source's createtxg
// - a destination with snapshots newer than the base has diverged: refuse,
//   list both sides, destroy nothing
// - pair snapshots on the source newer than the base never reached the
//   destination (a run was killed): they are ours, so they go before a new
//   snapshot is taken, instead of piling up
// - retention never touches another pair's or a user's snapshot on the
//   source, and never the newest common snapshot
import { isPairSnapshot, parseSnapshotName } from './snapshot-name.js';

export interface SnapshotInfo {
  /** short name, after '@' */
  snapshot: string;
  /** decimal, exact */
  guid: string;
  createtxg: bigint;
  /** epoch seconds */
  creation: number;
}

export type ConflictKind = 'noCommon' | 'diverged';

export interface Conflict {
  kind: ConflictKind;
  message: string;
  hint: string;
  /** both sides' newest snapshots, one per line */
  details: string[];
}

export interface IncrementalPlan<S extends SnapshotInfo = SnapshotInfo> {
  kind: 'incremental';
  /** the newest common snapshot, as the source lists it */
  base: S;
  /** the same snapshot as the destination lists it */
  baseOnDestination: S;
  /** pair snapshots on the source newer than the base: left by interrupted runs */
  orphans: S[];
  /**
   * the base is a bookmark of the source (`base.snapshot` is its name after
   * '#'): its snapshot is gone there, so the stream goes `send -i ds#name`
   */
  fromBookmark?: boolean;
}

export type UpdateDecision<S extends SnapshotInfo = SnapshotInfo> = IncrementalPlan<S> | { kind: 'conflict'; conflict: Conflict };

const SHOWN = 3;

function newest<S extends SnapshotInfo>(list: readonly S[], n = SHOWN): string {
  if (list.length === 0) return 'none';
  return list
    .slice(-n)
    .reverse()
    .map((s) => `@${s.snapshot} (guid ${s.guid})`)
    .join(', ');
}

function sideLines<S extends SnapshotInfo>(fp: string, source: readonly S[], destination: readonly S[]): string[] {
  const pairOnly = (l: readonly S[]) => l.filter((s) => isPairSnapshot(s.snapshot, fp));
  return [
    `source's newest pair snapshots: ${newest(pairOnly(source))}`,
    `destination's newest pair snapshots: ${newest(pairOnly(destination))}`,
    `destination's newest snapshots of any name: ${newest(destination)}`,
  ];
}

/**
 * Plan an incremental update. Both lists are ordered oldest first (by
 * createtxg, as parseSnapshotList returns them).
 */
export function planUpdate<S extends SnapshotInfo>(fp: string, source: readonly S[], destination: readonly S[], bookmarks: readonly S[] = []): UpdateDecision<S> {
  const onDestination = new Map(destination.map((s) => [s.guid, s] as const));
  let baseIndex = -1;
  for (let i = source.length - 1; i >= 0; i--) {
    if (onDestination.has(source[i]!.guid)) {
      baseIndex = i;
      break;
    }
  }
  // a bookmark (zrepl's cursor) still names a snapshot the destination holds
  // after that snapshot was destroyed on the source: newer than any common
  // snapshot, it is the base
  let mark: S | undefined;
  for (const b of bookmarks) if (onDestination.has(b.guid) && (!mark || b.createtxg > mark.createtxg)) mark = b;
  if (mark && (baseIndex < 0 || mark.createtxg > source[baseIndex]!.createtxg)) {
    const baseOnDestination = onDestination.get(mark.guid)!;
    const newer = destination.filter((s) => s.createtxg > baseOnDestination.createtxg);
    if (newer.length === 0) {
      const orphans = source.filter((s) => s.createtxg > mark!.createtxg && isPairSnapshot(s.snapshot, fp));
      return { kind: 'incremental', base: mark, baseOnDestination, orphans, fromBookmark: true };
    }
  }
  if (baseIndex < 0) {
    return {
      kind: 'conflict',
      conflict: {
        kind: 'noCommon',
        message: destination.length === 0 ? 'the destination has no snapshots, so there is no common snapshot to send from' : 'source and destination have no snapshot in common (compared by guid)',
        hint: 'nothing was changed. If the destination copy is expendable, destroy it (zfs destroy -r) and run zettabee initialize; otherwise restore a common snapshot',
        details: sideLines(fp, source, destination),
      },
    };
  }
  const base = source[baseIndex]!;
  const baseOnDestination = onDestination.get(base.guid)!;
  const newer = destination.filter((s) => s.createtxg > baseOnDestination.createtxg);
  if (newer.length > 0) {
    return {
      kind: 'conflict',
      conflict: {
        kind: 'diverged',
        message: `the destination has ${newer.length} snapshot${newer.length === 1 ? '' : 's'} newer than the common snapshot @${base.snapshot} (${newer.map((s) => `@${s.snapshot}`).slice(0, SHOWN).join(', ')}${newer.length > SHOWN ? ', ...' : ''}): its history has diverged from the source`,
        hint: 'nothing was changed. Look at those snapshots on the destination; if they hold nothing you need, destroy them and run update again',
        details: sideLines(fp, source, destination),
      },
    };
  }
  const orphans = source.slice(baseIndex + 1).filter((s) => isPairSnapshot(s.snapshot, fp));
  return { kind: 'incremental', base, baseOnDestination, orphans };
}

/**
 * The destination's snapshots once a receive delivers `arrived` (a source
 * snapshot; a resumed receive's). createtxg is per pool: the source's number
 * means nothing among the destination's, so the arrival is numbered after
 * the destination's newest, which is where the receive puts it.
 */
export function withArrival<S extends SnapshotInfo>(destination: readonly S[], arrived: S): S[] {
  const txg = destination.reduce((m, s) => (s.createtxg > m ? s.createtxg : m), 0n);
  return [...destination.filter((s) => s.guid !== arrived.guid), { ...arrived, createtxg: txg + 1n }];
}

/**
 * The destination's snapshots after an incremental receive of `-I base new`:
 * what it had, plus every source snapshot after the base up to the new one.
 */
export function destinationAfterReceive<S extends SnapshotInfo>(destination: readonly S[], source: readonly S[], base: S, received: S): S[] {
  const carried = source.filter((s) => s.createtxg > base.createtxg && s.createtxg <= received.createtxg);
  const known = new Set(destination.map((s) => s.guid));
  // createtxg is per pool: number the arrivals after the destination's newest
  // so that ordering within the returned list stays meaningful
  let txg = destination.reduce((m, s) => (s.createtxg > m ? s.createtxg : m), 0n);
  return [...destination, ...carried.filter((s) => !known.has(s.guid)).map((s) => ({ ...s, createtxg: ++txg }))];
}

export interface Retention<S extends SnapshotInfo = SnapshotInfo> {
  /** pair snapshots to destroy on the source */
  source: S[];
  /** pair snapshots to destroy on the destination */
  destination: S[];
}

/**
 * After a successful transfer of `newest`: the source keeps only the newest
 * pair snapshot (the next update's base); the destination keeps the newest
 * and `keep` older pair snapshots. On the source only this pair's snapshots
 * are ever chosen; user snapshots are never chosen on either side.
 */
export function planRetention<S extends SnapshotInfo>(fp: string, source: readonly S[], destination: readonly S[], newestGuid: string, keep: number): Retention<S> {
  // Other pairs with the same source put their snapshots on the source too,
  // and `send -I` carries them here. They are of no use on this destination
  // and would pile up, so they go once they are older than the newest. Only
  // those that exist on the source (by guid): a snapshot made on this
  // destination by a pair that uses it as its own source (a cascade) stays.
  const pairSource = source.filter((s) => isPairSnapshot(s.snapshot, fp));
  const newestOnSource = pairSource.find((s) => s.guid === newestGuid);
  const sourceDrop = newestOnSource ? pairSource.filter((s) => s.guid !== newestGuid && s.createtxg < newestOnSource.createtxg) : [];

  const pairDestination = destination.filter((s) => isPairSnapshot(s.snapshot, fp));
  const newestOnDestination = pairDestination.find((s) => s.guid === newestGuid);
  let destinationDrop: S[] = [];
  if (newestOnDestination) {
    const older = pairDestination.filter((s) => s.guid !== newestGuid && s.createtxg < newestOnDestination.createtxg);
    destinationDrop = older.slice(0, Math.max(0, older.length - keep));
    const onSource = new Set(source.map((s) => s.guid));
    const carried = destination.filter((s) => {
      const n = parseSnapshotName(s.snapshot);
      return n !== null && n.fingerprint !== fp && onSource.has(s.guid) && s.createtxg < newestOnDestination.createtxg;
    });
    destinationDrop = [...destinationDrop, ...carried].sort((a, b) => (a.createtxg < b.createtxg ? -1 : a.createtxg > b.createtxg ? 1 : 0));
  }
  return { source: sourceDrop, destination: destinationDrop };
}

/** the newest pair snapshot in a list, for lag */
export function newestPairSnapshot<S extends SnapshotInfo>(fp: string, list: readonly S[]): S | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (isPairSnapshot(list[i]!.snapshot, fp)) return list[i];
  return undefined;
}

/** pair snapshots of this pair in a list, oldest first */
export function pairSnapshots<S extends SnapshotInfo>(fp: string, list: readonly S[]): S[] {
  return list.filter((s) => isPairSnapshot(s.snapshot, fp));
}

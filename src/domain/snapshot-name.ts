// Pair snapshot names: zettabee.<fp>.<YYYYmmddHHMMSS><zone>. We write UTC and
// read any zone abbreviation (the original wrote local time, e.g. PST).
// Two runs within one second must not collide: a suffix -1, -2, ... is added
// when the plain name is taken.

const PATTERN = /^zettabee\.([0-9a-f]{32})\.(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([A-Z]{1,5})(?:-(\d+))?$/;

export interface PairSnapshotName {
  fingerprint: string;
  /** epoch seconds, exact only when the zone is UTC/GMT/Z */
  stamp: number;
  zone: string;
  sequence: number;
}

/** ZFS_MAX_DATASET_NAME_LEN is 256 with the NUL: a snapshot's full name, dataset@snapshot, has at most 255 characters */
export const ZFS_MAX_NAME = 255;
/** room for the -N of a second snapshot within one second, up to -99 */
const SEQUENCE_ROOM = 3;
/** the longest short name newSnapshotName gives: zettabee.<32 hex>.<YYYYmmddHHMMSS>UTC-NN */
export const PAIR_SNAPSHOT_ROOM = 'zettabee.'.length + 32 + 1 + 14 + 'UTC'.length + SEQUENCE_ROOM;
/** the longest dataset name a pair can have: its snapshots' full names must fit ZFS's limit */
export const MAX_PAIR_DATASET = ZFS_MAX_NAME - '@'.length - PAIR_SNAPSHOT_ROOM;

/** null when the pair's snapshots of `dataset` fit ZFS's name limit, else what is wrong */
export function snapshotRoomProblem(dataset: string): string | null {
  if (dataset.length <= MAX_PAIR_DATASET) return null;
  return `the name is ${dataset.length} characters long; its pair snapshots (@zettabee.<fingerprint>.<time>UTC, ${PAIR_SNAPSHOT_ROOM + 1} more) would pass ZFS's limit of ${ZFS_MAX_NAME}, so it may have at most ${MAX_PAIR_DATASET}`;
}

export function stampOf(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}UTC`;
}

/** the short snapshot name (after '@') for a new pair snapshot */
export function newSnapshotName(fp: string, now: Date, taken: ReadonlySet<string> = new Set()): string {
  const base = `zettabee.${fp}.${stampOf(now)}`;
  if (!taken.has(base)) return base;
  for (let i = 1; ; i++) {
    const candidate = `${base}-${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

export function parseSnapshotName(short: string): PairSnapshotName | null {
  const m = PATTERN.exec(short);
  if (!m) return null;
  const [, fp, y, mo, d, h, mi, s, zone, seq] = m;
  const stamp = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  return { fingerprint: fp!, stamp, zone: zone!, sequence: seq ? Number(seq) : 0 };
}

export function isPairSnapshot(short: string, fp: string): boolean {
  return parseSnapshotName(short)?.fingerprint === fp;
}

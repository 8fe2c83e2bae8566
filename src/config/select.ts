// Picking one pair from the command line's DEST.
import { UsageError } from '../errors.js';
import { isFingerprint } from '../domain/fingerprint.js';
import { leafName } from '../domain/names.js';
import type { Pair } from './pairs.js';

function describe(p: Pair): string {
  return `${p.label} (${p.fingerprint}, line ${p.line})`;
}

/**
 * DEST may be dhost:dpool/fs as written, dpool/fs, the last path component
 * when unique, or the fingerprint (or a unique prefix of at least 8 hex digits).
 */
export function selectPair(pairs: readonly Pair[], dest: string): Pair {
  const rules: Array<(p: Pair) => boolean> = [
    (p) => `${p.destination.host}:${p.destination.dataset}` === dest || p.label === dest,
    (p) => p.destination.dataset === dest,
    (p) => p.fingerprint === dest,
    (p) => leafName(p.destination.dataset) === dest,
    (p) => dest.length >= 8 && /^[0-9a-f]+$/.test(dest) && !isFingerprint(dest) && p.fingerprint.startsWith(dest),
  ];
  for (const rule of rules) {
    const hits = pairs.filter(rule);
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) {
      throw new UsageError(
        `'${dest}' matches ${hits.length} pairs`,
        'name the pair by dhost:dpool/fs or by its fingerprint',
        hits.map(describe),
      );
    }
  }
  const candidates = pairs.map(describe);
  throw new UsageError(
    `no pair matches '${dest}'`,
    pairs.length ? 'give dhost:dpool/fs, dpool/fs, a unique last component or a fingerprint' : 'the pairs file has no pairs',
    candidates.slice(0, 20).concat(candidates.length > 20 ? [`... and ${candidates.length - 20} more`] : []),
  );
}

export function selectPairs(pairs: readonly Pair[], dest: string | undefined): Pair[] {
  return dest === undefined ? [...pairs] : [selectPair(pairs, dest)];
}

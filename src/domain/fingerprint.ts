import { createHash } from 'node:crypto';

/**
 * The pair's identity, compatible with the original Zettabee: MD5 hex of
 * "<shost>:<szfs>::<dhost>:<dzfs>", an omitted host spelled "localhost".
 */
export function fingerprint(shost: string | undefined, szfs: string, dhost: string | undefined, dzfs: string): string {
  const s = shost || 'localhost';
  const d = dhost || 'localhost';
  return createHash('md5').update(`${s}:${szfs}::${d}:${dzfs}`).digest('hex');
}

export function isFingerprint(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}

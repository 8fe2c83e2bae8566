// Dataset and host names, validated so that nothing from a config file can
// smuggle shell syntax or command-line options into a zfs or ssh argv.
import { isIPv6 } from 'node:net';

/** characters ZFS allows in a dataset name component (space excluded: the pairs file splits on it) */
const COMPONENT = /^[A-Za-z0-9_.:-]+$/;
const MAX_DATASET = 255;
const RESERVED_POOLS = new Set(['mirror', 'raidz', 'raidz1', 'raidz2', 'raidz3', 'draid', 'spare', 'log', 'cache', 'special', 'dedup']);

/** null when `name` is a valid filesystem name, else what is wrong with it */
export function datasetNameProblem(name: string): string | null {
  if (name === '') return 'the dataset name is empty';
  if (name.length > MAX_DATASET) return `the dataset name is longer than ${MAX_DATASET} characters`;
  if (name.includes('@')) return `'${name}' names a snapshot; give the file system (the part before '@')`;
  if (name.includes('#')) return `'${name}' names a bookmark; give the file system`;
  if (name.startsWith('/') || name.endsWith('/')) return `'${name}' must not start or end with '/' (write pool/fs, not a mount point)`;
  const parts = name.split('/');
  const pool = parts[0]!;
  if (!/^[A-Za-z]/.test(pool)) return `pool name '${pool}' must begin with a letter`;
  if (RESERVED_POOLS.has(pool) || /^c[0-9]/.test(pool)) return `'${pool}' is a reserved pool name`;
  if (pool.includes(':')) return `pool name '${pool}' contains ':' which is ambiguous with host:dataset`;
  for (const part of parts) {
    if (part === '') return `'${name}' has an empty component ('//')`;
    if (part === '.' || part === '..') return `'${name}' has a '${part}' component`;
    if (!COMPONENT.test(part)) {
      const bad = [...part].find((c) => !/[A-Za-z0-9_.:-]/.test(c))!;
      return `'${name}' contains ${describeChar(bad)}; ZFS names allow letters, digits and _ . : -`;
    }
  }
  return null;
}

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  return code < 32 || code === 127 ? `a control character (code ${code})` : `the character '${c}'`;
}

export function isPoolRoot(name: string): boolean {
  return !name.includes('/');
}

export function parentDataset(name: string): string | null {
  const i = name.lastIndexOf('/');
  return i < 0 ? null : name.slice(0, i);
}

export function leafName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** null when `host` is a plain host name, IPv4 address or bracketed IPv6 address */
export function hostNameProblem(host: string): string | null {
  if (host === '') return 'the host name is empty';
  if (host.includes('@')) return `'${host}' contains '@'; give the user with sshuser=`;
  if (host.startsWith('[') && host.endsWith(']')) {
    // a zone (fe80::1%eth0) is allowed; isIPv6 takes only letters and digits in it
    const address = host.slice(1, -1);
    return /^[0-9A-Za-z:.%]+$/.test(address) && isIPv6(address) ? null : `'${host}' is not an IPv6 address`;
  }
  if (IPV4.test(host)) return null;
  if (/^[\d.]+$/.test(host)) return `'${host}' is not a valid IPv4 address`;
  if (host.length > 253) return `host name '${host}' is longer than 253 characters`;
  const labels = host.replace(/\.$/, '').split('.');
  for (const l of labels) {
    if (!LABEL.test(l)) {
      return `'${host}' is not a plain host name (letters, digits and '-' in dot-separated labels; no leading '-'; an IPv6 address goes in brackets)`;
    }
  }
  return null;
}

/**
 * A leading host of `text`, written `host:` or `[IPv6]:`, and what follows
 * the ':'. Null when there is no host part (no ':', or a '/' before it); an
 * error when brackets do not close. The host is not validated here (see
 * hostNameProblem).
 */
export function splitHost(text: string): { host: string; rest: string } | { error: string } | null {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: `'[' without ']' (an IPv6 address is written in brackets: [::1]:...)` };
    if (text[close + 1] !== ':') return { error: `'${text.slice(0, close + 1)}' must be followed by ':'` };
    return { host: text.slice(0, close + 1), rest: text.slice(close + 2) };
  }
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  if (colon < 0 || (slash >= 0 && slash < colon)) return null;
  return { host: text.slice(0, colon), rest: text.slice(colon + 1) };
}

/** the address part ssh expects: brackets of an IPv6 literal removed */
export function sshAddress(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/**
 * What keeps a path from reaching ssh as written, or null. ssh expands
 * %-tokens (escaped by sshPercentEscape) and ${VAR} in identity and
 * known_hosts files, with no escape for the latter; a '"' cannot be quoted
 * in an -o option.
 */
export function sshPathProblem(path: string): string | null {
  if (/[\0-\x1f\x7f]/.test(path)) return `'${path}' contains a control character`;
  if (path.includes('${')) return `'${path}' contains '\${', which ssh would expand as an environment variable`;
  if (path.includes('"')) return `'${path}' contains '"', which ssh cannot take in a file name`;
  return null;
}

/** a path as ssh must be given it to read it literally: '%' doubled (ssh expands %h, %u, ...) */
export function sshPercentEscape(path: string): string {
  return path.replaceAll('%', '%%');
}

export function isLocalHost(host: string | undefined): boolean {
  return host === undefined || host === '' || host === 'localhost';
}

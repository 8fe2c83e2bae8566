// The pairs file: one pair per line, "[shost:]spool/fs [dhost:]dpool/fs [key=value,...]".
// Pure: text in, pairs or a list of problems (each with its line) out.
import { fingerprint } from '../domain/fingerprint.js';
import { printable } from '../domain/printable.js';
import { snapshotRoomProblem } from '../domain/snapshot-name.js';
import { datasetNameProblem, hostNameProblem, isLocalHost, isPoolRoot, splitHost } from '../domain/names.js';
import { optionConsistencyProblems, parseOption, type OptionKey, type PairOptions, type Transport } from './keys.js';
import { scanPairLine, type LineProblem, type OptionElement } from './pairs-line.js';

export interface Endpoint {
  /** host as written; 'localhost' when omitted */
  host: string;
  local: boolean;
  dataset: string;
}

export interface Pair {
  file: string;
  line: number;
  source: Endpoint;
  destination: Endpoint;
  /** [defaults] merged with the line's own keys */
  options: PairOptions;
  transport: Transport;
  fingerprint: string;
  /** how the pair is named in messages: dhost:dzfs, or dzfs for a local destination */
  label: string;
}

export interface Problem {
  file: string;
  line: number;
  /** 1-based, for a problem at one place of the line (an element of the options field) */
  column?: number;
  message: string;
}

/**
 * file:line:column: message, as compilers write it (file:line: without a
 * column, file: without a line); control characters quoted from the file
 * are escaped
 */
export function formatProblem(p: Problem): string {
  const message = printable(p.message);
  if (p.line <= 0) return `${p.file}: ${message}`;
  return `${p.file}:${p.line}:${p.column ? `${p.column}:` : ''} ${message}`;
}

function parseEndpoint(field: string, role: 'source' | 'destination'): Endpoint | { error: string } {
  let host = 'localhost';
  let dataset = field;
  const split = splitHost(field);
  if (split && 'error' in split) return { error: `${role} '${field}': ${split.error}` };
  if (split) {
    ({ host, rest: dataset } = split);
    // more ':' before the pool's '/': an IPv6 address written without brackets
    const k = dataset.split('/')[0]!.lastIndexOf(':');
    if (k >= 0) return { error: `${role} '${field}': an IPv6 address goes in brackets (${`[${host}:${dataset.slice(0, k)}]:${dataset.slice(k + 1)}`})` };
    if (host === '') return { error: `${role} '${field}' has an empty host before ':'` };
    const hp = hostNameProblem(host);
    if (hp) return { error: `${role} host: ${hp}` };
  }
  const dp = datasetNameProblem(dataset) ?? snapshotRoomProblem(dataset);
  if (dp) return { error: `${role}: ${dp}` };
  return { host, local: isLocalHost(host), dataset };
}

function parseOptionsField(elements: readonly OptionElement[]): { options: PairOptions; keys: Set<OptionKey> } | { errors: LineProblem[] } {
  const options: PairOptions = {};
  const keys = new Set<OptionKey>();
  const errors: LineProblem[] = [];
  for (const { key, value, column } of elements) {
    const r = parseOption(key, value);
    if ('error' in r) {
      errors.push({ column, message: r.error });
      continue;
    }
    if (keys.has(r.key)) {
      errors.push({ column, message: `${r.key} is given twice` });
      continue;
    }
    keys.add(r.key);
    (options as Record<string, unknown>)[r.key] = r.value;
  }
  return errors.length ? { errors } : { options, keys };
}

function resolveTransport(src: Endpoint, dst: Endpoint, o: PairOptions, lineKeys: Set<OptionKey>): Transport | { errors: string[] } {
  const bothLocal = src.local && dst.local;
  const t: Transport = o.transport ?? (bothLocal ? 'local' : 'ssh');
  const errors: string[] = [];
  if (t === 'local' && !bothLocal) errors.push('transport=local needs both ends on this machine; use ssh or mbuffer');
  if (t === 'ssh' && bothLocal) errors.push('transport=ssh needs a remote host; both ends are on this machine (use local)');
  if (t === 'mbuffer' && o.port === undefined) errors.push('transport=mbuffer needs port=<TCP port>');
  if (t !== 'mbuffer' && lineKeys.has('port')) errors.push(`port is only used with transport=mbuffer (this pair uses ${t})`);
  if (bothLocal) {
    for (const k of ['sshport', 'sshkey', 'sshuser'] as const) {
      if (lineKeys.has(k)) errors.push(`${k} is given but both ends are on this machine`);
    }
  }
  return errors.length ? { errors } : t;
}

export function parsePairs(text: string, file: string, defaults: PairOptions = {}): { pairs: Pair[]; problems: Problem[] } {
  const pairs: Pair[] = [];
  const problems: Problem[] = [];
  const seenDest = new Map<string, number>();
  const seenPort = new Map<string, number>();
  const seenFp = new Map<string, number>();
  const lines = text.split(/\r?\n/);

  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const fail = (message: string) => problems.push({ file, line, message });
    const failAt = (p: LineProblem) => problems.push({ file, line, column: p.column, message: p.message });
    const scanned = scanPairLine(rawLine);
    if (!scanned) return;
    if (!scanned.destination) {
      fail(`'${scanned.source}' has a source but no destination (write: source destination [key=value,...])`);
      return;
    }
    if (scanned.misplaced) return void scanned.problems.forEach(failAt);
    const src = parseEndpoint(scanned.source, 'source');
    const dst = parseEndpoint(scanned.destination, 'destination');
    const opts = parseOptionsField(scanned.options);
    let bad = scanned.problems.length > 0;
    for (const r of [src, dst]) if ('error' in r) (fail(r.error), (bad = true));
    scanned.problems.forEach(failAt);
    if ('errors' in opts) (opts.errors.forEach(failAt), (bad = true));
    if (bad || 'error' in src || 'error' in dst || 'errors' in opts) return;

    if (isPoolRoot(dst.dataset)) {
      fail(`destination '${dst.dataset}' is a pool; replicate into a file system below it (${dst.dataset}/<name>)`);
      return;
    }
    if (src.host === dst.host || (src.local && dst.local)) {
      const a = src.dataset;
      const b = dst.dataset;
      if (a === b) return void fail('source and destination are the same dataset');
      if (b.startsWith(`${a}/`)) return void fail('the destination lies inside the source');
      if (a.startsWith(`${b}/`)) return void fail('the source lies inside the destination');
    }
    const options: PairOptions = { ...defaults, ...opts.options };
    const consistency = optionConsistencyProblems(options, true);
    if (consistency.length) return void consistency.forEach(fail);
    const transport = resolveTransport(src, dst, options, opts.keys);
    if (typeof transport !== 'string') return void transport.errors.forEach(fail);

    const fp = fingerprint(src.host, src.dataset, dst.host, dst.dataset);
    const destKey = `${dst.local ? 'localhost' : dst.host}:${dst.dataset}`;
    const prevDest = seenDest.get(destKey);
    if (prevDest !== undefined) return void fail(`duplicate destination ${destKey} (also on line ${prevDest})`);
    const prevFp = seenFp.get(fp);
    if (prevFp !== undefined) return void fail(`duplicate fingerprint ${fp} (also on line ${prevFp})`);
    if (transport === 'mbuffer') {
      const portKey = `${dst.local ? 'localhost' : dst.host}:${options.port}`;
      const prevPort = seenPort.get(portKey);
      if (prevPort !== undefined) return void fail(`duplicate mbuffer port ${options.port} on ${dst.host} (also on line ${prevPort})`);
      seenPort.set(portKey, line);
    }
    seenDest.set(destKey, line);
    seenFp.set(fp, line);
    pairs.push({
      file,
      line,
      source: src,
      destination: dst,
      options,
      transport,
      fingerprint: fp,
      label: dst.local && !scanned.destination.includes(':') ? dst.dataset : `${dst.host}:${dst.dataset}`,
    });
  });
  return { pairs, problems };
}

export function endpointText(e: Endpoint): string {
  return e.local ? e.dataset : `${e.host}:${e.dataset}`;
}

// The send_nsca emitter: passive results to Nagios through the nsca-client
// program. One send_nsca process carries every result of a run: each result
// is `host TAB service TAB rc TAB output` ended by ETB (0x17), which nsca 2.9+
// treats as the end of one result, so newlines inside the output (long output)
// survive. NSCA packets have fixed fields; anything longer is cut by send_nsca
// at a byte count, which can split a UTF-8 character or drop the perfdata, so
// every field is fitted here first.
import { execa } from 'execa';
import { STATE_NAMES, type CheckState } from './check.js';

/** bytes per field in an NSCA 2.9+ packet, without the final NUL */
export const NSCA_LIMITS = { host: 63, service: 127, output: 4095 } as const;

const ETB = '\x17';
/** how long one send_nsca may take in all; -to 10 covers the connect, this the rest */
const SEND_TIMEOUT_MS = 30_000;

export interface NscaResult {
  host: string;
  service: string;
  state: CheckState;
  /** plugin output: first line (with perfdata), then long output lines */
  output: string;
}

export interface NscaSettings {
  send_nsca: string;
  config: string;
  server?: string;
  port: number;
}

/** a host name or address send_nsca can take as -H (never an option word) */
export function serverProblem(server: string): string | null {
  return /^[A-Za-z0-9.:[\]-]+$/.test(server) && !server.startsWith('-') ? null : `'${server}' is not a host name or address`;
}

/**
 * The argv after the program name. -c always: send_nsca's default config path
 * is relative to the working directory, which is wherever cron started us.
 * `override` is the --nagios HOST argument ('' or undefined: none).
 */
export function nscaArgv(s: NscaSettings, override?: string): string[] {
  const server = override || s.server;
  if (!server) throw new Error('no Nagios server');
  return ['-H', server, '-p', String(s.port), '-to', '10', '-c', s.config];
}

/** the longest prefix of `text` that is at most `max` UTF-8 bytes, never splitting a character */
export function cutBytes(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text;
  let used = 0;
  let out = '';
  for (const ch of text) {
    // for..of walks code points, so a surrogate pair is one step
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > max) break;
    used += n;
    out += ch;
  }
  return out;
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** host and service are one-line fields: a TAB, newline or ETB would break the framing */
function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

/** what marks a cut: at the end of a shortened first line, and as the last long-output line */
export const CUT_MARK = '...';
export const CUT_LINE = '[output truncated]';

/**
 * Fit plugin output into `max` bytes. Keep, in this order of priority: the
 * first line's perfdata, the first line's text (shortened, ending in '...'),
 * then as many long-output lines as fit (the last one cut), followed by
 * "[output truncated]".
 */
export function fitOutput(output: string, max: number = NSCA_LIMITS.output): string {
  // ETB ends a result and NUL ends a C string; neither may be inside one
  const clean = output.replace(/[\x00\x17]/g, ' ');
  if (bytes(clean) <= max) return clean;
  const nl = clean.indexOf('\n');
  const first = nl < 0 ? clean : clean.slice(0, nl);
  const rest = nl < 0 ? [] : clean.slice(nl + 1).split('\n');
  if (bytes(first) + 1 + bytes(CUT_LINE) <= max) {
    const lines = [first];
    let used = bytes(first);
    const room = max - bytes(CUT_LINE) - 1; // the marker line always fits after what is kept
    for (const l of rest) {
      if (used + 1 + bytes(l) > room) {
        // the line that does not fit: keep its start when there is room for something readable
        const left = room - used - 1 - bytes(CUT_MARK);
        if (left >= 16) lines.push(cutBytes(l, left) + CUT_MARK);
        break;
      }
      lines.push(l);
      used += 1 + bytes(l);
    }
    lines.push(CUT_LINE);
    return lines.join('\n');
  }
  // the first line alone is too long: shorten its text, keep its perfdata
  const bar = first.indexOf('|');
  const text = bar < 0 ? first : first.slice(0, bar).trimEnd();
  const perf = bar < 0 ? '' : ` ${first.slice(bar)}`;
  if (bytes(perf) + bytes(CUT_MARK) < max) {
    return cutBytes(text, max - bytes(perf) - bytes(CUT_MARK)) + CUT_MARK + perf;
  }
  return cutBytes(first, max - bytes(CUT_MARK)) + CUT_MARK;
}

/** one result as send_nsca reads it, ETB-terminated; throws on an rc that is not 0-3 */
export function nscaRecord(r: NscaResult): string {
  // send_nsca turns a non-numeric rc into 0 (OK): never let a bug report OK
  if (!Number.isInteger(r.state) || r.state < 0 || r.state > 3) {
    throw new RangeError(`return code ${String(r.state)} is not a plugin state (0 to 3)`);
  }
  const host = cutBytes(oneLine(r.host), NSCA_LIMITS.host);
  const service = cutBytes(oneLine(r.service), NSCA_LIMITS.service);
  if (!host || !service) throw new RangeError(`empty host or service name ('${host}', '${service}')`);
  return `${host}\t${service}\t${r.state}\t${fitOutput(r.output)}${ETB}`;
}

/** the whole stdin of one send_nsca run */
export function nscaInput(results: readonly NscaResult[]): string {
  return results.map(nscaRecord).join('');
}

export type SendOutcome = { ok: true; message: string } | { ok: false; why: string };

/** send_nsca's own words, on one line (it writes them to stdout and stderr) */
function saidBy(stdout: unknown, stderr: unknown): string {
  return [stdout, stderr]
    .map((s) => (typeof s === 'string' ? s : ''))
    .join('\n')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');
}

/**
 * Run send_nsca once for all results. Never throws: a failure comes back as
 * one line saying why, for the caller to log (monitoring trouble must not
 * fail a replication).
 */
export async function sendNsca(program: string, argv: readonly string[], results: readonly NscaResult[], timeoutMs = SEND_TIMEOUT_MS): Promise<SendOutcome> {
  if (results.length === 0) return { ok: true, message: 'nothing to send' };
  let input: string;
  try {
    input = nscaInput(results);
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
  const r = await execa(program, [...argv], { input, reject: false, timeout: timeoutMs, forceKillAfterDelay: 2000, stripFinalNewline: true, env: { LC_ALL: 'C' } });
  const said = saidBy(r.stdout, r.stderr);
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT') return { ok: false, why: `${program} not found (install nsca-client, or set send_nsca in [nagios])` };
  if (code === 'EACCES') return { ok: false, why: `${program} is not executable` };
  if (r.timedOut) return { ok: false, why: `${program} did not finish within ${Math.round(timeoutMs / 1000)} s${said ? ` (${said})` : ''}` };
  if (r.failed || r.exitCode !== 0) {
    const how = r.exitCode !== undefined ? `exit ${r.exitCode}` : r.signal ? `killed by ${r.signal}` : (r.shortMessage ?? 'failed');
    return { ok: false, why: `${said || 'send_nsca failed'} (${how})` };
  }
  // "N data packet(s) sent to host successfully." – fewer than asked is a failure too
  const m = /(\d+) data packet\(s\) sent/.exec(said);
  if (m && Number(m[1]) !== results.length) return { ok: false, why: `only ${m[1]} of ${results.length} results were sent: ${said}` };
  return { ok: true, message: said };
}

/** for log lines: "OK host;service" */
export function describeNsca(r: NscaResult): string {
  return `${STATE_NAMES[r.state] ?? r.state} ${r.host};${r.service}`;
}

// The Icinga 2 API emitter: one POST /v1/actions/process-check-result per
// result (the API takes one object per call), over HTTPS verified against the
// configured CA, with HTTP Basic auth of an ApiUser. Every failure comes back
// as one line that says what to fix; nothing here throws.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { mapLimit } from '../app/parallel.js';
import type { CheckState } from './check.js';

/** requests in flight at once: enough for many pairs, gentle on the server */
const CONCURRENCY = 4;
const REQUEST_TIMEOUT_MS = 15_000;

export interface IcingaSettings {
  url: string;
  user: string;
  password_file: string;
  ca: string;
}

export interface IcingaResult {
  host: string;
  service: string;
  state: CheckState;
  /** first line (without the perfdata), then the long output lines */
  output: string;
  perfdata: string[];
  checkSource: string;
  /** seconds until Icinga calls the result stale */
  ttl: number;
}

/** the request body of process-check-result for one result */
export function icingaBody(r: IcingaResult): Record<string, unknown> {
  if (!Number.isInteger(r.state) || r.state < 0 || r.state > 3) throw new RangeError(`exit status ${String(r.state)} is not a plugin state (0 to 3)`);
  return {
    type: 'Service',
    // named explicitly: a filter that matches nothing is a 500 with no word of why
    service: `${r.host}!${r.service}`,
    exit_status: r.state,
    plugin_output: r.output,
    performance_data: r.perfdata,
    check_source: r.checkSource,
    ttl: r.ttl,
    // lets a 404 say whether the service is missing or the permission is
    verbose: true,
  };
}

/** the password file's content without its final newline (editors add one) */
export function readPassword(file: string): string {
  const text = readFileSync(file, 'utf8');
  return text.replace(/\r?\n$/, '');
}

export function processCheckResultUrl(base: string): URL {
  return new URL('/v1/actions/process-check-result', base.endsWith('/') ? base : `${base}/`);
}

interface Reply {
  status: number;
  body: string;
}

/** Icinga's own words from an error body: status, the first results' status, the first diagnostic line */
function icingaMessage(body: string): { status?: string; diagnostic?: string } {
  try {
    const v = JSON.parse(body) as { status?: unknown; diagnostic_information?: unknown; results?: Array<{ status?: unknown }> };
    const out: { status?: string; diagnostic?: string } = {};
    const first = v.results?.find((x) => typeof x?.status === 'string')?.status;
    if (typeof v.status === 'string') out.status = v.status;
    else if (typeof first === 'string') out.status = first;
    if (typeof v.diagnostic_information === 'string') {
      const line = v.diagnostic_information.split('\n').find((l) => l.trim());
      if (line) out.diagnostic = line.trim().replace(/^Error: /, '');
    }
    return out;
  } catch {
    // not JSON (an HTML error page, a proxy): its text, without tags
    const text = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    return text ? { status: text.slice(0, 200) } : {};
  }
}

/** one line per HTTP error, saying what to fix */
export function explainHttpError(status: number, body: string, object: string, user: string, passwordFile: string): string {
  const m = icingaMessage(body);
  const said = m.status ? `: ${m.status}` : '';
  const permission = 'actions/process-check-result';
  if (status === 401) return `401 Unauthorized: Icinga refused ApiUser '${user}' with the password in ${passwordFile} (check both against the ApiUser object)`;
  if (status === 403 || (status === 404 && m.diagnostic?.startsWith('Missing permission'))) {
    return `${status}: ApiUser '${user}' lacks permission ${permission} (add it to the ApiUser's permissions)`;
  }
  if (status === 404) return `404: Icinga has no service '${object}': create it (see zettabee icinga-config)`;
  if (status === 500) return `500: Icinga failed${said || ' without saying why'}`;
  return `HTTP ${status}${said}${m.diagnostic && m.diagnostic !== m.status ? ` (${m.diagnostic})` : ''}`;
}

const TLS_CODES = /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** a connection-level failure in one line, naming the URL (and the CA for TLS trouble) */
export function explainNetworkError(e: unknown, url: string, ca: string): string {
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return `connection refused by ${url} (is Icinga running with the api feature enabled?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host of ${url}`;
  if (code === 'ETIMEDOUT' || code === 'ZB_TIMEOUT') return `no answer from ${url} within ${REQUEST_TIMEOUT_MS / 1000} s`;
  if (code === 'ECONNRESET') return `${url} closed the connection (is it the Icinga API port, speaking TLS?)`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the certificate of ${url} is not for that host name: ${err.reason ?? err.message} (use a name the certificate has in [icinga] url)`;
  }
  if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(err.message ?? '')) {
    return `TLS: the certificate of ${url} does not verify against the CA in ${ca}: ${err.reason ?? err.message} (${code || 'TLS error'})`;
  }
  return `${url}: ${err.message ?? String(e)}${code ? ` (${code})` : ''}`;
}

function post(agent: Agent, url: URL, auth: string, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          Accept: 'application/json',
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Authorization: `Basic ${Buffer.from(auth, 'utf8').toString('base64')}`,
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // 'timeout' only says the socket went idle; ending the request is up to us
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ZB_TIMEOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** answer: the API's own words for an accepted result ("200 Successfully processed ...") */
export type PostOutcome = { ok: true; answer: string } | { ok: false; why: string };

/**
 * Post each result; the outcomes are in the order of `results`. Setup
 * trouble (CA or password file unreadable) fails every result with the
 * same line.
 */
export async function postResults(s: IcingaSettings, results: readonly IcingaResult[]): Promise<PostOutcome[]> {
  if (results.length === 0) return [];
  const all = (why: string): PostOutcome[] => results.map(() => ({ ok: false, why }));
  let ca: Buffer;
  let password: string;
  try {
    ca = readFileSync(s.ca);
  } catch (e) {
    return all(`cannot read the CA file ${s.ca}: ${(e as Error).message}`);
  }
  try {
    password = readPassword(s.password_file);
  } catch (e) {
    return all(`cannot read the password file ${s.password_file}: ${(e as Error).message}`);
  }
  if (!password) return all(`the password file ${s.password_file} is empty`);
  const url = processCheckResultUrl(s.url);
  // keepAlive: several results reuse a few TLS connections instead of a handshake each
  const agent = new Agent({ ca, keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const outcomes = await mapLimit(results, CONCURRENCY, async (r): Promise<PostOutcome> => {
      const object = `${r.host}!${r.service}`;
      let body: string;
      try {
        body = JSON.stringify(icingaBody(r));
      } catch (e) {
        return { ok: false, why: (e as Error).message };
      }
      let reply: Reply;
      try {
        reply = await post(agent, url, `${s.user}:${password}`, body);
      } catch (e) {
        return { ok: false, why: explainNetworkError(e, s.url, s.ca) };
      }
      if (reply.status < 200 || reply.status > 299) return { ok: false, why: explainHttpError(reply.status, reply.body, object, s.user, s.password_file) };
      // a 200 can still carry a per-object failure
      const results = (() => {
        try {
          return (JSON.parse(reply.body) as { results?: Array<{ code?: number; status?: string }> }).results ?? [];
        } catch {
          return [];
        }
      })();
      const bad = results.find((x) => typeof x.code === 'number' && (x.code < 200 || x.code > 299));
      if (bad) return { ok: false, why: `${bad.code}: Icinga says: ${bad.status ?? 'no reason given'}` };
      const good = results.find((x) => typeof x.status === 'string');
      return { ok: true, answer: good ? `${good.code ?? reply.status} ${good.status!.trim()}` : `HTTP ${reply.status} without a result` };
    });
    return outcomes.map((o) => (o.ok ? o.value : { ok: false, why: String(o.error) }));
  } finally {
    agent.destroy();
  }
}

// The Icinga 2 API emitter against a real local HTTPS server (a throwaway CA
// and certificate made with openssl): the request it makes, TLS verified
// against the configured CA, Basic auth from the password file, and one
// explaining line for each HTTP error. The real Icinga 2 is in
// test/e2e/icinga.test.ts.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePairs } from '../../src/config/pairs.js';
import { explainHttpError, icingaBody, postResults, readPassword, type IcingaResult, type IcingaSettings } from '../../src/monitor/icinga.js';
import { freshnessSeconds, makeReporter } from '../../src/monitor/report.js';
import { icingaConfig } from '../../src/monitor/config-gen.js';
import { builtinSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { freePort } from '../harness/bed.js';
import { makePki, type Pki } from '../harness/icinga.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const res = (over: Partial<IcingaResult> = {}): IcingaResult => ({
  host: 'backup1',
  service: 'zettabee tank/a',
  state: 1,
  output: 'ZETTABEE WARNING - lag 2h\nlast good snapshot: x',
  perfdata: ['lag=7200s;3600;86400;0', 'runtime=5s;;;0'],
  checkSource: 'backup1.example.org',
  ttl: 95040,
  ...over,
});

describe('icinga: request body', () => {
  it('type Service, the service named host!service, exit_status, plugin_output with long output, perfdata as an array, check_source, ttl', () => {
    expect(icingaBody(res())).to.deep.equal({
      type: 'Service',
      service: 'backup1!zettabee tank/a',
      exit_status: 1,
      plugin_output: 'ZETTABEE WARNING - lag 2h\nlast good snapshot: x',
      performance_data: ['lag=7200s;3600;86400;0', 'runtime=5s;;;0'],
      check_source: 'backup1.example.org',
      ttl: 95040,
      verbose: true,
    });
  });

  it('an exit status outside 0-3 is refused (Icinga would take 7)', () => {
    expect(() => icingaBody(res({ state: 7 as 0 }))).to.throw(RangeError, /not a plugin state/);
  });

  it('ttl is the freshness window of the generated Icinga services: [icinga] report_interval + max(5 min, 10%), whatever clag says', () => {
    const [withClag, without] = parsePairs('tank/a pool/a clag=1d\ntank/b pool/b', 'p.cfg').pairs;
    const s = builtinSettings();
    expect(freshnessSeconds(s)).to.equal(600);
    s.icinga.report_interval = 3600;
    expect(freshnessSeconds(s)).to.equal(3960);
    const t = icingaConfig([withClag!, without!], s, { shortHostname: 'backup1' }).text;
    expect(t.match(/check_interval = (\d+)s/g)).to.deep.equal(['check_interval = 3960s', 'check_interval = 3960s']);
  });

  it('the password file loses its final newline and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zb-pw-'));
    try {
      writeFileSync(join(dir, 'a'), 'se cret \n');
      writeFileSync(join(dir, 'b'), 'secret\r\n');
      writeFileSync(join(dir, 'c'), 'secret');
      expect(readPassword(join(dir, 'a'))).to.equal('se cret ');
      expect(readPassword(join(dir, 'b'))).to.equal('secret');
      expect(readPassword(join(dir, 'c'))).to.equal('secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('icinga: error lines', () => {
  const x = (status: number, body: string) => explainHttpError(status, body, 'backup1!zettabee tank/a', 'zettabee', '/etc/zettabee/icinga.password');
  it('401: wrong user or password, naming both', () => {
    expect(x(401, '{"error":401,"status":"Unauthorized. Please check your user credentials."}')).to.equal(
      "401 Unauthorized: Icinga refused ApiUser 'zettabee' with the password in /etc/zettabee/icinga.password (check both against the ApiUser object)",
    );
  });
  it('403: the permission the ApiUser lacks', () => {
    expect(x(403, '{"error":403,"status":"Forbidden"}')).to.equal("403: ApiUser 'zettabee' lacks permission actions/process-check-result (add it to the ApiUser's permissions)");
  });
  it('404 that Icinga explains as a missing permission (what Icinga 2.13 answers): the permission', () => {
    expect(x(404, '{"diagnostic_information":"Error: Missing permission: actions/process-check-result\\n","error":404,"status":"No objects found."}')).to.match(
      /^404: ApiUser 'zettabee' lacks permission actions\/process-check-result/,
    );
  });
  it('404: no such service, create it with icinga-config', () => {
    expect(x(404, '{"diagnostic_information":"Error: Object does not exist.\\n\\nStacktrace:...","error":404,"status":"No objects found."}')).to.equal(
      "404: Icinga has no service 'backup1!zettabee tank/a': create it (see zettabee icinga-config)",
    );
  });
  it("500: Icinga's own message", () => {
    expect(x(500, '{"error":500,"status":"Cannot process check result: boom"}')).to.equal('500: Icinga failed: Cannot process check result: boom');
    expect(x(500, '{"results":[]}')).to.equal('500: Icinga failed without saying why');
  });
  it('anything else: the status and what the body says, HTML stripped', () => {
    expect(x(400, "<h1>Accept header is missing or not set to 'application/json'.</h1>")).to.equal("HTTP 400: Accept header is missing or not set to 'application/json'.");
  });
});

describe('icinga: against a real HTTPS server (throwaway CA)', function () {
  this.timeout(30_000);
  let dir: string;
  let pki: Pki;
  let otherCa: Pki;
  let server: Server;
  let port: number;
  let seen: Seen[] = [];
  /** how the server answers the next requests */
  let answer: (s: Seen) => { status: number; body: string; delayMs?: number } = () => ({ status: 200, body: '{"results":[{"code":200,"status":"ok"}]}' });
  let inFlight = 0;
  let maxInFlight = 0;
  const password = 'pa:ss wörd';

  const settings = (): IcingaSettings => ({ url: `https://localhost:${port}`, user: 'zettabee', password_file: join(dir, 'password'), ca: pki.caCert });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zb-icinga-'));
    [pki, otherCa] = await Promise.all([makePki(join(dir, 'pki')), makePki(join(dir, 'other'))]);
    writeFileSync(join(dir, 'password'), `${password}\n`);
    port = await freePort();
    server = createServer({ key: readFileSync(pki.key), cert: readFileSync(pki.cert) }, (req: IncomingMessage, out: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        seen.push(s);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const a = answer(s);
        setTimeout(() => {
          inFlight--;
          out.writeHead(a.status, { 'Content-Type': 'application/json' });
          out.end(a.body);
        }, a.delayMs ?? 0);
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen = [];
    maxInFlight = 0;
    answer = () => ({ status: 200, body: '{"results":[{"code":200,"status":"Successfully processed check result"}]}' });
  });

  it('POSTs to /v1/actions/process-check-result with Accept: application/json, Basic auth from the password file, the JSON body', async () => {
    const out = await postResults(settings(), [res()]);
    // accepted, in the API's own words (what the pair log then says)
    expect(out).to.deep.equal([{ ok: true, answer: '200 Successfully processed check result' }]);
    expect(seen).to.have.length(1);
    const s = seen[0]!;
    expect(s.method).to.equal('POST');
    expect(s.url).to.equal('/v1/actions/process-check-result');
    expect(s.headers.accept).to.equal('application/json');
    expect(s.headers['content-type']).to.equal('application/json');
    expect(s.headers.authorization).to.equal(`Basic ${Buffer.from(`zettabee:${password}`).toString('base64')}`);
    expect(JSON.parse(s.body)).to.deep.equal(icingaBody(res()));
  });

  it('a URL with a trailing slash still reaches /v1/actions/process-check-result', async () => {
    await postResults({ ...settings(), url: `https://localhost:${port}/` }, [res()]);
    expect(seen[0]!.url).to.equal('/v1/actions/process-check-result');
  });

  it('one request per result, at most 4 at a time, outcomes in order', async () => {
    answer = () => ({ status: 200, body: '{"results":[{"code":200,"status":"ok"}]}', delayMs: 100 });
    const results = Array.from({ length: 10 }, (_, i) => res({ service: `zettabee tank/${i}` }));
    const out = await postResults(settings(), results);
    expect(out).to.deep.equal(results.map(() => ({ ok: true, answer: '200 ok' })));
    expect(seen.map((s) => JSON.parse(s.body).service).sort()).to.deep.equal(results.map((r) => `backup1!${r.service}`).sort());
    expect(maxInFlight).to.be.within(2, 4);
  });

  for (const [status, body, expected] of [
    [401, '{"error":401,"status":"Unauthorized. Please check your user credentials."}', /^401 Unauthorized: Icinga refused ApiUser 'zettabee' with the password in \S+password/],
    [403, '{"error":403,"status":"Forbidden"}', /^403: ApiUser 'zettabee' lacks permission actions\/process-check-result/],
    [404, '{"diagnostic_information":"Error: Object does not exist.\\n","error":404,"status":"No objects found."}', /^404: Icinga has no service 'backup1!zettabee tank\/a': create it \(see zettabee icinga-config\)$/],
    [500, '{"error":500,"status":"Cannot process check result: nope"}', /^500: Icinga failed: Cannot process check result: nope$/],
  ] as const) {
    it(`HTTP ${status} from the server: one line that says what to fix`, async () => {
      answer = () => ({ status, body });
      const [o] = await postResults(settings(), [res()]);
      expect(o!.ok).to.equal(false);
      expect(!o!.ok && o!.why).to.match(expected);
    });
  }

  it('a 200 that carries a per-object failure is a failure', async () => {
    answer = () => ({ status: 200, body: '{"results":[{"code":409,"status":"Newer check result already present."}]}' });
    const [o] = await postResults(settings(), [res()]);
    expect(!o!.ok && o!.why).to.equal('409: Icinga says: Newer check result already present.');
  });

  it('a certificate that does not verify against the configured CA: TLS error naming the URL and the CA; nothing is sent', async () => {
    const [o] = await postResults({ ...settings(), ca: otherCa.caCert }, [res()]);
    expect(!o!.ok && o!.why).to.match(new RegExp(`^TLS: the certificate of https://localhost:${port} does not verify against the CA in ${otherCa.caCert.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    expect(seen).to.have.length(0);
  });

  it('connection refused: names the URL', async () => {
    const closed = await freePort();
    const [o] = await postResults({ ...settings(), url: `https://localhost:${closed}` }, [res()]);
    expect(!o!.ok && o!.why).to.equal(`connection refused by https://localhost:${closed} (is Icinga running with the api feature enabled?)`);
  });

  it('an unreadable password file or CA: every result fails with that reason, nothing is sent', async () => {
    const a = await postResults({ ...settings(), password_file: join(dir, 'missing') }, [res(), res()]);
    expect(a.map((o) => !o.ok && o.why)).to.deep.equal(Array(2).fill(`cannot read the password file ${join(dir, 'missing')}: ENOENT: no such file or directory, open '${join(dir, 'missing')}'`));
    const b = await postResults({ ...settings(), ca: join(dir, 'nope.crt') }, [res()]);
    expect(!b[0]!.ok && b[0]!.why).to.match(/^cannot read the CA file \S+nope\.crt: ENOENT/);
    expect(seen).to.have.length(0);
  });

  it('through the reporter: one warning line on stderr for all pairs; status and exit are the caller\'s', async () => {
    answer = () => ({ status: 404, body: '{"error":404,"status":"No objects found."}' });
    const s = builtinSettings();
    s.file = join(dir, 'zettabee.ini');
    s.paths = { state: join(dir, 'state'), lock: join(dir, 'lock'), log: join(dir, 'log') };
    s.icinga = { ...s.icinga, ...settings() };
    const errs: string[] = [];
    const pairs = parsePairs('tank/a pool/a\ntank/b pool/b', 'p.cfg').pairs;
    await makeReporter({ icinga: true }, { out: () => undefined, err: (l) => errs.push(l), env: {} }, s, 'status')!.report(pairs);
    expect(seen).to.have.length(2);
    expect(errs).to.have.length(1);
    expect(errs[0]).to.match(/^zettabee: warning: status: could not send results to Icinga: 404: Icinga has no service '\S+!zettabee pool\/a': create it \(see zettabee icinga-config\) \(2 of 2 results not sent; each pair log says why\)$/);
    for (const p of pairs) {
      expect(readFileSync(join(dir, 'log', `${p.fingerprint}.log`), 'utf8')).to.contain(`has no service`);
    }
  });

  it('--icinga with an incomplete [icinga] section: a configuration error before anything runs', () => {
    const s = builtinSettings();
    s.icinga = { ...s.icinga, url: 'https://x:5665' };
    expect(() => makeReporter({ icinga: true }, { out: () => undefined, err: () => undefined, env: {} }, s, 'update')).to.throw(ConfigError, /user, password_file, ca not set in \[icinga\]/);
  });
});

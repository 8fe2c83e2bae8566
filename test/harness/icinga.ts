/**
 * Icinga test support: a throwaway PKI made with openssl, and a real Icinga 2
 * daemon (Debian's icinga2-bin) in the foreground as a child of the test
 * process, with its own config, data, log, cache and run directories under
 * `dir` (nothing under /etc, /var or /run is used), its API on a free
 * loopback port, a host and passive services, and two ApiUsers: one allowed
 * to submit results, one that is not.
 */
import { ensurePackages, freePort } from './bed.js';
import { execa, type Options as ExecaOptions, type ResultPromise } from 'execa';
import * as fs from 'node:fs';
import { request } from 'node:https';
import * as path from 'node:path';

const ICINGA_BIN = '/usr/lib/x86_64-linux-gnu/icinga2/sbin/icinga2';
const ICINGA_PACKAGES = ['icinga2-bin', 'icinga2-common'];
const LOOPBACK = '127.0.0.1';

export interface Pki {
  caCert: string;
  caKey: string;
  /** server certificate for localhost and 127.0.0.1, signed by the CA */
  cert: string;
  key: string;
}

/** a CA and a server certificate (CN `cn`, SAN localhost and 127.0.0.1) in dir */
export async function makePki(dir: string, cn = 'localhost'): Promise<Pki> {
  fs.mkdirSync(dir, { recursive: true });
  const p = (f: string) => path.join(dir, f);
  const run = (args: string[]) => execa('openssl', args, { stdin: 'ignore', timeout: 60_000 });
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', `/CN=zettabee test CA ${path.basename(dir)}`]);
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', `/CN=${cn}`]);
  fs.writeFileSync(
    p('ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await run(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '2', '-extfile', p('ext.cnf')]);
  return { caCert: p('ca.crt'), caKey: p('ca.key'), cert: p('server.crt'), key: p('server.key') };
}


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** install icinga2 with apt-get when it is missing (the bed's own installer) */
export async function ensureIcinga(): Promise<void> {
  if (fs.existsSync(ICINGA_BIN)) return;
  await ensurePackages([...ICINGA_PACKAGES]);
  if (!fs.existsSync(ICINGA_BIN)) throw new Error(`apt-get installed ${ICINGA_PACKAGES.join(' ')} but ${ICINGA_BIN} is still missing`);
}

export interface IcingaService {
  host: string;
  service: string;
}

export interface LastCheckResult {
  exit_status: number;
  state: number;
  output: string;
  performance_data: string[];
  check_source: string;
  ttl: number;
  execution_end: number;
}

export interface IcingaDaemon {
  /** https://localhost:<port> */
  url: string;
  port: number;
  /** the CA that signed the API's certificate */
  ca: string;
  /** ApiUser allowed actions/process-check-result */
  user: string;
  password: string;
  /** ApiUser without that permission (may only query) */
  weakUser: string;
  weakPassword: string;
  /** the daemon's own log (stdout and stderr) */
  log: string;
  /** the service's last_check_result, or null before the first result */
  lastCheckResult(s: IcingaService): Promise<LastCheckResult | null>;
  /** stop the daemon (SIGTERM, then SIGKILL); idempotent */
  stop(): Promise<void>;
}

const q = (s: string) => JSON.stringify(s); // Icinga DSL strings take JSON escapes

function config(o: { port: number; node: string; user: string; password: string; weakUser: string; weakPassword: string; services: readonly IcingaService[] }): string {
  const hosts = [...new Set(o.services.map((s) => s.host))];
  return [
    'include <itl>',
    `const NodeName = ${q(o.node)}`,
    'object Endpoint NodeName { }',
    'object Zone "master" { endpoints = [ NodeName ] }',
    // certificates are found in DataDir/certs/<NodeName>.{crt,key} and ca.crt
    `object ApiListener "api" { bind_host = ${q(LOOPBACK)}; bind_port = ${o.port}; accept_config = false; accept_commands = false }`,
    `object ApiUser ${q(o.user)} { password = ${q(o.password)}; permissions = [ "actions/process-check-result", "objects/query/*" ] }`,
    `object ApiUser ${q(o.weakUser)} { password = ${q(o.weakPassword)}; permissions = [ "objects/query/*" ] }`,
    ...hosts.map((h) => `object Host ${q(h)} { check_command = "dummy"; enable_active_checks = false }`),
    // passive services, as zettabee icinga-config would define them (without freshness: the test reads results at once)
    ...o.services.map((s) => `object Service ${q(s.service)} { host_name = ${q(s.host)}; check_command = "dummy"; enable_active_checks = false; max_check_attempts = 1 }`),
    '',
  ].join('\n');
}

function getJson(url: string, ca: Buffer, auth: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { Accept: 'application/json', Authorization: `Basic ${Buffer.from(auth).toString('base64')}` }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Start a real Icinga 2 with these services; resolves once its API answers
 * an authenticated request. Rejects naming the step (and the daemon's log).
 */
export async function startIcinga(dir: string, services: readonly IcingaService[]): Promise<IcingaDaemon> {
  await ensureIcinga();
  const d = (f: string) => path.join(dir, f);
  for (const sub of ['data/certs', 'log', 'cache', 'spool', 'run', 'pki']) fs.mkdirSync(d(sub), { recursive: true });
  const node = 'zettabee-test-icinga';
  const pki = await makePki(d('pki'), node);
  fs.copyFileSync(pki.cert, d(`data/certs/${node}.crt`));
  fs.copyFileSync(pki.key, d(`data/certs/${node}.key`));
  fs.copyFileSync(pki.caCert, d('data/certs/ca.crt'));
  const port = await freePort();
  const o = { port, node, user: 'zettabee', password: 'pw-' + Math.random().toString(36).slice(2), weakUser: 'readonly', weakPassword: 'ro-' + Math.random().toString(36).slice(2), services };
  fs.writeFileSync(d('icinga2.conf'), config(o));
  const defines = ['DataDir=data', 'LogDir=log', 'CacheDir=cache', 'SpoolDir=spool', 'InitRunDir=run'].map((kv) => {
    const [k, v] = kv.split('=');
    return `-D${k}=${d(v!)}`;
  });
  // run as the test's own user (root here): the data dirs are ours, not the nagios user's
  const args = ['daemon', '-c', d('icinga2.conf'), ...defines, '-DRunAsUser=root', '-DRunAsGroup=root'];
  const logFile = d('icinga2.out');
  const fd = fs.openSync(logFile, 'w');
  let child: ResultPromise | undefined;
  let exited = false;
  try {
    // one fd for both streams so they interleave; cleanup: killed if the test process dies
    child = execa(ICINGA_BIN, args, { stdin: 'ignore', stdout: fd, stderr: fd, reject: false, cleanup: true } as ExecaOptions);
    void child.finally(() => (exited = true));
  } finally {
    fs.closeSync(fd);
  }
  const ca = fs.readFileSync(pki.caCert);
  const url = `https://localhost:${port}`;

  const stop = async (): Promise<void> => {
    if (!child || exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await child;
    clearTimeout(t);
    // the umbrella process stops its worker, which may outlive it briefly; a
    // SIGKILLed umbrella may leave it behind for good
    for (let i = 0; i < 50 && workersOf(d('icinga2.conf')).length; i++) await sleep(100);
    for (const pid of workersOf(d('icinga2.conf'))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      throw new Error(`icinga2 daemon exited during start-up:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    try {
      const r = await getJson(`${url}/v1/objects/hosts`, ca, `${o.user}:${o.password}`);
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`icinga2 API did not answer on ${url} within 30 s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    await sleep(100);
  }

  return {
    url,
    port,
    ca: pki.caCert,
    user: o.user,
    password: o.password,
    weakUser: o.weakUser,
    weakPassword: o.weakPassword,
    log: logFile,
    async lastCheckResult(s) {
      const name = encodeURIComponent(`${s.host}!${s.service}`);
      const r = await getJson(`${url}/v1/objects/services?service=${name}&attrs=last_check_result`, ca, `${o.user}:${o.password}`);
      if (r.status !== 200) throw new Error(`GET service ${s.host}!${s.service}: HTTP ${r.status} ${r.body}`);
      const v = JSON.parse(r.body) as { results: Array<{ attrs: { last_check_result: LastCheckResult | null } }> };
      return v.results[0]?.attrs.last_check_result ?? null;
    },
    stop,
  };
}

/** pids of icinga2 processes started with this config file (ours alone) */
function workersOf(configFile: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('icinga2') && argv.includes(configFile)) out.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * End-to-end test bed: real zfs-fuse pools, a real sshd on loopback and a real
 * nsca daemon, all created on demand by getBed() and removed by teardownBed().
 *
 * - getBed() is a lazily created singleton: the first call sets everything up,
 *   later (and concurrent) callers share the same promise.
 * - If any step fails, getBed() rejects with an Error naming the step and its
 *   stderr/log, so mocha reports a FAILURE of the calling `before` hook.
 * - teardownBed() is idempotent, never throws, and only touches what this
 *   process created (pools named <prefix>*, its own sshd/nsca, and zfs-fuse
 *   only if this process started it).
 */
import { execa, type Options as ExecaOptions } from 'execa';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// Public types

export interface BedSsh {
  readonly host: string;
  readonly port: number;
  /** private client key (ed25519) authorised for root */
  readonly key: string;
  /** known_hosts file holding "[127.0.0.1]:<port> <hostkey>" and "[::1]:<port> <hostkey>" */
  readonly knownHosts: string;
  readonly user: string;
  /** the sshd_config file and sshd log file */
  readonly config: string;
  readonly log: string;
  /** ssh options to reach this sshd (without the destination), e.g.
   *  ['-p', '2222', '-i', key, '-o', 'UserKnownHostsFile=...', ...] */
  args(): string[];
  /** "root@127.0.0.1" */
  readonly target: string;
  /** stop sshd (listener and, unless keepSessions, its open sessions) */
  stop(opts?: { keepSessions?: boolean }): Promise<void>;
  /** start sshd again on the same port, wait until ssh works */
  start(): Promise<void>;
  readonly running: boolean;
}

export interface BedNsca {
  readonly host: string;
  readonly port: number;
  /** send_nsca config file (password=..., encryption_method=1) */
  readonly sendConfig: string;
  /** file the daemon appends PROCESS_SERVICE_CHECK_RESULT lines to */
  readonly commandFile: string;
  readonly password: string;
  /** non-empty lines of the command file */
  readCommands(): string[];
  /** truncate the command file */
  clear(): void;
}

export interface RunOptions {
  /** text to feed on stdin */
  input?: string;
  /** milliseconds, default 60000 */
  timeout?: number;
  cwd?: string;
  env?: Record<string, string>;
}

export interface Bed {
  /** temporary work dir (mkdtemp /tmp/zbtest-XXXXXX) */
  readonly workdir: string;
  /** per-run pool name prefix, e.g. "zbtk3x9qa" */
  readonly prefix: string;
  /** true if this process started the zfs-fuse daemon */
  readonly startedZfsFuse: boolean;
  /** create pool <prefix><suffix> on a file vdev, mounted under <workdir>/mnt */
  createPool(suffix: string, sizeMiB?: number): Promise<string>;
  /** pools created so far (full names) */
  readonly pools: readonly string[];
  /** run a command; rejects on non-zero exit; resolves with stdout */
  run(argv: string[], opts?: RunOptions): Promise<string>;
  readonly ssh: BedSsh;
  readonly nsca: BedNsca;
}

// ---------------------------------------------------------------------------
// Constants

const LOOPBACK = '127.0.0.1';
/** sshd listens on the IPv6 loopback too (same port), for pairs written [::1]:pool/fs */
export const LOOPBACK6 = '::1';
const REQUIRED_BINARIES = [
  '/usr/sbin/zfs-fuse',
  '/usr/sbin/zpool',
  '/usr/sbin/zfs',
  '/usr/sbin/sshd',
  '/usr/bin/ssh',
  '/usr/bin/ssh-keygen',
  '/usr/bin/mbuffer',
  '/usr/bin/pv',
  '/usr/sbin/nsca',
  '/usr/sbin/send_nsca',
];
const APT_PACKAGES = ['zfs-fuse', 'openssh-server', 'openssh-client', 'mbuffer', 'pv', 'nsca', 'nsca-client'];

const APT_TIMEOUT_MS = 15 * 60_000;
const DAEMON_START_TIMEOUT_MS = 30_000;
const CMD_TIMEOUT_MS = 60_000;
const POOL_DESTROY_RETRY_MS = 10_000;

// ---------------------------------------------------------------------------
// Small helpers

function log(msg: string): void {
  process.stderr.write(`[zettabee test bed] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errText(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { shortMessage?: string; message?: string; stderr?: unknown; stdout?: unknown };
    const parts: string[] = [];
    parts.push(o.shortMessage ?? o.message ?? String(e));
    if (typeof o.stderr === 'string' && o.stderr.trim() && !parts[0]!.includes(o.stderr.trim())) {
      parts.push(`stderr: ${o.stderr.trim()}`);
    }
    return parts.join('\n');
  }
  return String(e);
}

/** Run a step; on failure rethrow with the step name in front. */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = new Error(`test bed step failed: ${name}: ${errText(e)}`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
}

function tailFile(file: string, maxBytes = 4000): string {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return s.length > maxBytes ? '...' + s.slice(-maxBytes) : s;
  } catch {
    return '';
  }
}

async function cmd(file: string, args: string[], opts: ExecaOptions = {}): Promise<string> {
  const r = await execa(file, args, {
    timeout: CMD_TIMEOUT_MS,
    stdin: 'ignore',
    ...opts,
  } as ExecaOptions);
  return String(r.stdout ?? '');
}

async function succeeds(file: string, args: string[], timeout = 10_000): Promise<boolean> {
  try {
    await execa(file, args, { timeout, stdin: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Find a free TCP port on 127.0.0.1 by binding port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const addr = srv.address();
      if (!addr || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

export function portAccepts(port: number, host = LOOPBACK, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean> | boolean, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Is pid alive (zombies count as dead)? */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X') return false;
  } catch {
    return false;
  }
  return true;
}

/** Direct children of pid (scan /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(e));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

function readPidFile(file: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM pid, wait up to timeoutMs, then SIGKILL. Returns false if it survived. */
async function killAndWait(pid: number, timeoutMs = 5000): Promise<boolean> {
  if (!pidAlive(pid)) return true;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return !pidAlive(pid);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await sleep(200);
  return !pidAlive(pid);
}

function randomAlnum(n: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i]! % alphabet.length];
  return s;
}

/** Start a self-daemonising program, stdout/stderr to a file (a daemon that
 *  keeps inherited pipes open would otherwise make execa wait forever). */
async function startDaemon(file: string, args: string[], outFile: string): Promise<void> {
  const fd = fs.openSync(outFile, 'w');
  try {
    await execa(file, args, {
      stdin: 'ignore',
      // one shared fd so stdout and stderr interleave instead of overwriting
      stdout: fd,
      stderr: fd,
      timeout: DAEMON_START_TIMEOUT_MS,
    } as ExecaOptions);
  } catch (e) {
    const out = tailFile(outFile).trim();
    throw new Error(`${file} ${args.join(' ')} failed: ${errText(e)}${out ? `\noutput: ${out}` : ''}`);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// State (module singleton)

interface State {
  workdir?: string;
  prefix: string;
  pools: string[];
  zfsFusePidFile?: string;
  startedZfsFuse: boolean;
  sshdPidFile?: string;
  sshdStarted: boolean;
  nscaPidFile?: string;
  nscaStarted: boolean;
}

let state: State | undefined;
let bedPromise: Promise<Bed> | undefined;
let teardownPromise: Promise<void> | undefined;

// ---------------------------------------------------------------------------
// Setup steps

let aptUpdated = false;

/** apt-get install (after one apt-get update per process), non-interactive, waiting for the dpkg lock */
async function aptInstall(pkgs: readonly string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptOpts: ExecaOptions = { env, stdin: 'ignore', timeout: APT_TIMEOUT_MS, all: true };
  if (!aptUpdated) {
    await step('apt-get update', () => cmd('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], aptOpts));
    aptUpdated = true;
  }
  await step(`apt-get install ${pkgs.join(' ')}`, () =>
    cmd(
      'apt-get',
      ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...pkgs],
      aptOpts,
    ),
  );
}

async function ensureBedPackages(): Promise<void> {
  const missing = REQUIRED_BINARIES.filter((b) => !fs.existsSync(b));
  if (missing.length === 0) return;
  log(`missing ${missing.join(', ')}: installing ${APT_PACKAGES.join(' ')} with apt-get`);
  await aptInstall(APT_PACKAGES);
  const still = REQUIRED_BINARIES.filter((b) => !fs.existsSync(b));
  if (still.length) throw new Error(`test bed step failed: install packages: still missing after apt-get: ${still.join(', ')}`);
}

/** is this Debian package installed (dpkg says "install ok installed")? */
async function packageInstalled(pkg: string): Promise<boolean> {
  try {
    return (await cmd('dpkg-query', ['-W', '-f=${Status}', pkg])).trim() === 'install ok installed';
  } catch {
    return false; // dpkg-query exits 1 for a package it has never heard of
  }
}

/**
 * Install the Debian packages a test needs beyond the bed's own (nagios4-core
 * for `nagios4 -v`), the same way the bed installs its own. Rejects naming
 * the failing step; concurrent callers may race on the dpkg lock, which apt
 * waits for.
 */
export async function ensurePackages(pkgs: string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of pkgs) if (!(await packageInstalled(p))) missing.push(p);
  if (missing.length === 0) return;
  log(`missing packages ${missing.join(', ')}: installing with apt-get`);
  await aptInstall(missing);
  const still: string[] = [];
  for (const p of missing) if (!(await packageInstalled(p))) still.push(p);
  if (still.length) throw new Error(`test bed step failed: install packages: still missing after apt-get: ${still.join(', ')}`);
}

async function zpoolAnswers(): Promise<boolean> {
  return succeeds('zpool', ['list'], 10_000);
}

async function ensureZfsFuse(st: State): Promise<void> {
  if (await zpoolAnswers()) return;
  if (!fs.existsSync('/dev/fuse')) {
    throw new Error('test bed step failed: start zfs-fuse: /dev/fuse does not exist (container needs --device /dev/fuse)');
  }
  const pidFile = path.join(st.workdir!, 'zfs-fuse.pid');
  const outFile = path.join(st.workdir!, 'zfs-fuse.out');
  // recorded first: teardown must stop a daemon that forked even if its
  // starter reported a failure
  st.zfsFusePidFile = pidFile;
  st.startedZfsFuse = true;
  await step('start zfs-fuse', () => startDaemon('/usr/sbin/zfs-fuse', ['-p', pidFile], outFile));
  await step('wait for zfs-fuse (zpool list)', async () => {
    try {
      await waitFor('`zpool list` to answer', DAEMON_START_TIMEOUT_MS, zpoolAnswers, 250);
    } catch (e) {
      let last = '';
      try {
        await cmd('zpool', ['list'], { timeout: 10_000 });
      } catch (e2) {
        last = errText(e2);
      }
      throw new Error(`${errText(e)}; last zpool list: ${last}; zfs-fuse output: ${tailFile(outFile)}`);
    }
  });
  log(`started zfs-fuse (pid ${readPidFile(pidFile) ?? '?'})`);
}

async function sshKeygen(file: string): Promise<void> {
  await cmd('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'zettabee-test', '-f', file]);
}

function makeSsh(st: State, dir: string, port: number): BedSsh & { _start(): Promise<void> } {
  const key = path.join(dir, 'id_ed25519');
  const knownHosts = path.join(dir, 'known_hosts');
  const config = path.join(dir, 'sshd_config');
  const logFile = path.join(dir, 'sshd.log');
  const pidFile = path.join(dir, 'sshd.pid');
  st.sshdPidFile = pidFile;

  const args = (): string[] => [
    '-p', String(port),
    '-i', key,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'ConnectTimeout=10',
  ];

  const sshWorks = (): Promise<boolean> =>
    succeeds('ssh', [...args(), `root@${LOOPBACK}`, 'true'], 15_000);

  let running = false;

  const start = async (): Promise<void> => {
    const old = readPidFile(pidFile);
    if (old && pidAlive(old)) {
      running = true;
      return;
    }
    fs.rmSync(pidFile, { force: true });
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const before = tailFile(logFile, 1_000_000).length;
    const newLog = (): string => tailFile(logFile, 1_000_000).slice(before);
    try {
      st.sshdStarted = true;
      await startDaemon('/usr/sbin/sshd', ['-f', config, '-E', logFile], path.join(dir, 'sshd.out'));
      running = true;
      await waitFor(`sshd to accept connections on ${LOOPBACK}:${port}`, DAEMON_START_TIMEOUT_MS, async () => {
        const pid = readPidFile(pidFile);
        if (pid !== undefined && !pidAlive(pid)) throw new Error(`sshd (pid ${pid}) exited`);
        return portAccepts(port);
      });
      await waitFor('`ssh root@127.0.0.1 true` to succeed', DAEMON_START_TIMEOUT_MS, sshWorks, 250);
    } catch (e) {
      let sshErr = '';
      try {
        await cmd('ssh', [...args(), `root@${LOOPBACK}`, 'true'], { timeout: 15_000 });
      } catch (e2) {
        sshErr = errText(e2);
      }
      throw new Error(`${errText(e)}\nlast ssh attempt: ${sshErr || '(succeeded)'}\nsshd log:\n${newLog()}`);
    }
  };

  const stop = async (opts?: { keepSessions?: boolean }): Promise<void> => {
    const pid = readPidFile(pidFile);
    running = false;
    if (pid === undefined) return;
    const sessions = opts?.keepSessions ? [] : childPids(pid);
    const ok = await killAndWait(pid);
    for (const c of sessions) await killAndWait(c, 2000);
    if (!ok) throw new Error(`sshd pid ${pid} did not exit`);
    try {
      fs.rmSync(pidFile, { force: true });
    } catch {
      /* ignore */
    }
    // wait until the port no longer accepts connections
    await waitFor(`port ${port} to close`, 5000, async () => !(await portAccepts(port, LOOPBACK, 300)));
  };

  return {
    host: LOOPBACK,
    port,
    key,
    knownHosts,
    user: 'root',
    config,
    log: logFile,
    target: `root@${LOOPBACK}`,
    args,
    get running() {
      return running;
    },
    stop,
    start: async () => {
      await step('restart sshd', start);
    },
    _start: start,
  };
}

async function setupSsh(st: State): Promise<BedSsh> {
  const dir = path.join(st.workdir!, 'ssh');
  fs.mkdirSync(dir, { mode: 0o700 });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const key = path.join(dir, 'id_ed25519');
  await step('ssh-keygen (host key)', () => sshKeygen(hostKey));
  await step('ssh-keygen (client key)', () => sshKeygen(key));
  fs.copyFileSync(`${key}.pub`, path.join(dir, 'authorized_keys'));
  fs.chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  const hostPub = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

  // A free port can be taken by someone else between probing and sshd's bind:
  // try a few ports.
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await step('find a free port for sshd', freePort);
    fs.writeFileSync(path.join(dir, 'known_hosts'), `[${LOOPBACK}]:${port} ${hostPub}\n[${LOOPBACK6}]:${port} ${hostPub}\n`, { mode: 0o600 });
    fs.writeFileSync(
      path.join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        `ListenAddress ${LOOPBACK}`,
        // a machine without IPv6 loopback binds 127.0.0.1 only; the IPv6 test then fails saying so
        `ListenAddress ${LOOPBACK6}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'UsePAM no',
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'MaxStartups 100',
        'MaxSessions 100',
        'LogLevel VERBOSE',
        'PrintMotd no',
        'UseDNS no',
        // bash started by sshd reads ~/.bashrc unless it is a nested shell:
        // a login environment's own start-up (here root's runs pyenv init,
        // a hundred processes and 100 ms per session) stays out of the tests
        'SetEnv SHLVL=1',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const ssh = makeSsh(st, dir, port);
    try {
      await step(`start sshd on ${LOOPBACK}:${port}`, ssh._start);
      log(`sshd listening on ${LOOPBACK}:${port}`);
      return ssh;
    } catch (e) {
      lastErr = e;
      await ssh.stop().catch(() => undefined);
      if (!/Address already in use|Bind to port|Cannot bind/i.test(errText(e))) break;
    }
  }
  throw lastErr;
}

async function setupNsca(st: State): Promise<BedNsca> {
  const dir = path.join(st.workdir!, 'nsca');
  fs.mkdirSync(dir, { mode: 0o700 });
  const password = randomAlnum(20);
  const commandFile = path.join(dir, 'nsca.cmd');
  const cfg = path.join(dir, 'nsca.cfg');
  const sendConfig = path.join(dir, 'send_nsca.cfg');
  const pidFile = path.join(dir, 'nsca.pid');
  const outFile = path.join(dir, 'nsca.out');
  fs.writeFileSync(commandFile, '');
  fs.writeFileSync(sendConfig, `password=${password}\nencryption_method=1\n`, { mode: 0o600 });

  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await step('find a free port for nsca', freePort);
    fs.writeFileSync(
      cfg,
      [
        `server_address=${LOOPBACK}`,
        `server_port=${port}`,
        'nsca_user=root',
        'nsca_group=root',
        `pid_file=${pidFile}`,
        `command_file=${commandFile}`,
        `alternate_dump_file=${path.join(dir, 'nsca.dump')}`,
        'append_to_file=1',
        `password=${password}`,
        'decryption_method=1',
        'debug=0',
        'aggregate_writes=0',
        'max_packet_age=30',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    try {
      await step(`start nsca on ${LOOPBACK}:${port}`, async () => {
        fs.rmSync(pidFile, { force: true });
        st.nscaPidFile = pidFile;
        st.nscaStarted = true;
        await startDaemon('/usr/sbin/nsca', ['-c', cfg, '--daemon'], outFile);
        await waitFor(`nsca to accept connections on ${LOOPBACK}:${port}`, DAEMON_START_TIMEOUT_MS, async () => {
          const pid = readPidFile(pidFile);
          if (pid !== undefined && !pidAlive(pid)) throw new Error(`nsca (pid ${pid}) exited (it reports errors such as a taken port only to syslog) ${tailFile(outFile)}`);
          return portAccepts(port);
        });
      });
      log(`nsca listening on ${LOOPBACK}:${port}`);
      return {
        host: LOOPBACK,
        port,
        sendConfig,
        commandFile,
        password,
        readCommands(): string[] {
          let s = '';
          try {
            s = fs.readFileSync(commandFile, 'utf8');
          } catch {
            return [];
          }
          return s.split('\n').filter((l) => l.length > 0);
        },
        clear(): void {
          fs.writeFileSync(commandFile, '');
        },
      };
    } catch (e) {
      lastErr = e;
      // nsca reports a taken port only to syslog (it just exits): retry
      // with another port on any failure, report the last error
      await stopByPidFile(pidFile, 'nsca');
    }
  }
  throw lastErr;
}

async function stopByPidFile(pidFile: string | undefined, what: string, withChildren = true): Promise<string | undefined> {
  if (!pidFile) return undefined;
  const pid = readPidFile(pidFile);
  if (pid === undefined) return undefined;
  const kids = withChildren ? childPids(pid) : [];
  const ok = await killAndWait(pid);
  for (const k of kids) await killAndWait(k, 2000);
  try {
    fs.rmSync(pidFile, { force: true });
  } catch {
    /* ignore */
  }
  return ok ? undefined : `${what} pid ${pid} did not exit`;
}

async function createPoolImpl(st: State, suffix: string, sizeMiB = 512): Promise<string> {
  if (!/^[A-Za-z0-9_.:-]*$/.test(suffix)) throw new Error(`bad pool suffix ${JSON.stringify(suffix)}`);
  if (sizeMiB < 64) throw new Error('zfs-fuse pools need at least 64 MiB');
  const name = `${st.prefix}${suffix}`;
  if (st.pools.includes(name)) throw new Error(`pool ${name} was already created by this bed`);
  const vdev = path.join(st.workdir!, `${name}.img`);
  const mnt = path.join(st.workdir!, 'mnt', name);
  return step(`create pool ${name}`, async () => {
    fs.mkdirSync(path.dirname(mnt), { recursive: true });
    await cmd('truncate', ['-s', `${sizeMiB}M`, vdev]);
    st.pools.push(name); // remember before creation: a half-created pool must be cleaned too
    await cmd('zpool', ['create', '-f', '-m', mnt, name, vdev]);
    return name;
  });
}

async function setup(): Promise<Bed> {
  const st: State = {
    prefix: `zbt${randomAlnum(6)}`,
    pools: [],
    startedZfsFuse: false,
    sshdStarted: false,
    nscaStarted: false,
  };
  state = st;
  await ensureBedPackages();
  st.workdir = await step('create work dir', () => fs.promises.mkdtemp('/tmp/zbtest-'));
  fs.mkdirSync(path.join(st.workdir, 'mnt'));
  await ensureZfsFuse(st);
  const ssh = await setupSsh(st);
  const nsca = await setupNsca(st);

  const bed: Bed = {
    workdir: st.workdir,
    prefix: st.prefix,
    get startedZfsFuse() {
      return st.startedZfsFuse;
    },
    get pools() {
      return [...st.pools];
    },
    createPool: (suffix: string, sizeMiB?: number) => createPoolImpl(st, suffix, sizeMiB),
    async run(argv: string[], opts: RunOptions = {}): Promise<string> {
      if (argv.length === 0) throw new Error('bed.run: empty argv');
      const r = await execa(argv[0]!, argv.slice(1), {
        timeout: opts.timeout ?? CMD_TIMEOUT_MS,
        ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      });
      return String(r.stdout);
    },
    ssh,
    nsca,
  };
  log(`ready: workdir ${st.workdir}, pool prefix ${st.prefix}`);
  return bed;
}

// ---------------------------------------------------------------------------
// Public API

/** The shared test bed; set up on first call. Rejects with the failing step. */
export function getBed(): Promise<Bed> {
  if (!bedPromise) {
    bedPromise = setup();
    // avoid an unhandled rejection if nobody awaits (the error is re-delivered
    // to every caller through the returned promise)
    bedPromise.catch(() => undefined);
  }
  return bedPromise;
}

async function destroyPool(name: string): Promise<string | undefined> {
  const exists = await succeeds('zpool', ['list', '-H', '-o', 'name', name]);
  if (!exists) return undefined;
  // unmount children first (deepest first): zfs-fuse says "busy" otherwise
  try {
    const out = await cmd('zfs', ['list', '-H', '-o', 'name', '-t', 'filesystem', '-r', name], { timeout: 20_000 });
    const fss = out.split('\n').filter(Boolean).sort((a, b) => b.split('/').length - a.split('/').length);
    for (const f of fss) {
      await execa('zfs', ['umount', '-f', f], { timeout: 20_000, stdin: 'ignore', reject: false });
    }
  } catch {
    /* best effort */
  }
  const deadline = Date.now() + POOL_DESTROY_RETRY_MS;
  let last = '';
  for (;;) {
    try {
      await cmd('zpool', ['destroy', '-f', name], { timeout: 30_000 });
      return undefined;
    } catch (e) {
      last = errText(e);
      if (!(await succeeds('zpool', ['list', '-H', '-o', 'name', name]))) return undefined;
      if (Date.now() > deadline) break;
      await sleep(500);
    }
  }
  return `could not destroy pool ${name}: ${last}`;
}

async function teardownImpl(): Promise<void> {
  const pending = bedPromise;
  if (pending) {
    // let an in-flight setup finish (its steps have timeouts), but don't wait forever
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      pending.then(() => undefined, () => undefined),
      new Promise<void>((r) => {
        timer = setTimeout(r, 60_000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
  const st = state;
  state = undefined;
  bedPromise = undefined;
  if (!st) return;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<string | undefined | void>): Promise<void> => {
    try {
      const p = await fn();
      if (p) problems.push(p);
    } catch (e) {
      problems.push(`${what}: ${errText(e)}`);
    }
  };

  for (const pool of [...st.pools].reverse()) {
    await attempt(`destroy pool ${pool}`, () => destroyPool(pool));
  }
  if (st.sshdStarted) await attempt('stop sshd', () => stopByPidFile(st.sshdPidFile, 'sshd'));
  if (st.nscaStarted) await attempt('stop nsca', () => stopByPidFile(st.nscaPidFile, 'nsca'));
  if (st.startedZfsFuse) {
    await attempt('stop zfs-fuse', async () => {
      const r = await stopByPidFile(st.zfsFusePidFile, 'zfs-fuse', false);
      if (!r) log('stopped zfs-fuse');
      return r;
    });
  }
  if (st.workdir) {
    const wd = st.workdir;
    await attempt(`remove ${wd}`, async () => {
      // never recurse into a still-mounted pool mountpoint
      const mounts = fs.readFileSync('/proc/mounts', 'utf8');
      const stillMounted = mounts
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m === wd || m.startsWith(wd + '/'));
      if (stillMounted.length) return `not removing ${wd}: still mounted: ${stillMounted.join(', ')}`;
      fs.rmSync(wd, { recursive: true, force: true });
      return undefined;
    });
  }
  if (problems.length) log(`teardown could not clean everything:\n  ${problems.join('\n  ')}`);
}

/** Tear down whatever getBed() created. Idempotent; never throws. */
export function teardownBed(): Promise<void> {
  if (!teardownPromise) {
    teardownPromise = teardownImpl()
      .catch((e) => log(`teardown failed: ${errText(e)}`))
      .finally(() => {
        teardownPromise = undefined;
      });
  }
  return teardownPromise;
}

/**
 * For a runner that starts several test processes at once (test/run.ts):
 * install the bed's packages and start zfs-fuse before any of them does,
 * so that they all reuse one daemon and none stops it under the others.
 * Resolves with a function that stops zfs-fuse again if this started it.
 */
export async function shareZfsFuse(workdir: string): Promise<() => Promise<void>> {
  await ensureBedPackages();
  const st: State = { prefix: '', pools: [], startedZfsFuse: false, sshdStarted: false, nscaStarted: false, workdir };
  await ensureZfsFuse(st);
  return async () => {
    if (!st.startedZfsFuse) return;
    const r = await stopByPidFile(st.zfsFusePidFile, 'zfs-fuse', false);
    if (r) log(r);
    else log('stopped zfs-fuse');
  };
}

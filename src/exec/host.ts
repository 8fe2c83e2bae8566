// A Host runs argv arrays, locally or over ssh. Nothing here ever builds a
// shell string except through quoteArgv, and only for the ssh remote command.
//
// Commands run through node:child_process, not execa (so do the streams,
// in runPipeline): loading execa costs ~45 ms of every start-up.
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshPercentEscape } from '../domain/names.js';
import { quoteArgv } from './quote.js';
import { spawnLocal } from './spawn.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** text written to the command's stdin */
  input?: string;
  /** kill the command after this many milliseconds */
  timeoutMs?: number;
}

/** A command that exited non-zero, could not start, or timed out. */
export class CommandError extends Error {
  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly reason: string,
  ) {
    super(`${host}: ${argv.join(' ')}: ${reason}${stderr.trim() ? `: ${firstLines(stderr)}` : ''}`);
    this.name = 'CommandError';
  }
}

function firstLines(text: string, max = 3): string {
  return text.trim().split('\n').slice(0, max).join(' / ');
}

export interface Host {
  /** the host as written in the config, 'localhost' for this machine */
  readonly name: string;
  readonly local: boolean;
  /** the argv to spawn on this machine so that `argv` runs on the host */
  wrap(argv: readonly string[]): string[];
  /** run argv; resolves with the result whatever the exit code */
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** run argv; rejects with CommandError unless it exits 0 */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * run several commands one after another, each whatever the others' exit
   * codes; over ssh in one session (one round trip). A result per command,
   * in order. Rejects only when the batch as a whole could not run.
   */
  batch(argvs: readonly (readonly string[])[], opts?: BatchOptions): Promise<RunResult[]>;
  /** resolves once the host can take commands without a new handshake each (ssh master up) */
  ready(): Promise<void>;
  /**
   * start connecting now, without running anything there (no ssh session),
   * so that the handshake overlaps this machine's own work; a failure shows
   * in the first command
   */
  open(): void;
}

export interface BatchOptions {
  /**
   * the first `guard` commands must all succeed for the rest to run; the
   * skipped ones get exitCode SKIPPED. Default 0: every command runs.
   */
  guard?: number;
}

/** exit code given to a batch command that did not run because a guard failed */
export const SKIPPED = -1;

export interface SshSettings {
  /** a known_hosts file to use instead of ssh's defaults */
  knownHosts?: string;
  connectTimeout: number;
  /** extra -o options, already validated as key=value */
  options: readonly string[];
}

export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
  key?: string;
}

interface Collected {
  stdout: string;
  stderr: string;
  /** null: it did not exit by itself (see signal, spawnError) */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError?: string;
}

/**
 * Run a command to its end and keep its output: stdin carries `input` (or
 * nothing), the environment gets LC_ALL=C (zfs's messages are matched in
 * English), a timeout sends SIGTERM. Never rejects.
 */
function collect(file: string, args: readonly string[], opts: RunOptions = {}): Promise<Collected> {
  return new Promise((resolve) => {
    const child = spawnLocal(file, args, ['pipe', 'pipe', 'pipe']);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
          }, opts.timeoutMs);
    const done = (exitCode: number | null, signal: string | null, spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const r: Collected = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode, signal, timedOut };
      if (spawnError !== undefined) r.spawnError = spawnError;
      resolve(r);
    };
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    // EPIPE when the command exits without reading its input
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
    // without a pid the command never started (ENOENT, EACCES): no 'close' to wait for
    child.once('error', (e: Error) => {
      if (child.pid === undefined) done(null, null, e.message);
    });
    // 'close', not 'exit': all of stdout and stderr has been read by then
    child.once('close', (code, signal) => done(timedOut ? null : code, signal));
  });
}

abstract class BaseHost implements Host {
  abstract readonly name: string;
  abstract readonly local: boolean;
  abstract wrap(argv: readonly string[]): string[];

  async exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = this.wrap(argv);
    const r = await collect(file!, args, opts);
    if (r.exitCode === null) {
      // never started, or killed by a signal / timeout
      const reason = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : r.signal ? `killed by ${r.signal}` : (r.spawnError ?? 'failed');
      throw new CommandError(this.name, argv, undefined, r.stderr, reason);
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.exec(argv, opts);
    if (r.exitCode !== 0) {
      throw new CommandError(this.name, argv, r.exitCode, r.stderr, `exit code ${r.exitCode}`);
    }
    return r;
  }

  async batch(argvs: readonly (readonly string[])[], opts: BatchOptions = {}): Promise<RunResult[]> {
    const out: RunResult[] = [];
    const guard = opts.guard ?? 0;
    for (const [i, a] of argvs.entries()) {
      const guardFailed = out.slice(0, guard).some((r) => r.exitCode !== 0);
      out.push(guardFailed && i >= guard ? { stdout: '', stderr: '', exitCode: SKIPPED } : await this.exec(a));
    }
    return out;
  }

  async ready(): Promise<void> {}

  open(): void {}
}

/**
 * A file name for an ssh -o option, read literally: ssh splits an option's
 * value at blanks unless it is in double quotes, and expands %-tokens in
 * file names. (A '"' or '${' cannot be passed at all; the settings refuse
 * them, see sshPathProblem.)
 */
export function sshFileOption(path: string): string {
  return `"${sshPercentEscape(path)}"`;
}

const MARK = '@@zettabee-batch:';

/**
 * One shell script for a batch: each command's output (stderr folded into
 * stdout) followed by a marker line with its index and exit status. Every
 * word goes through quoteArgv; nothing else is interpolated.
 */
export function batchScript(argvs: readonly (readonly string[])[], guard = 0): string {
  const lines = ['g=0'];
  argvs.forEach((a, i) => {
    lines.push(`${quoteArgv(a)} 2>&1; s=$?; echo; echo "${MARK}${i}:$s"`);
    if (i < guard) lines.push('[ $s -eq 0 ] || g=1');
    if (i === guard - 1) lines.push('[ $g -eq 0 ] || exit 0');
  });
  return lines.join('\n');
}

/** the argv (for Host.wrap) that runs a batch as one shell */
export function batchArgv(argvs: readonly (readonly string[])[], guard = 0): string[] {
  return ['sh', '-c', batchScript(argvs, guard)];
}

/** a batch's results from the output of the session that ran batchArgv; rejects when it did not finish */
export function readBatch(hostName: string, argvs: readonly (readonly string[])[], guard: number, r: RunResult): RunResult[] {
  const parsed = parseBatchOutput(r.stdout, argvs.length, guard);
  if (!parsed) throw new CommandError(hostName, batchArgv(argvs, guard), r.exitCode, r.stderr || r.stdout, `batch of ${argvs.length} commands did not finish (exit code ${r.exitCode})`);
  return parsed;
}

/** split a batch's stdout back into one result per command; null if a marker is missing */
export function parseBatchOutput(stdout: string, count: number, guard = 0): RunResult[] | null {
  const results: RunResult[] = [];
  let rest = stdout;
  for (let i = 0; i < count; i++) {
    // every marker follows a newline of its own, so output without a final newline survives
    const m = new RegExp(`\\n${MARK}${i}:(\\d+)\\n`).exec(rest);
    if (!m) {
      if (guard > 0 && i >= guard && results.slice(0, guard).some((r) => r.exitCode !== 0)) {
        results.push({ stdout: '', stderr: '', exitCode: SKIPPED });
        continue;
      }
      return null;
    }
    const text = rest.slice(0, m.index);
    results.push({ stdout: text, stderr: text, exitCode: Number(m[1]) });
    rest = rest.slice(m.index + m[0].length);
  }
  return results;
}

export class LocalHost extends BaseHost {
  readonly name = 'localhost';
  readonly local = true;
  wrap(argv: readonly string[]): string[] {
    return [...argv];
  }
}

/**
 * The control directory for ssh connection sharing: private (0700, from
 * mkdtemp), never a predictable path, removed when the run ends.
 */
export class SshControl {
  private dir: string | undefined;
  private readonly hosts = new Set<SshHost>();

  /**
   * `persist`: seconds a master stays up once idle (ssh ControlPersist);
   * the daemon keeps its masters up across its cycles
   */
  constructor(readonly persist = 60) {}

  /** the private directory, made on first use */
  controlDir(): string {
    if (!this.dir) {
      sweepControlDirs();
      this.dir = mkdtempSync(join(tmpdir(), 'zettabee-ssh-'));
    }
    return this.dir;
  }

  /**
   * a long-lived process's directory may have been swept away by another
   * run while all its masters were idle and gone (an empty directory older
   * than ten minutes): make a new one, so later masters have a place
   */
  ensureDir(): void {
    if (this.dir && !existsSync(this.dir)) this.dir = undefined;
  }

  /** the socket path as ssh takes it in -o ControlPath: %C is a hash of host, port and user, short enough for a socket */
  controlPath(): string {
    return `"${sshPercentEscape(this.controlDir())}/%C"`;
  }

  register(h: SshHost): void {
    this.hosts.add(h);
  }

  /** stop every master connection and remove the directory */
  async close(): Promise<void> {
    await Promise.all([...this.hosts].map((h) => h.closeMaster()));
    this.hosts.clear();
    // `ssh -O exit` returns before the master is gone; a master removes its
    // socket as it exits, so wait (briefly) for the sockets to go: the run's
    // ssh processes end with the run
    if (this.dir) await socketsGone(this.dir, 2000);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

async function socketsGone(dir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let left: string[];
    try {
      left = readdirSync(dir);
    } catch {
      return;
    }
    if (left.length === 0 || Date.now() >= deadline) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

const MAX_SESSIONS = 8;
const noop = () => {};

/**
 * A run killed with SIGKILL cannot remove its control directory; its master
 * exits by itself (ControlPersist) and takes the socket along, leaving the
 * directory empty. When the master was killed too (a whole service killed,
 * the OOM killer), its socket stays, with no one listening on it. Remove
 * such directories (zettabee-ssh-* in the temp directory, empty or holding
 * only dead sockets) whose modification time `due` accepts: by default those
 * older than any run could be. A socket a live process holds (listed in
 * /proc/net/unix) keeps its directory. The test runner calls it too, for
 * the directories made during its run.
 */
export function sweepControlDirs(due: (mtimeMs: number) => boolean = (t) => t < Date.now() - 10 * 60_000): void {
  let bound: readonly string[] | null | undefined;
  try {
    for (const name of readdirSync(tmpdir())) {
      if (!name.startsWith('zettabee-ssh-')) continue;
      const dir = join(tmpdir(), name);
      try {
        const st = lstatSync(dir);
        if (!st.isDirectory() || !due(st.mtimeMs)) continue;
        const left = readdirSync(dir).map((e) => join(dir, e));
        if (left.length) {
          if (bound === undefined) bound = boundSockets();
          const held = bound;
          if (held === null || !left.every((p) => lstatSync(p).isSocket() && !isHeld(held, p))) continue;
          for (const p of left) unlinkSync(p);
        }
        rmdirSync(dir);
      } catch {
        // in use, not ours to judge, or gone already
      }
    }
  } catch {
    // an unreadable temp dir is not worth failing a run over
  }
}

/**
 * The paths of the unix sockets bound in this network namespace (listening
 * or about to), from /proc/net/unix; null when it cannot be read (then every
 * socket counts as alive, and its directory stays)
 */
function boundSockets(): string[] | null {
  try {
    const paths: string[] = [];
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      // Num RefCount Protocol Flags Type St Inode Path
      const f = line.trim().split(/\s+/);
      if (f.length >= 8) paths.push(f.slice(7).join(' '));
    }
    return paths;
  } catch {
    return null;
  }
}

/**
 * whether a process holds the socket at p. ssh binds its master socket at
 * a temporary name (p.<random>) and links it into place, so /proc/net/unix
 * names the temporary one.
 */
function isHeld(bound: readonly string[], p: string): boolean {
  return bound.some((b) => b === p || b.startsWith(`${p}.`));
}

export class SshHost extends BaseHost {
  readonly local = false;
  readonly name: string;

  constructor(
    readonly target: SshTarget,
    readonly settings: SshSettings,
    private readonly control?: SshControl,
  ) {
    super();
    this.name = target.host;
    control?.register(this);
  }

  /** ssh options shared by every connection to this host */
  sshArgs(): string[] {
    const a = [
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `ConnectTimeout=${this.settings.connectTimeout}`,
      '-o', 'ServerAliveInterval=15',
      '-o', 'ServerAliveCountMax=4',
    ];
    if (this.settings.knownHosts) a.push('-o', `UserKnownHostsFile=${sshFileOption(this.settings.knownHosts)}`);
    if (this.control) {
      a.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${this.control.controlPath()}`, '-o', `ControlPersist=${this.control.persist}`);
    }
    for (const o of this.settings.options) a.push('-o', o);
    if (this.target.port !== undefined) a.push('-p', String(this.target.port));
    // not -i: ssh expands %-tokens in the key's name but looks for the file
    // under the name before expansion, and ignores an -i it does not find
    if (this.target.key !== undefined) a.push('-o', `IdentityFile=${sshFileOption(this.target.key)}`, '-o', 'IdentitiesOnly=yes');
    if (this.target.user !== undefined) a.push('-l', this.target.user);
    return a;
  }

  wrap(argv: readonly string[]): string[] {
    return ['ssh', ...this.sshArgs(), this.target.host, '--', quoteArgv(argv)];
  }

  // The first command opens the shared master connection; commands started
  // meanwhile wait for it instead of racing to open masters of their own.
  // At most MAX_SESSIONS run at once (sshd's MaxSessions is 10 by default).
  private warm: Promise<void> | undefined;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  override async exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (this.control && !this.warm) {
      const first = this.slot(() => super.exec(argv, opts));
      this.warm = first.then(noop, noop);
      return first;
    }
    await this.warm;
    return this.slot(() => super.exec(argv, opts));
  }

  // one way to bring the master up, whoever asks first: no session for it
  override async ready(): Promise<void> {
    this.open();
    await this.warm;
  }

  // `ssh -f -N` authenticates, becomes the master and goes to the background
  // with its output on /dev/null: the foreground process exits once the
  // connection is up (or failed), and opens no session on the server.
  override open(): void {
    if (!this.control || this.warm) return;
    const timeoutMs = (this.settings.connectTimeout + 10) * 1000;
    this.warm = collect('ssh', [...this.sshArgs(), '-f', '-N', this.target.host], { timeoutMs }).then(noop, noop);
  }

  override async batch(argvs: readonly (readonly string[])[], opts: BatchOptions = {}): Promise<RunResult[]> {
    if (argvs.length === 0) return [];
    const guard = opts.guard ?? 0;
    return readBatch(this.name, argvs, guard, await this.exec(batchArgv(argvs, guard)));
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= MAX_SESSIONS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  /**
   * for a long-lived process: whether the master connection still answers
   * (`ssh -O check`); when it died (the host rebooted, the network dropped
   * it), start a new one the way open() does, and say whether that one is
   * up. Never rejects: a host that cannot be reached shows in the next
   * command.
   */
  async revive(): Promise<'alive' | 'reopened' | 'down'> {
    if (!this.control) return 'alive';
    this.control.ensureDir();
    const check = () => collect('ssh', [...this.sshArgs(), '-O', 'check', this.target.host], { timeoutMs: 5000 });
    if (this.warm && (await check()).exitCode === 0) return 'alive';
    this.warm = undefined;
    this.open();
    await this.warm;
    return (await check()).exitCode === 0 ? 'reopened' : 'down';
  }

  async closeMaster(): Promise<void> {
    if (!this.control) return;
    await collect('ssh', [...this.sshArgs(), '-O', 'exit', this.target.host], { timeoutMs: 5000 });
  }
}

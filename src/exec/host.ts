// A Host runs argv arrays, locally or over ssh. Nothing here ever builds a
// shell string except through quoteArgv, and only for the ssh remote command.
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quoteArgv } from './quote.js';

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
}

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

abstract class BaseHost implements Host {
  abstract readonly name: string;
  abstract readonly local: boolean;
  abstract wrap(argv: readonly string[]): string[];

  async exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = this.wrap(argv);
    const r = await execa(file!, args, {
      reject: false,
      input: opts.input ?? '',
      timeout: opts.timeoutMs,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
    });
    if (r.failed && r.exitCode === undefined) {
      // never started, or killed by a signal / timeout
      const reason = r.timedOut
        ? `timed out after ${opts.timeoutMs} ms`
        : r.signal
          ? `killed by ${r.signal}`
          : (r.cause instanceof Error ? r.cause.message : r.shortMessage);
      throw new CommandError(this.name, argv, undefined, String(r.stderr ?? ""), reason ?? "failed");
    }
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 0 };
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.exec(argv, opts);
    if (r.exitCode !== 0) {
      throw new CommandError(this.name, argv, r.exitCode, r.stderr, `exit code ${r.exitCode}`);
    }
    return r;
  }
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

  controlPath(): string {
    if (!this.dir) this.dir = mkdtempSync(join(tmpdir(), 'zettabee-ssh-'));
    // %C is a hash of host, port and user: short enough for a socket path
    return join(this.dir, '%C');
  }

  register(h: SshHost): void {
    this.hosts.add(h);
  }

  /** stop every master connection and remove the directory */
  async close(): Promise<void> {
    await Promise.all([...this.hosts].map((h) => h.closeMaster()));
    this.hosts.clear();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
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
    if (this.settings.knownHosts) a.push('-o', `UserKnownHostsFile=${this.settings.knownHosts}`);
    if (this.control) {
      a.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${this.control.controlPath()}`, '-o', 'ControlPersist=60');
    }
    for (const o of this.settings.options) a.push('-o', o);
    if (this.target.port !== undefined) a.push('-p', String(this.target.port));
    if (this.target.key !== undefined) a.push('-i', this.target.key, '-o', 'IdentitiesOnly=yes');
    if (this.target.user !== undefined) a.push('-l', this.target.user);
    return a;
  }

  wrap(argv: readonly string[]): string[] {
    return ['ssh', ...this.sshArgs(), this.target.host, '--', quoteArgv(argv)];
  }

  async closeMaster(): Promise<void> {
    if (!this.control) return;
    await execa('ssh', [...this.sshArgs(), '-O', 'exit', this.target.host], { reject: false, timeout: 5000 });
  }
}

// Small process helpers of the OpenZFS guest harness: commands run from argv
// arrays (never a shell string, except the fixed scripts of scripts.ts),
// failures carry the command's output, long steps log to files.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export function log(msg: string): void {
  process.stderr.write(`[zettabee test bed] ${msg}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function tail(file: string, max = 2000): string {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return s.length > max ? `...${s.slice(-max)}` : s;
  } catch {
    return '';
  }
}

export interface HostRunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** append stdout and stderr to this file instead of keeping them */
  logFile?: string;
  input?: string | Buffer;
  /** resolve with the raw stdout bytes (as a latin1 string is useless for binaries) */
  binary?: boolean;
}

export interface HostExecResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

/** run a command on this machine to its end, whatever its exit status; never rejects for a status */
export function hostExec(file: string, args: readonly string[], opts: HostRunOptions = {}): Promise<HostExecResult> {
  return new Promise((resolve, reject) => {
    const fd = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
    const child = spawn(file, args, {
      env: { ...process.env, LC_ALL: 'C', ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', fd ?? 'pipe', fd ?? 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    const done = () => {
      clearTimeout(timer);
      if (fd !== undefined) fs.closeSync(fd);
    };
    child.once('error', (e) => {
      done();
      reject(new Error(`${file}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      done();
      resolve({ code, signal, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

export function hostRun(file: string, args: readonly string[], opts: HostRunOptions & { binary: true }): Promise<Buffer>;
export function hostRun(file: string, args: readonly string[], opts?: HostRunOptions): Promise<string>;
/** run a command on this machine; resolves with stdout, rejects with the command, status and stderr */
export async function hostRun(file: string, args: readonly string[], opts: HostRunOptions = {}): Promise<string | Buffer> {
  const r = await hostExec(file, args, opts);
  if (r.code === 0) return opts.binary ? r.stdout : r.stdout.toString('utf8');
  const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 120_000} ms` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  const text = r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim();
  const shown = [file, ...args].map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(' ');
  throw new Error(`${shown}: ${why}${text ? `: ${text.slice(-1500)}` : ''}`);
}

/** a fixed sh script with arguments ($1, $2, ...) */
export function sh(script: string, args: readonly string[] = [], opts: HostRunOptions = {}): Promise<string> {
  return hostRun('sh', ['-c', script, 'sh', ...args], opts);
}

/** run a named step; a failure names it, so the test run says which step broke */
export async function stepError<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`OpenZFS test bed: step failed: ${name}: ${msg}`, { cause: e });
  }
}

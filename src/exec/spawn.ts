// Every local process zettabee starts goes through spawnLocal(): a command
// (host.ts) or a stage of a stream (pipeline.ts).
//
// A long-running zettabee (the daemon) keeps a few spare processes: shells
// forked ahead of time, while nothing waits for them, each blocked reading
// one line on its stdin. spawnLocal() hands the command to a spare, which
// execs it at once: same pid, same pipes, so the caller sees the command's
// exit code and output as from a spawn. What that saves is node's fork: it
// copies the page tables of a ~70 MB process and blocks node until the child
// has exec'd, 1 to 4 ms here, against ~0.1 ms for a line to a spare. An
// update's snapshot and its zfs send start that much sooner.
//
// A spare that is never used exits when its stdin closes: when the daemon
// ends the pool, or when the daemon itself is gone (even after kill -9).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { onPath } from '../transport/meter.js';
import { quoteWord } from './quote.js';

/**
 * what a spare runs: one line from stdin, evaluated (lineFor); a newline in
 * a word travels as "$zettabee_nl", so the line stays one line
 */
export const SPARE_SCRIPT = "IFS= read -r zettabee_command || exit 0; zettabee_nl='\n'; eval \"$zettabee_command\"";

/** how long an idle spare gets to see its stdin end before it is killed */
const CLOSE_WAIT_MS = 2000;

/** the environment of every local process: zfs's messages are matched in English */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C' };
}

export class Spares {
  private idle: ChildProcess[] = [];
  private closed = false;
  private refilling = false;

  constructor(readonly size: number) {}

  /** fork spares until `size` wait (call it when no run waits for node) */
  fill(): void {
    while (this.forkOne());
  }

  /**
   * the same, one fork per turn of the event loop: another run's processes
   * (another job's) wait at most one fork for it, not all of them
   */
  refill(): void {
    if (this.refilling) return;
    this.refilling = true;
    const next = (): void => {
      if (this.forkOne()) setImmediate(next);
      else this.refilling = false;
    };
    setImmediate(next);
  }

  /** one more spare; false when full, closed, or the fork failed */
  private forkOne(): boolean {
    if (this.closed || this.idle.length >= this.size) return false;
    const c = spawn('/bin/sh', ['-c', SPARE_SCRIPT, 'zettabee-spare'], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    if (c.pid === undefined) {
      // cannot fork now (EAGAIN, ENOMEM): runs spawn as without spares
      c.on('error', () => {});
      return false;
    }
    c.stdin!.on('error', () => {});
    // a spare killed while idle leaves the pool
    c.once('exit', () => (this.idle = this.idle.filter((x) => x !== c)));
    this.idle.push(c);
    return true;
  }

  /** how many wait */
  get waiting(): number {
    return this.idle.length;
  }

  /** a spare running argv now, or undefined when none waits */
  take(argv: readonly string[]): ChildProcess | undefined {
    for (;;) {
      const c = this.idle.shift();
      if (!c) return undefined;
      if (c.exitCode !== null || c.signalCode !== null || !c.stdin?.writable) continue;
      c.stdin.write(`${lineFor(argv)}\n`);
      return c;
    }
  }

  /** no more spares: the idle ones exit (their stdin ends); resolves once they have */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle;
    this.idle = [];
    await Promise.all(
      idle.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), CLOSE_WAIT_MS);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.stdin?.end();
          }),
      ),
    );
  }
}

/**
 * The line a spare evaluates: `exec` of the command; for `sh -c SCRIPT NAME
 * ARGS...` (zfs send's pid wrapper), SCRIPT itself with ARGS as "$@", in
 * the spare's own shell, one exec fewer ($0 is the spare's, $$ the same pid)
 */
export function lineFor(argv: readonly string[]): string {
  const [file, flag, script] = argv;
  if ((file === 'sh' || file === '/bin/sh') && flag === '-c' && script !== undefined && !script.includes('\n')) {
    const args = argv.slice(4);
    return `set --${args.length ? ` ${args.map(oneLineWord).join(' ')}` : ''}; ${script}`;
  }
  return `exec ${argv.map(oneLineWord).join(' ')}`;
}

/** a word quoted for the spare's shell, its newlines as "$zettabee_nl" */
function oneLineWord(word: string): string {
  return word.includes('\n') ? word.split('\n').map((part) => (part === '' ? "''" : quoteWord(part))).join('"$zettabee_nl"') : quoteWord(word);
}

let spares: Spares | undefined;

/** the daemon's pool, or none (a cron run forks each process itself) */
export function useSpares(s: Spares | undefined): void {
  spares = s;
}

/**
 * Start file with args, stdout and stderr piped. stdin: 'pipe' (the caller
 * writes and ends it) or 'ignore' (an empty stdin; from a spare, a pipe ended
 * at once). Anything else, and a command a spare could not find (so that a
 * missing program fails as a spawn does, ENOENT), forks as usual.
 */
export function spawnLocal(file: string, args: readonly string[], stdio: StdioOptions): ChildProcess {
  const c = spares && spareFits(file, stdio) ? spares.take([file, ...args]) : undefined;
  if (!c) return spawn(file, args, { stdio, env: childEnv() });
  if (Array.isArray(stdio) && stdio[0] === 'ignore') c.stdin!.end();
  return c;
}

function spareFits(file: string, stdio: StdioOptions): boolean {
  if (!Array.isArray(stdio) || stdio.length !== 3 || stdio[1] !== 'pipe' || stdio[2] !== 'pipe') return false;
  if (stdio[0] !== 'pipe' && stdio[0] !== 'ignore') return false;
  return isAbsolute(file) || (!file.includes('/') && onPath(file));
}

// One side of a stream that runs on a remote host: its processes (zfs send,
// a compressor, mbuffer...) form a pipeline there, started through ssh as ONE
// command string. The string is built from argvs only: each process runs
// under a fixed wrapper script (its words are arguments, never script text),
// the wrapped argvs are quoted with quoteArgv and joined by ' | ', and the
// whole runs under `sh -c` (POSIX sh, possibly dash without pipefail).
//
// The wrapper does two things a plain `a | b` cannot:
// - exit status: every process reports its own status on stderr in a marker
//   line (@@zettabee-exit:<index>:<status>), so a failure of any process is
//   visible although the shell returns only the last one's status;
// - dying with the connection: killing the local ssh client does not kill
//   the remote processes (sshd sends no SIGHUP without a tty, and a stopped or
//   blocked process never notices the closed channel). The first process's
//   wrapper, when asked to "watch", keeps the session's stdin on fd 3 (the
//   processes get /dev/null) and reads it in a background subshell; this
//   machine keeps that stdin open and never writes to it. EOF (the ssh client
//   ended for any reason: our kill, a crash of zettabee, a dropped network)
//   sends SIGTERM and SIGCONT to the session's process group (sshd puts each
//   session in its own), then SIGKILL after a few seconds. The ssh client
//   itself exits only once the remote processes have closed their output,
//   so "the stage ended" means "nothing of it is left on the remote host".
// A side whose stdin carries the stream (the receiving side of the ssh
// transport) cannot watch; it ends with its stream (EOF: the receive fails).
//
// A side may be followed by more work in the same session (`then`: the
// guid check of the received snapshot after zfs receive), which runs only
// when the last process of the pipeline exited 0, saving a session before
// the status can say Synchronized. Its
// output is then all the session's stdout carries: the last process's
// stdout goes to stderr.
import { quoteArgv } from '../exec/quote.js';
import type { StageMonitor, StageOutcome } from './pipeline.js';

/** seconds between SIGTERM and SIGKILL on the remote side after the connection ended */
export const REMOTE_KILL_GRACE = 3;

const MARK = '@@zettabee-exit:';

/**
 * The wrapper: `sh -c WRAPPER zettabee <index> <watch 0|1> argv...`. Fixed
 * text; the command arrives as "$@". Only shell builtins wait on fd 3. One
 * line and no single quotes, so it stays legible after two rounds of
 * quoteArgv (in ps output on the remote host, for one).
 *
 * The watcher outlives the wrapper on purpose: it also fires when the
 * session ends normally (sshd closes the stdin pipe), and then finds only
 * itself, or a straggler that is better killed. `trap : TERM` keeps it alive
 * through its own SIGTERM. Its output goes nowhere, so it never holds the
 * session open; a process of its own, so its command line does not repeat
 * the command's.
 */
export const WRAPPER =
  'i=$1 w=$2; shift 2; ' +
  'if [ "$w" = 1 ]; then ' +
  'exec 3<&0 </dev/null; ' +
  `sh -c "while read -r _ <&3; do :; done; trap : TERM; kill -TERM 0; kill -CONT 0; sleep ${REMOTE_KILL_GRACE}; kill -KILL 0" zettabee-watch >/dev/null 2>&1 & ` +
  '"$@" 3<&-; ' +
  'else "$@"; fi; ' +
  's=$?; ' +
  `printf "\\n${MARK}%s:%s\\n" "$i" "$s" >&2; ` +
  'exit "$s"';

export interface RemotePart {
  /** 'zfs send', 'mbuffer', 'zstd': how the process is named in messages */
  name: string;
  argv: string[];
}

/** the exit marker of process 0, its status in $s */
const MARK_ALONE = `printf "\\n${MARK}0:%s\\n" "$s" >&2; `;

/**
 * The wrapper of a side of one process that does not watch (a receiving
 * side: zfs receive alone), run by the session's own sh instead of a second
 * one, with `then` (a batch script: `sh -c SCRIPT`) run by that sh too. Two
 * shells fewer per session, each of which costs a slow host (an emulated
 * guest) 20 ms.
 */
export const WRAPPER_ALONE = `"$@"; s=$?; ${MARK_ALONE}exit "$s"`;

/** the argv (for Host.wrap) that runs parts as one pipeline on the host; watch and then: see above */
export function remotePipelineArgv(parts: readonly RemotePart[], opts: { watch: boolean; then?: readonly string[] }): string[] {
  if (parts.length === 0) throw new Error('remotePipelineArgv: no process');
  if (parts.length === 1 && !opts.watch) {
    const argv = parts[0]!.argv;
    if (!opts.then) return ['sh', '-c', WRAPPER_ALONE, 'zettabee', ...argv];
    const [shell, flag, script, ...rest] = opts.then;
    if (shell === 'sh' && flag === '-c' && script !== undefined && rest.length === 0) {
      // `"$@" >&2 && then </dev/null`, the batch's script in a group of this shell (its `exit 0` ends the session, as its own sh did)
      const body = `"$@" >&2; s=$?; ${MARK_ALONE}[ "$s" -eq 0 ] || exit "$s"\n{\n${script}\n} </dev/null`;
      return ['sh', '-c', body, 'zettabee', ...argv];
    }
  }
  const words = parts.map((p, i) => quoteArgv(['sh', '-c', WRAPPER, 'zettabee', String(i), opts.watch && i === 0 ? '1' : '0', ...p.argv]));
  const pipeline = words.join(' | ');
  // `a | b >&2 && c`: c runs only when b (whose status the pipeline takes) succeeded
  return ['sh', '-c', opts.then ? `${pipeline} >&2 && ${quoteArgv(opts.then)} </dev/null` : pipeline];
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };

/**
 * Reads the exit markers of a remote pipeline (dropping them from stderr)
 * and, once the ssh client has exited, blames the process that failed
 * first: its name, on the host, becomes the stage's name, its status the
 * stage's exit code (or signal, for 128+n). Statuses that only follow from
 * another process's end (141: SIGPIPE, 143: our SIGTERM) are passed over
 * when another process failed.
 */
export class ExitMarkers implements StageMonitor {
  readonly statuses: Array<{ index: number; status: number }> = [];

  /** `onStatus`: told each process's status as its marker arrives (before the session ends) */
  constructor(
    private readonly parts: readonly RemotePart[],
    private readonly hostName: string,
    private readonly onStatus?: (index: number, status: number) => void,
  ) {}

  line(text: string) {
    const t = text.trim();
    if (t === '') return { keep: false };
    if (!t.startsWith(MARK)) return undefined;
    const m = /^@@zettabee-exit:(\d+):(\d+)$/.exec(t);
    if (m) {
      const s = { index: Number(m[1]), status: Number(m[2]) };
      this.statuses.push(s);
      try {
        this.onStatus?.(s.index, s.status);
      } catch {
        // a broken callback must not turn the marker into stderr text
      }
    }
    return { keep: false };
  }

  /** the failed process to blame, if any */
  culprit(): { part: RemotePart; status: number } | undefined {
    const bad = this.statuses.filter((s) => s.status !== 0 && this.parts[s.index]);
    const pick = bad.find((s) => s.status !== 141 && s.status !== 143) ?? bad[0];
    return pick ? { part: this.parts[pick.index]!, status: pick.status } : undefined;
  }

  settle(o: StageOutcome): void {
    const c = this.culprit();
    if (!c) return;
    o.name = `${c.part.name} on ${this.hostName}`;
    delete o.exitCode;
    delete o.signal;
    if (c.status > 128 && c.status - 128 < 32) o.signal = SIGNALS[c.status - 128] ?? `signal ${c.status - 128}`;
    else o.exitCode = c.status;
    // the stderr text mixes every process's lines: a neighbour's "Broken pipe"
    // must not excuse a process that was killed outright
    if (c.status === 141 || c.status === 143) o.own = false;
    else if (c.status > 128) o.own = true;
    // the shell's "command not found"
    if (c.status === 127) {
      o.diagnosis = `${c.part.argv[0]} was not found on ${this.hostName}`;
      o.hint = `install it there (or put it on the PATH of the ssh user); zettabee setup checks the tools a pair needs`;
    }
  }
}

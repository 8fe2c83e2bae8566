// pv as the meter of a local stream. Bytes that pass through this process
// cost a local transfer about a fifth of its throughput here (every chunk is
// read into Node and written out again, competing for the CPU with zfs), so
// on a local link zettabee hands zfs send's output straight to the next
// process and lets pv count: pv moves the data with splice(2) where it can
// and prints the running total, which feeds progress, the stall watchdog
// and the byte count of the log's END line. Without pv the link goes through
// this process as before.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { LineVerdict, StageMonitor } from './pipeline.js';

/** pv, forced to report (its stderr is no terminal), as a plain byte count every `intervalS` seconds */
export function pvArgv(intervalS = 1): string[] {
  return ['pv', '-f', '-n', '-b', '-i', String(intervalS)];
}

/** reads pv -n -b: each line is the number of bytes so far; anything else is kept as pv's own message */
export class PvMeter implements StageMonitor {
  readonly meters = true;

  line(text: string): LineVerdict | undefined {
    const t = text.trim();
    if (!/^\d+$/.test(t)) return undefined;
    return { bytes: Number(t), keep: false };
  }

  /** present so the runner reads pv's stderr to its end (the final count) before it reports */
  settle(): void {}
}

/**
 * A local process whose stream bypasses zettabee would go on if zettabee
 * died (kill -9, the OOM killer): a transfer nobody watches, still running
 * when the operator runs `unlock` and the next update. Wrapped in this, it
 * gets a watcher that holds fd 3 (the stage's fd3: 'hold', a pipe zettabee
 * keeps open) and sends the process SIGTERM when that pipe reaches EOF while
 * the process still runs; the chain then breaks and zfs receive discards the
 * incomplete stream. The command is exec'd, so it keeps the shell's pid, and
 * its signals and exit status are its own. At a normal end the watcher finds
 * the process gone (its /proc entry no longer names the command) and exits.
 * Fixed text; the command arrives as "$@".
 */
export const DIE_WITH_US =
  '{ while read -r _ <&3; do :; done; [ "$(cat /proc/$$/comm 2>/dev/null)" = "${1##*/}" ] && kill -TERM $$; } </dev/null >/dev/null 2>&1 & ' +
  'exec 3<&-; exec "$@"';

/** argv running `argv` under DIE_WITH_US (its stage needs fd3: 'hold') */
export function dieWithUs(argv: readonly string[]): string[] {
  return ['sh', '-c', DIE_WITH_US, 'zettabee-meter', ...argv];
}

/** true when an executable `tool` is on PATH (no process started) */
export function onPath(tool: string, path: string = process.env.PATH ?? ''): boolean {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

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

// pre= and post= hooks: an admin's command run on this host (where zettabee
// runs) around the pair's snapshot. From an argv, never through a shell
// (the admin writes /bin/sh -c '...' for one), in a process group of its
// own so that a timeout or an abort kills everything it started. Its
// output goes to the pair's log; the environment names the pair and the
// snapshot.
import { execa } from 'execa';
import type { Pair } from '../config/pairs.js';
import { DEFAULT_HOOK_TIMEOUT } from '../config/keys.js';
import { quoteArgv } from '../exec/quote.js';
import type { PairLog } from '../state/log.js';
import { pairEndpoint } from './pair-run.js';

export type HookName = 'pre' | 'post';

/** lines of a hook's output kept in the log, per stream */
const OUTPUT_LINES = 20;

export interface HookContext {
  pair: Pair;
  action: 'initialize' | 'update';
  /** the snapshot's short name (after the '@') */
  snapshot: string;
  /** post: whether the snapshot was taken */
  taken?: boolean;
}

/** the environment a hook sees on top of zettabee's own */
export function hookEnv(which: HookName, c: HookContext): Record<string, string> {
  const { pair } = c;
  return {
    ZETTABEE_HOOK: which,
    ZETTABEE_ACTION: c.action,
    ZETTABEE_PAIR: pair.label,
    ZETTABEE_FINGERPRINT: pair.fingerprint,
    ZETTABEE_SOURCE: pairEndpoint(pair.source),
    ZETTABEE_SOURCE_HOST: pair.source.host,
    ZETTABEE_SOURCE_DATASET: pair.source.dataset,
    ZETTABEE_DESTINATION: pairEndpoint(pair.destination),
    ZETTABEE_DESTINATION_HOST: pair.destination.host,
    ZETTABEE_DESTINATION_DATASET: pair.destination.dataset,
    ZETTABEE_SNAPSHOT: `${pair.source.dataset}@${c.snapshot}`,
    ZETTABEE_SNAPSHOT_NAME: c.snapshot,
    ...(c.taken !== undefined ? { ZETTABEE_SNAPSHOT_TAKEN: c.taken ? 'yes' : 'no' } : {}),
  };
}

export function hookTimeout(pair: Pair): number {
  return pair.options.hook_timeout ?? DEFAULT_HOOK_TIMEOUT;
}

/** what the plan says of a hook */
export function describeHook(which: HookName, pair: Pair): string | undefined {
  const argv = pair.options[which];
  if (!argv) return undefined;
  const when = which === 'pre' ? 'before the snapshot; if it fails, no snapshot and the run fails' : 'after the snapshot; if it fails, a warning';
  return `run the ${which} hook on this host (${when}; killed after ${hookTimeout(pair)} s): ${quoteArgv(argv)}`;
}

function tail(text: string): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.length > OUTPUT_LINES ? [`(${lines.length - OUTPUT_LINES} earlier lines left out)`, ...lines.slice(-OUTPUT_LINES)] : lines;
}

/**
 * Run the pair's hook; null when it succeeded (or there is none), else
 * what went wrong, in one line.
 */
export async function runHook(which: HookName, c: HookContext, log: PairLog, signal?: AbortSignal): Promise<string | null> {
  const argv = c.pair.options[which];
  if (!argv) return null;
  const seconds = hookTimeout(c.pair);
  log.info(`${which} hook: ${quoteArgv(argv)}`);
  const started = Date.now();
  const child = execa(argv[0]!, argv.slice(1), {
    reject: false,
    stdin: 'ignore',
    all: true,
    detached: true,
    cleanup: true,
    env: hookEnv(which, c),
    stripFinalNewline: true,
    maxBuffer: 16 * 1024 * 1024,
  });
  let why: 'timeout' | 'abort' | null = null;
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 2000).unref();
  };
  const timer = setTimeout(() => {
    why = 'timeout';
    killGroup();
  }, seconds * 1000);
  const onAbort = () => {
    why = 'abort';
    killGroup();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let r;
  try {
    r = await child;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  const out = tail(String(r.all ?? ''));
  for (const l of out) log.info(`${which} hook: | ${l}`);
  if (why === 'timeout') return `the ${which} hook did not finish within ${seconds} s (hook_timeout) and was killed`;
  if (why === 'abort') return `the ${which} hook was stopped: the run was aborted`;
  if (r.failed) {
    const last = out[out.length - 1];
    const how = r.exitCode !== undefined ? `exit ${r.exitCode}` : r.signal ? `killed by ${r.signal}` : ((r.shortMessage ?? '').split('\n')[0] || 'did not run');
    return `the ${which} hook failed (${how})${last ? `: ${last}` : ''}`;
  }
  log.info(`${which} hook: done in ${took} s`);
  return null;
}

// A stream pipeline as data (stages, each an argv on a Host), and the runner
// that carries it out: stdout of stage i feeds stdin of stage i+1, bytes are
// counted on the first link, and a failure in any stage kills every stage and
// is reported with the failing stage's name and stderr.
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import type { Host } from '../exec/host.js';

export interface Stage {
  /** short name for messages: 'zfs send on src.example.org' */
  name: string;
  host: Host;
  /** the command as it runs on host (the runner spawns host.wrap(argv)) */
  argv: string[];
}

export interface PipelineSpec {
  /** at least two stages; data flows from stages[0] to the last */
  stages: Stage[];
}

export interface Progress {
  /** bytes that passed the first link so far */
  bytes: number;
  /** seconds since the pipeline started */
  seconds: number;
}

export interface RunPipelineOptions {
  /** called at most every progressIntervalMs while data flows, and once at the end */
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** abort: kill every stage; the run rejects with PipelineError (reason 'aborted') */
  signal?: AbortSignal;
  /** kill every stage when no byte has moved for this long; reason 'stalled' (0 or absent: never) */
  stallMs?: number;
  /** after SIGTERM, wait this long before SIGKILL (default 5000) */
  killGraceMs?: number;
  /** keep the last 64 KiB of the last stage's stdout in result.stdout (otherwise it is discarded) */
  captureStdout?: boolean;
}

export interface StageOutcome {
  name: string;
  exitCode?: number;
  signal?: string;
  /** the last 64 KiB of stderr */
  stderr: string;
  /** true when the runner killed it because another stage failed / abort / stall */
  killedByUs: boolean;
  /** set when the command could not be started at all (e.g. 'spawn /x ENOENT') */
  spawnError?: string;
  /** the local process id (for ssh stages: the ssh client) */
  pid?: number;
}

export interface PipelineResult {
  bytes: number;
  seconds: number;
  stages: StageOutcome[];
  /** the last stage's stdout (last 64 KiB), only with captureStdout */
  stdout?: string;
}

export class PipelineError extends Error {
  constructor(
    message: string,
    /** the stage blamed: the first to fail on its own (not SIGPIPE/EPIPE, not killed by us); null for abort/stall */
    readonly culprit: StageOutcome | null,
    readonly reason: 'failed' | 'aborted' | 'stalled',
    readonly result: PipelineResult,
  ) {
    super(message);
    this.name = 'PipelineError';
  }
}

/** 'zfs send on A | zfs receive on B', for logs */
export function describeStages(spec: PipelineSpec): string {
  return spec.stages.map((s) => s.name).join(' | ');
}

const RING_BYTES = 64 * 1024;
/** the start of stderr is kept apart: the first lines explain a failure best */
const HEAD_BYTES = 4 * 1024;
/**
 * After a stage fails, wait this long before killing the others: a stage that
 * already died on its own gets reported first and is not marked killedByUs,
 * and its stderr has time to arrive (exit can be seen before the last read).
 */
const SETTLE_MS = 100;
/** once every stage has exited, wait at most this long for stdio to drain */
const DRAIN_OK_MS = 2000;
const DRAIN_FAILED_MS = 250;

/** keeps the last `limit` bytes of a stream without copying each chunk */
class Ring {
  private chunks: Buffer[] = [];
  private size = 0;
  private head: Buffer[] = [];
  private headSize = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.headSize < HEAD_BYTES) {
      const part = chunk.subarray(0, HEAD_BYTES - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks, this.size);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }

  headText(): string {
    return Buffer.concat(this.head, this.headSize).toString('utf8');
  }
}

interface Live {
  stage: Stage;
  child: ResultPromise;
  stdin: Writable | null;
  stdout: Readable;
  stderrStream: Readable;
  stderr: Ring;
  outcome: StageOutcome;
  done: boolean;
  /** order in which stages were seen to end */
  seq: number;
}

function firstLines(text: string, max = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, max)
    .join(' / ');
}

function failed(o: StageOutcome): boolean {
  return o.spawnError !== undefined || o.signal !== undefined || o.exitCode !== 0;
}

/**
 * A failure caused by another stage dying: we killed it, or its reader went
 * away (SIGPIPE, or EPIPE turned into an error exit; 141 = 128+SIGPIPE as a
 * shell wrapper reports it). Node connects children through socketpairs, not
 * pipes: a writer whose reader vanished with unread data gets ECONNRESET
 * ('Connection reset by peer') rather than EPIPE.
 */
function consequence(o: StageOutcome): boolean {
  return (
    o.killedByUs ||
    o.signal === 'SIGPIPE' ||
    o.exitCode === 141 ||
    /broken pipe|EPIPE|connection reset by peer|ECONNRESET/i.test(o.stderr)
  );
}

function describeFailure(live: Live): string {
  const o = live.outcome;
  if (o.spawnError !== undefined) return `${o.name} failed (could not start: ${o.spawnError})`;
  const how = o.signal !== undefined ? `killed by ${o.signal}` : `exit code ${o.exitCode}`;
  const err = firstLines(live.stderr.headText());
  return `${o.name} failed (${how})${err ? `: ${err}` : ''}`;
}

/** resolves when every stage exited 0; otherwise rejects with PipelineError once every stage is gone */
export async function runPipeline(spec: PipelineSpec, opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const stages = spec.stages;
  if (stages.length === 0) throw new Error('runPipeline: no stages');
  const killGraceMs = opts.killGraceMs ?? 5000;
  const progressMs = opts.progressIntervalMs ?? 1000;
  const stallMs = opts.stallMs ?? 0;
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;

  if (opts.signal?.aborted) {
    const outcomes = stages.map((s) => ({ name: s.name, stderr: '', killedByUs: false }));
    throw new PipelineError('aborted', null, 'aborted', { bytes: 0, seconds: 0, stages: outcomes });
  }

  let bytes = 0;
  /** bytes over every link: any movement counts against a stall */
  let moved = 0;
  let seq = 0;
  let endReason: 'aborted' | 'stalled' | undefined;
  let killing = false;
  let settleTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  const stdoutRing = opts.captureStdout ? new Ring(RING_BYTES) : undefined;

  let allDone!: () => void;
  const allDonePromise = new Promise<void>((r) => (allDone = r));
  const lives: Live[] = [];

  const killAll = (): void => {
    if (killing) return;
    killing = true;
    clearTimeout(settleTimer);
    const running = lives.filter((l) => !l.done);
    for (const l of running) {
      l.outcome.killedByUs = true;
      l.child.kill('SIGTERM');
    }
    if (running.length > 0) {
      killTimer = setTimeout(() => {
        for (const l of lives) if (!l.done) l.child.kill('SIGKILL');
      }, killGraceMs);
    }
  };

  const finish = (l: Live, exitCode: number | null, signal: string | null, spawnError?: string): void => {
    if (l.done) return;
    l.done = true;
    l.seq = seq++;
    if (spawnError !== undefined) l.outcome.spawnError = spawnError;
    else if (signal !== null) l.outcome.signal = signal;
    else l.outcome.exitCode = exitCode ?? undefined;
    if (failed(l.outcome) && !killing && settleTimer === undefined) settleTimer = setTimeout(killAll, SETTLE_MS);
    if (lives.every((x) => x.done)) allDone();
  };

  // wrap every argv before spawning anything: a bad stage must not leave others running
  const argvs = stages.map((s) => s.host.wrap(s.argv));
  const empty = argvs.findIndex((a) => a.length === 0);
  if (empty >= 0) throw new Error(`runPipeline: stage ${stages[empty]!.name} has an empty command`);

  for (const [i, stage] of stages.entries()) {
    const [file, ...args] = argvs[i]!;
    const child = execa(file!, args, {
      // the first stage reads nothing: a closed stdin, as in `cmd </dev/null`
      stdin: i === 0 ? 'ignore' : 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      // we consume every stream ourselves; execa must not buffer a stream of terabytes
      buffer: false,
      env: { LC_ALL: 'C' },
      stripFinalNewline: false,
      cleanup: true,
      reject: false,
      // we escalate to SIGKILL ourselves after killGraceMs
      forceKillAfterDelay: false,
    });
    const live: Live = {
      stage,
      child,
      stdin: child.stdin,
      stdout: child.stdout,
      stderrStream: child.stderr,
      stderr: new Ring(RING_BYTES),
      outcome: { name: stage.name, stderr: '', killedByUs: false, pid: child.pid },
      done: false,
      seq: -1,
    };
    lives.push(live);
    child.stderr.on('data', (c: Buffer) => live.stderr.push(c));
    child.stderr.on('error', () => {});
    child.stdout.on('error', () => {});
    // EPIPE when the stage dies before reading everything: handled via 'close' below
    child.stdin?.on('error', () => {});
    child.on('exit', (code, sig) => finish(live, code, sig));
    // 'error' without a pid: the command never started (ENOENT, EACCES); no 'exit' follows
    child.on('error', (e: Error) => {
      if (child.pid === undefined) finish(live, null, null, e.message);
    });
    // execa resolves (never rejects with reject: false); an early spawn error only shows here
    child.then(
      (r) => {
        if (!live.done && child.pid === undefined) finish(live, null, null, r.failed ? (r.cause instanceof Error ? r.cause.message : r.shortMessage) : undefined);
      },
      () => {},
    );
  }

  // Connect the links. Node's pipe() respects backpressure. Measured: a 1 MiB
  // highWaterMark on the writable (or a 1 MiB PassThrough in between) made no
  // difference beyond noise; the per-chunk cost (libuv reads at most 64 KiB,
  // each into a fresh buffer) dominates, so the defaults stay.
  const linksOpen = new Set<number>();
  for (let i = 0; i + 1 < lives.length; i++) {
    const src = lives[i]!.stdout;
    const dst = lives[i + 1]!.stdin!;
    linksOpen.add(i);
    if (i === 0) src.on('data', (c: Buffer) => { bytes += c.length; moved += c.length; });
    else src.on('data', (c: Buffer) => { moved += c.length; });
    src.pipe(dst);
    dst.once('finish', () => linksOpen.delete(i));
    // The reader is gone (exited, or EPIPE): close our read end so the writer
    // gets SIGPIPE/EPIPE/ECONNRESET as in a shell pipe, instead of blocking
    // forever on a full socket that nobody reads.
    dst.once('close', () => {
      linksOpen.delete(i);
      if (!src.readableEnded) {
        src.unpipe(dst);
        src.destroy();
      }
    });
  }
  // never let the last stage block on a full stdout pipe
  const last = lives[lives.length - 1]!.stdout;
  last.on('data', (c: Buffer) => stdoutRing?.push(c));

  const onAbort = (): void => {
    endReason ??= 'aborted';
    killAll();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  if (stallMs > 0) {
    let lastMoved = -1;
    let lastMoveAt = performance.now();
    stallTimer = setInterval(() => {
      const now = performance.now();
      // once every link has delivered its EOF the last stages may legitimately
      // work a while without data moving (zfs receive committing): no stall then
      if (moved !== lastMoved || linksOpen.size === 0) {
        lastMoved = moved;
        lastMoveAt = now;
      } else if (now - lastMoveAt >= stallMs && !killing) {
        endReason ??= 'stalled';
        killAll();
      }
    }, Math.max(10, Math.min(1000, stallMs / 4)));
  }

  const progress = (): void => {
    try {
      opts.onProgress?.({ bytes, seconds: seconds() });
    } catch {
      // a broken progress callback must not take the transfer down with it
    }
  };
  if (opts.onProgress) {
    let reported = -1;
    progressTimer = setInterval(() => {
      if (bytes !== reported) {
        reported = bytes;
        progress();
      }
    }, progressMs);
  }

  await allDonePromise;
  clearTimeout(settleTimer);
  clearTimeout(killTimer);
  clearInterval(stallTimer);
  clearInterval(progressTimer);
  opts.signal?.removeEventListener('abort', onAbort);

  const anyFailed = lives.some((l) => failed(l.outcome));
  // Let the last stderr (and captured stdout) arrive, but do not wait for
  // pipes that an orphaned grandchild keeps open.
  const drainMs = anyFailed || endReason ? DRAIN_FAILED_MS : DRAIN_OK_MS;
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(lives.map((l) => l.child.then(() => {}, () => {}))),
    new Promise<void>((r) => (drainTimer = setTimeout(r, drainMs))),
  ]);
  clearTimeout(drainTimer);
  for (const l of lives) {
    l.stdin?.destroy();
    l.stdout.destroy();
    l.stderrStream.destroy();
    l.outcome.stderr = l.stderr.text();
  }

  const result: PipelineResult = { bytes, seconds: seconds(), stages: lives.map((l) => l.outcome) };
  if (stdoutRing) result.stdout = stdoutRing.text();
  progress();

  if (endReason === 'aborted') throw new PipelineError('aborted', null, 'aborted', result);
  if (endReason === 'stalled') {
    throw new PipelineError(`no data moved for ${+(stallMs / 1000).toFixed(1)} s; killed the pipeline`, null, 'stalled', result);
  }
  if (!anyFailed) return result;

  const byTime = lives.filter((l) => failed(l.outcome)).sort((a, b) => a.seq - b.seq);
  const culprit = byTime.find((l) => !consequence(l.outcome)) ?? byTime[0]!;
  throw new PipelineError(describeFailure(culprit), culprit.outcome, 'failed', result);
}

// A stream pipeline as data (stages, each an argv on a Host), and the runner
// that carries it out: stdout of stage i feeds stdin of stage i+1 (a "link"),
// bytes are counted on one link, and a failure in any stage kills every stage
// and is reported with the failing stage's name and stderr.
//
// A pipeline may hold several chains that do not pass data through this
// machine (mbuffer over TCP: the receiving chain, then the sending chain):
// a stage whose input is 'none' or 'hold' starts a new chain, and `after` holds
// it back until an earlier stage says it is ready (listening). Progress then
// comes from what the processes print about themselves (StageMonitor).
import type { ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import type { Host } from '../exec/host.js';
import { spawnLocal } from '../exec/spawn.js';

export interface Stage {
  /** short name for messages: 'zfs send on src.example.org' */
  name: string;
  host: Host;
  /** the command as it runs on host (the runner spawns host.wrap(argv)) */
  argv: string[];
  /**
   * stdin: 'link' reads the previous stage's stdout (the default after the
   * first stage); 'none' is closed, as `</dev/null` (the default for the
   * first stage); 'hold' is a pipe this process keeps open and never writes:
   * a remote side that must die with its connection watches it for EOF.
   * 'pass' is the previous stage's stdout handed over as this stage's stdin:
   * the kernel moves the bytes from one process to the other and none pass
   * through this process (so none are counted: put a metering stage such as
   * pv in between for progress and the stall watchdog).
   * 'none' and 'hold' start a new chain.
   */
  input?: 'link' | 'none' | 'hold' | 'pass';
  /**
   * how the runner stops it: 'signal' (SIGTERM and SIGCONT, SIGKILL after
   * the grace period) or 'eof' (close its stdin and let it end itself, which
   * an ssh stage does only once the remote processes are gone; SIGTERM after
   * the grace period, SIGKILL after twice that)
   */
  stop?: 'signal' | 'eof';
  /** reads the stage's stderr line by line (progress, readiness, known errors) */
  monitor?: StageMonitor;
  /** spawn only once stage `stage` (earlier, another chain) reported ready; only for a stage that starts a chain */
  after?: {
    stage: number;
    timeoutMs: number;
    what: string;
    /**
     * asked after the stage said it is ready, again every 50 ms until it
     * answers true (within timeoutMs): for a readiness line that comes a
     * moment before the fact (mbuffer prints "listening" before listen())
     */
    confirm?: () => Promise<boolean>;
  };
  /**
   * 'hold': the process gets a pipe on fd 3 that this process keeps open and
   * never writes, closed once the stage has ended. A wrapper that watches it
   * (meter.ts dieWithUs) ends the process if this one dies first: a chain
   * whose bytes bypass us must not go on without us.
   */
  fd3?: 'hold';
}

/** what a monitor learned from one line of stderr */
export interface LineVerdict {
  /** keep the line in the stage's stderr (default true) */
  keep?: boolean;
  /** the process's own count of bytes moved so far */
  bytes?: number;
  /** the process is ready for the next chain (a listener is listening) */
  ready?: boolean;
  /** the process has passed on all of its stream (no stall while the rest finishes) */
  through?: boolean;
  /** a known failure, said better than the raw stderr */
  diagnosis?: { message: string; hint?: string };
  /** stop the pipeline at once and blame this stage with the diagnosis */
  fatal?: boolean;
}

export interface StageMonitor {
  /** its bytes count for progress and against a stall (the stage must then say `through` when done) */
  readonly meters?: boolean;
  line(text: string): LineVerdict | undefined;
  /** once the stage has exited and its stderr was read: adjust the outcome (e.g. from exit markers) */
  settle?(outcome: StageOutcome): void;
}

export interface PipelineSpec {
  /** data flows from stages[0] to the last along the links */
  stages: Stage[];
  /** the link whose bytes are the stream's size: link i joins stage i to i+1 (default: the first link) */
  countLink?: number;
  /**
   * the stage that takes the stream in last (zfs receive; default: the last
   * stage). Once the stream is through, the pipeline may rest without a
   * stall only while this stage still works (a receive committing).
   */
  sink?: number;
}

export interface Progress {
  /** bytes of the stream so far (the counted link, or what the processes report) */
  bytes: number;
  /** seconds since the pipeline started */
  seconds: number;
  /** bytes the whole stream will carry, where zfs estimated it (send -nvP) */
  total?: number;
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
  /**
   * called once every stage but the sink has ended (the stream is through
   * to the sink, which may still be committing it), whether or not they
   * succeeded: work that can wait for the stream starts here. Spawning a
   * process blocks this one until the child has exec'd, and this process
   * carries the stream from one stage to the next.
   */
  onThrough?: () => void;
  /** called as each stage ends, with whether it succeeded (exit 0: after its monitor settled the outcome) */
  onStageEnd?: (index: number, ok: boolean) => void;
  /** the first `bytes` bytes over the counted link, once that many have passed (the stream's first record) */
  peek?: { bytes: number; head: (b: Buffer) => void };
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
  /** a known failure in words (from the stage's monitor) */
  diagnosis?: string;
  hint?: string;
  /** never spawned: the pipeline failed before its turn */
  notStarted?: boolean;
  /**
   * set by a monitor that knows better than the stderr text (a remote
   * pipeline's exit markers): true when the stage failed on its own, false
   * when only because another one did
   */
  own?: boolean;
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
  index: number;
  stage: Stage;
  child?: ChildProcess;
  /** settles once the process is gone and its stdout and stderr are closed */
  closed?: Promise<void>;
  stdin: Writable | null;
  stdout?: Readable;
  stderrStream?: Readable;
  /** fd 3 of a stage with fd3: 'hold' */
  held?: { destroy(): void };
  stderr: Ring;
  outcome: StageOutcome;
  done: boolean;
  /** order in which stages were seen to end */
  seq: number;
  /** the monitor's latest byte count */
  meter: number;
  ready: boolean;
  through: boolean;
  stderrEnded: boolean;
  onStderrEnd?: () => void;
  /** an incomplete last line of stderr (monitored stages) */
  partial: string;
  decoder?: StringDecoder;
}

/**
 * Processes of a pipeline still running. Should this process exit while a
 * stream runs (an uncaught error, process.exit after an interrupt's grace
 * period), they get SIGTERM rather than running on unwatched.
 */
const running = new Set<ChildProcess>();
let exitHook = false;

function adopt(child: ChildProcess): void {
  running.add(child);
  child.once('close', () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
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
 * shell wrapper reports it), or its writer went away mid-stream (a receive
 * that read a cut-off stream). Node connects children through socketpairs,
 * not pipes: a writer whose reader vanished with unread data gets
 * ECONNRESET ('Connection reset by peer') rather than EPIPE.
 */
function consequence(o: StageOutcome): boolean {
  if (o.killedByUs) return true;
  if (o.own !== undefined) return !o.own;
  return (
    o.signal === 'SIGPIPE' ||
    o.exitCode === 141 ||
    /broken pipe|EPIPE|connection reset by peer|ECONNRESET|failed to read from stream/i.test(o.stderr)
  );
}

function describeFailure(live: Live): string {
  const o = live.outcome;
  if (o.spawnError !== undefined) return `${o.name} failed (could not start: ${o.spawnError})`;
  if (o.diagnosis !== undefined) return `${o.name}: ${o.diagnosis}`;
  const how = o.signal !== undefined ? `killed by ${o.signal}` : `exit code ${o.exitCode}`;
  const err = firstLines(live.stderr.headText());
  return `${o.name} failed (${how})${err ? `: ${err}` : ''}`;
}

function inputOf(stages: readonly Stage[], i: number): NonNullable<Stage['input']> {
  return stages[i]!.input ?? (i === 0 ? 'none' : 'link');
}

function checkSpec(spec: PipelineSpec): void {
  const { stages } = spec;
  if (stages.length === 0) throw new Error('runPipeline: no stages');
  const first = inputOf(stages, 0);
  if (first === 'link' || first === 'pass') throw new Error(`runPipeline: the first stage ${stages[0]!.name} has no stage to read from`);
  stages.forEach((s, i) => {
    if (!s.after) return;
    if (inputOf(stages, i) === 'link' || inputOf(stages, i) === 'pass') throw new Error(`runPipeline: ${s.name} waits for another stage but reads a link`);
    if (!(s.after.stage >= 0 && s.after.stage < i)) throw new Error(`runPipeline: ${s.name} waits for a stage that does not come before it`);
  });
  if (spec.sink !== undefined && !stages[spec.sink]) throw new Error(`runPipeline: sink ${spec.sink} is not a stage`);
  if (spec.countLink !== undefined && inputOf(stages, spec.countLink + 1) !== 'link') {
    throw new Error(`runPipeline: countLink ${spec.countLink} is not a link`);
  }
}

/** resolves when every stage exited 0; otherwise rejects with PipelineError once every stage is gone */
export async function runPipeline(spec: PipelineSpec, opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const stages = spec.stages;
  checkSpec(spec);
  const killGraceMs = opts.killGraceMs ?? 5000;
  const progressMs = opts.progressIntervalMs ?? 1000;
  const stallMs = opts.stallMs ?? 0;
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;

  if (opts.signal?.aborted) {
    const outcomes = stages.map((s) => ({ name: s.name, stderr: '', killedByUs: false, notStarted: true }));
    throw new PipelineError('aborted', null, 'aborted', { bytes: 0, seconds: 0, stages: outcomes });
  }

  // wrap every argv before spawning anything: a bad stage must not leave others running
  const argvs = stages.map((s) => s.host.wrap(s.argv));
  const empty = argvs.findIndex((a) => a.length === 0);
  if (empty >= 0) throw new Error(`runPipeline: stage ${stages[empty]!.name} has an empty command`);

  const linkBytes = new Map<number, number>();
  const firstLink = stages.findIndex((_, i) => i > 0 && inputOf(stages, i) === 'link') - 1;
  const countLink = spec.countLink ?? (firstLink >= 0 ? firstLink : undefined);
  /** bytes over every link and every meter: any movement counts against a stall */
  let moved = 0;
  let seq = 0;
  let endReason: 'aborted' | 'stalled' | undefined;
  let fatal: Live | undefined;
  let killing = false;
  let settleTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  /** wakes a wait for a ready stage */
  let wake: (() => void) | undefined;
  const stdoutRing = opts.captureStdout ? new Ring(RING_BYTES) : undefined;

  const sinkIndex = spec.sink ?? stages.length - 1;
  /** onThrough has been called */
  let through = false;
  let allDone!: () => void;
  const allDonePromise = new Promise<void>((r) => (allDone = r));
  const lives: Live[] = stages.map((stage, index) => ({
    index,
    stage,
    stdin: null,
    stderr: new Ring(RING_BYTES),
    outcome: { name: stage.name, stderr: '', killedByUs: false },
    done: false,
    seq: -1,
    meter: 0,
    ready: false,
    through: false,
    stderrEnded: false,
    partial: '',
  }));

  const bytesNow = (): number => {
    if (countLink !== undefined) return linkBytes.get(countLink) ?? 0;
    return Math.max(0, ...lives.map((l) => l.meter));
  };

  const killAll = (): void => {
    if (killing) return;
    killing = true;
    clearTimeout(settleTimer);
    wake?.();
    const running = lives.filter((l) => l.child && !l.done);
    for (const l of running) {
      l.outcome.killedByUs = true;
      if (l.stage.stop === 'eof' && l.stdin) l.stdin.destroy();
      else {
        l.child!.kill('SIGTERM');
        // a stopped process acts on SIGTERM only once it runs again
        l.child!.kill('SIGCONT');
      }
    }
    if (running.length === 0) return;
    killTimer = setTimeout(() => {
      const left = lives.filter((l) => l.child && !l.done);
      for (const l of left) {
        if (l.stage.stop === 'eof') {
          l.child!.kill('SIGTERM');
          l.child!.kill('SIGCONT');
        } else l.child!.kill('SIGKILL');
      }
      if (left.some((l) => l.stage.stop === 'eof')) {
        killTimer = setTimeout(() => {
          for (const l of lives) if (l.child && !l.done) l.child.kill('SIGKILL');
        }, killGraceMs);
      }
    }, killGraceMs);
  };

  const setFatal = (l: Live, message: string, hint?: string): void => {
    if (fatal || killing) return;
    fatal = l;
    l.outcome.diagnosis = message;
    if (hint !== undefined) l.outcome.hint = hint;
    else delete l.outcome.hint;
    killAll();
  };

  const finish = (l: Live, exitCode: number | null, signal: string | null, spawnError?: string): void => {
    if (l.done) return;
    l.done = true;
    // the stage is gone: its watcher may go too
    l.held?.destroy();
    l.seq = seq++;
    if (spawnError !== undefined) l.outcome.spawnError = spawnError;
    else {
      if (signal !== null) l.outcome.signal = signal;
      else l.outcome.exitCode = exitCode ?? undefined;
      if (l.stage.monitor?.settle) {
        l.outcome.stderr = l.stderr.text();
        try {
          l.stage.monitor.settle(l.outcome);
        } catch {
          // a broken monitor must not hide the real outcome
        }
      }
    }
    if (failed(l.outcome) && !killing && settleTimer === undefined) settleTimer = setTimeout(killAll, SETTLE_MS);
    try {
      opts.onStageEnd?.(l.index, !failed(l.outcome));
    } catch {
      // a broken callback must not take the transfer down with it
    }
    wake?.();
    if (!through && lives.every((x, i) => x.done || i === sinkIndex)) {
      through = true;
      try {
        opts.onThrough?.();
      } catch {
        // a broken callback must not take the transfer down with it
      }
    }
    if (lives.every((x) => x.done)) allDone();
  };

  const onLine = (l: Live, line: string): void => {
    let v: LineVerdict | undefined;
    try {
      v = l.stage.monitor!.line(line);
    } catch {
      v = undefined;
    }
    if (v?.keep !== false && line.trim() !== '') l.stderr.push(Buffer.from(`${line}\n`));
    if (!v) return;
    if (v.bytes !== undefined && v.bytes > l.meter) {
      moved += v.bytes - l.meter;
      l.meter = v.bytes;
    }
    if (v.through) l.through = true;
    if (v.ready && !l.ready) {
      l.ready = true;
      wake?.();
    }
    if (v.diagnosis) {
      if (v.fatal) setFatal(l, v.diagnosis.message, v.diagnosis.hint);
      else if (l.outcome.diagnosis === undefined) {
        l.outcome.diagnosis = v.diagnosis.message;
        if (v.diagnosis.hint !== undefined) l.outcome.hint = v.diagnosis.hint;
      }
    }
  };

  const onStderr = (l: Live, chunk: Buffer): void => {
    if (!l.stage.monitor) {
      l.stderr.push(chunk);
      return;
    }
    const parts = (l.partial + l.decoder!.write(chunk)).split(/\r\n|\r|\n/);
    l.partial = parts.pop()!;
    for (const line of parts) onLine(l, line);
  };

  const spawn = (l: Live): void => {
    const i = l.index;
    const [file, ...args] = argvs[i]!;
    const input = inputOf(stages, i);
    // 'pass': the previous stage's stdout (a socket of ours) becomes this one's stdin
    const passed = input === 'pass' ? lives[i - 1]!.stdout! : undefined;
    const stdin = input === 'pass' ? (passed ?? 'ignore') : input === 'none' ? 'ignore' : 'pipe';
    // node:child_process, not execa: a stream's processes start faster, and
    // an update does not load execa's ~50 ms of modules for them
    const child = spawnLocal(file!, args, l.stage.fd3 === 'hold' ? [stdin, 'pipe', 'pipe', 'pipe'] : [stdin, 'pipe', 'pipe']);
    l.closed = new Promise<void>((r) => child.once('close', () => r()));
    adopt(child);
    // The child has its own copy now. Close ours, so that when the reader
    // goes away the writer gets EPIPE as in a shell pipe instead of blocking
    // on a read end that this process holds and never reads.
    passed?.destroy();
    // stdout and stderr are pipes (stdio above), so never null
    const stdout = child.stdout!;
    const stderr = child.stderr!;
    l.child = child;
    // a spare's stdin is a pipe even for a stage without input (ended at once): only a stage's input counts
    l.stdin = stdin === 'pipe' ? child.stdin : null;
    l.stdout = stdout;
    l.stderrStream = stderr;
    if (l.stage.fd3 === 'hold') {
      const held = child.stdio[3] as Readable | undefined;
      held?.on('error', () => {});
      if (held) l.held = held;
    }
    l.outcome.pid = child.pid;
    if (l.stage.monitor) l.decoder = new StringDecoder('utf8');
    stderr.on('data', (c: Buffer) => onStderr(l, c));
    stderr.on('error', () => {});
    stderr.once('close', () => {
      if (l.stage.monitor && !l.stderrEnded) {
        const rest = l.partial + l.decoder!.end();
        l.partial = '';
        if (rest !== '') onLine(l, rest);
      }
      l.stderrEnded = true;
      l.onStderrEnd?.();
    });
    stdout.on('error', () => {});
    // EPIPE when the stage dies before reading everything: handled via 'close' below
    child.stdin?.on('error', () => {});
    child.on('exit', (code, sig) => {
      // a monitor that settles the outcome needs all of stderr (exit can be seen before the last read)
      if (!l.stage.monitor?.settle || l.stderrEnded) return finish(l, code, sig);
      const timer = setTimeout(() => finish(l, code, sig), DRAIN_FAILED_MS * 4);
      l.onStderrEnd = () => {
        clearTimeout(timer);
        finish(l, code, sig);
      };
    });
    // 'error' without a pid: the command never started (ENOENT, EACCES); no 'exit' follows
    child.on('error', (e: Error) => {
      if (child.pid === undefined) finish(l, null, null, e.message);
    });
  };

  const linksOpen = new Set<number>();
  // Connect link i (stage i -> i+1). Node's pipe() respects backpressure.
  // Measured: a 1 MiB highWaterMark on the writable (or a 1 MiB PassThrough
  // in between) made no difference beyond noise; the per-chunk cost (libuv
  // reads at most 64 KiB, each into a fresh buffer) dominates, so the
  // defaults stay.
  const connect = (i: number): void => {
    const src = lives[i]!.stdout!;
    const dst = lives[i + 1]!.stdin!;
    linksOpen.add(i);
    linkBytes.set(i, 0);
    const peek = i === countLink ? opts.peek : undefined;
    let head: Buffer[] | undefined = peek ? [] : undefined;
    src.on('data', (c: Buffer) => {
      const before = linkBytes.get(i)!;
      linkBytes.set(i, before + c.length);
      moved += c.length;
      if (head && peek) {
        head.push(c);
        if (before + c.length >= peek.bytes) {
          const b = Buffer.concat(head).subarray(0, peek.bytes);
          head = undefined;
          try {
            peek.head(b);
          } catch {
            // a broken callback must not take the transfer down with it
          }
        }
      }
    });
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
  };

  /** wait until `g` is ready; false when the pipeline is being stopped meanwhile */
  const waitReady = async (g: Live, after: NonNullable<Stage['after']>): Promise<boolean> => {
    const deadline = performance.now() + after.timeoutMs;
    let confirmed = !after.confirm;
    for (;;) {
      if (killing) return false;
      if (g.ready && !confirmed) confirmed = await after.confirm!().catch(() => false);
      if (killing) return false;
      if (g.ready && confirmed) return true;
      if (g.done) {
        // it ended without getting ready; a failure is being handled already
        if (!failed(g.outcome)) setFatal(g, `ended before it was ready (waiting for ${after.what})`);
        return false;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        setFatal(g, `no sign of ${after.what} after ${+(after.timeoutMs / 1000).toFixed(1)} s`);
        return false;
      }
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, g.ready ? Math.min(left, 50) : left);
      });
      clearTimeout(timer);
      wake = undefined;
    }
  };

  const onAbort = (): void => {
    endReason ??= 'aborted';
    killAll();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  for (const l of lives) {
    const after = l.stage.after;
    if (after && !(await waitReady(lives[after.stage]!, after))) break;
    if (killing) break;
    spawn(l);
    if (inputOf(stages, l.index) === 'link') connect(l.index - 1);
    // never let a stage block on a full stdout pipe nobody reads (the end of a chain)
    const next = l.index + 1;
    if (next >= stages.length || (inputOf(stages, next) !== 'link' && inputOf(stages, next) !== 'pass')) {
      const last = next >= stages.length;
      l.stdout!.on('data', (c: Buffer) => {
        if (last) stdoutRing?.push(c);
      });
    }
  }
  // the stages whose turn never came
  for (const l of lives) {
    if (!l.child && !l.done) {
      l.done = true;
      l.outcome.notStarted = true;
    }
  }
  if (lives.every((x) => x.done)) allDone();

  if (stallMs > 0 && !killing) {
    let lastMoved = -1;
    let lastMoveAt = performance.now();
    // once every link has delivered its EOF and every metering process said
    // it is through, the sink may legitimately work a while without data
    // moving (zfs receive committing): no stall then. A stage that is still
    // there after the sink is done (a send stuck after its last byte) is.
    const sink = lives[spec.sink ?? lives.length - 1]!;
    const drained = () => !sink.done && linksOpen.size === 0 && lives.every((l) => !l.stage.monitor?.meters || l.done || l.through);
    stallTimer = setInterval(() => {
      const now = performance.now();
      if (moved !== lastMoved || drained()) {
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
      opts.onProgress?.({ bytes: bytesNow(), seconds: seconds() });
    } catch {
      // a broken progress callback must not take the transfer down with it
    }
  };
  if (opts.onProgress) {
    let reported = -1;
    progressTimer = setInterval(() => {
      const b = bytesNow();
      if (b !== reported) {
        reported = b;
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

  const started = lives.filter((l) => l.child);
  const anyFailed = started.some((l) => failed(l.outcome));
  // Let the last stderr (and captured stdout) arrive, but do not wait for
  // pipes that an orphaned grandchild keeps open.
  const drainMs = anyFailed || endReason || fatal ? DRAIN_FAILED_MS : DRAIN_OK_MS;
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(started.map((l) => l.closed)),
    new Promise<void>((r) => (drainTimer = setTimeout(r, drainMs))),
  ]);
  clearTimeout(drainTimer);
  for (const l of started) {
    l.stdin?.destroy();
    l.stdout?.destroy();
    l.stderrStream?.destroy();
    l.outcome.stderr = l.stderr.text();
  }

  const result: PipelineResult = { bytes: bytesNow(), seconds: seconds(), stages: lives.map((l) => l.outcome) };
  if (stdoutRing) result.stdout = stdoutRing.text();
  progress();

  if (endReason === 'aborted') throw new PipelineError('aborted', null, 'aborted', result);
  if (fatal) throw new PipelineError(describeFailure(fatal), fatal.outcome, 'failed', result);
  if (endReason === 'stalled') {
    throw new PipelineError(`no data moved for ${+(stallMs / 1000).toFixed(1)} s; killed the pipeline`, null, 'stalled', result);
  }
  if (!anyFailed) return result;

  const byTime = started.filter((l) => failed(l.outcome)).sort((a, b) => a.seq - b.seq);
  const own = byTime.filter((l) => !consequence(l.outcome));
  // a process killed by a signal (kill -9, a crash) explains the others' errors
  // (a receive whose stream broke off) better than they explain it
  const culprit =
    own.find((l) => l.outcome.diagnosis !== undefined) ??
    own.find((l) => l.outcome.signal !== undefined && l.outcome.signal !== 'SIGPIPE') ??
    own[0] ??
    byTime.find((l) => l.outcome.diagnosis !== undefined) ??
    byTime[0]!;
  throw new PipelineError(describeFailure(culprit), culprit.outcome, 'failed', result);
}

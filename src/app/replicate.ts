// initialize and update: list both sides, plan (src/domain/plan.ts), take
// the source snapshot, move the stream, then verify, record and retire.
// A run that fails after taking its snapshot removes it again unless the
// destination got it (or holds resumable state for it), so a target that is
// down for a week does not collect a snapshot per cron run.
import { setTimeout as delay } from 'node:timers/promises';
import type { Pair } from '../config/pairs.js';
import { Hosts } from '../exec/hosts.js';
import { newestPairSnapshot, pairSnapshots, planRetention, planUpdate, destinationAfterReceive, withArrival, type SnapshotInfo } from '../domain/plan.js';
import { parentDataset } from '../domain/names.js';
import { newSnapshotName } from '../domain/snapshot-name.js';
import { formatBytes, formatTransfer } from '../domain/units.js';
import { ActionError } from '../errors.js';
import { batchArgv, CommandError, readBatch, type Host, type RunResult } from '../exec/host.js';
import type { SnapshotRef } from '../state/status.js';
import { DEFAULT_STALL } from '../config/keys.js';
import { toolProbeArgv, type Compressor } from '../transport/compress.js';
import { onPath } from '../transport/meter.js';
import type { PipelineSpec, StageMonitor } from '../transport/pipeline.js';
import { quoteArgv } from '../exec/quote.js';
import { forgetSend, forgetSends, notedSends, noteSend } from '../state/sends.js';
import { describeStages, PipelineError, runPipeline } from '../transport/pipeline.js';
import { finishInReceive, streamPipeline } from '../transport/topology.js';
import * as zargv from '../zfs/argv.js';
import { busy, classifyZfsError, sshFailure, sshHint, type ClassifiedZfsError } from '../zfs/classify.js';
import { exists, getProps, getTreeProps, listAndProps, listArgv, listDatasets, listingOf, listSnapshots, must, userProp, ZfsFailure } from '../zfs/ops.js';
import { excludedTops, exclusion, withoutExcluded, type Exclusion } from '../domain/exclude.js';
import { decideEncryption, type DestinationEncryption, type SourceEncryption } from '../domain/encryption.js';
import { STREAM_BEGIN_BYTES, streamBegin, type StreamBegin } from '../zfs/stream.js';
import { describeDiff, parseDiff, parseHolds, parseResumeTarget, parseSendEstimate, parseSnapshotList, type BookmarkEntry, type PropValue, type SnapshotEntry, type SnapshotListing } from '../zfs/parse.js';
import { isPairSnapshot } from '../domain/snapshot-name.js';
import type { Capabilities } from '../zfs/probe.js';
import { capabilities, type BothCapabilities } from './capabilities.js';
import { runHook, describeHook } from './hooks.js';
import { PairError, runPairAction, withPairReadOnly, type EngineDeps, type Outcome, type PairRun } from './pair-run.js';
import { resumeDecision, type ResumeDecision } from './resume.js';
import { endpointName, orientation, orientedPair, parseRole, parseSwitched, roleProps, type Orientation, type SideMark } from '../domain/direction.js';

export const FINGERPRINT_PROP = 'zettabee:fingerprint';

/** the original Zettabee's per-pair user properties */
export function pairProps(fp: string) {
  return { source: `zettabee:${fp}:source`, destination: `zettabee:${fp}:destination`, lastsnap: `zettabee:${fp}:lastsnap` };
}

/** the user-hold tag that protects a pair's incremental base */
export function holdTag(fp: string): string {
  return `zettabee.${fp}`;
}

/** a transfer failed; `zfs` classifies the culprit stage's stderr */
export class TransferError extends ActionError {
  constructor(
    message: string,
    hint: string | undefined,
    details: readonly string[],
    readonly zfs: ClassifiedZfsError | null,
    readonly stage: 'send' | 'receive' | 'other',
  ) {
    super(message, hint, details);
  }
}

function firstLines(text: string, n = 4): string[] {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(0, n);
}

function describeHost(run: PairRun, which: 'source' | 'destination'): string {
  return Hosts.describe(run.pair[which], run.pair);
}

/** turn a failure of a zfs step into an ActionError that names the step and host */
export async function step<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ZfsFailure) {
      // ssh itself failed (exit 255, "ssh: connect to host ...: Connection
      // refused"): zfs never ran, so "see the zfs message" would mislead
      const ssh = e.zfs.kind === 'unknown' && sshFailure(e.zfs.detail, e.zfs.exitCode);
      // `what` already names the host: use the bare classified message
      throw new ActionError(`${what}: ${ssh ? e.zfs.detail : e.zfs.message}`, ssh ? sshHint(e.zfs.detail) : e.zfs.hint, e.zfs.detail && !ssh ? [e.zfs.detail] : []);
    }
    if (e instanceof CommandError) throw new ActionError(`${what}: ${e.message}`);
    throw e;
  }
}

function ref(s: SnapshotInfo): SnapshotRef {
  return { name: s.snapshot, guid: s.guid, creation: s.creation };
}

function sendFlags(caps: BothCapabilities, raw: boolean) {
  // a raw stream carries the blocks as they are on disk (-w implies -L -e -c)
  if (raw) return { raw: true };
  // modern stream features only when both ends speak them (the receiving
  // zfs of the same generation is the best probe we have without a test send)
  return {
    largeBlocks: caps.source.sendLargeBlocks && caps.destination.sendLargeBlocks,
    embedded: caps.source.sendEmbedded && caps.destination.sendEmbedded,
    compressed: caps.source.sendCompressed && caps.destination.sendCompressed,
  };
}

/**
 * The pair's recv_set= / recv_exclude= as receive options (-o / -x), on
 * every receive of the pair; refused (before anything is done) where the
 * destination's zfs lacks them: silently dropping them would let a
 * mountpoint or canmount arrive that the admin meant to keep out.
 */
function receiveProps(run: PairRun, caps: BothCapabilities): { options?: Record<string, string>; exclude?: string[] } {
  const { recv_set: set, recv_exclude: exclude } = run.pair.options;
  const lacks = (what: string, flag: string) =>
    new PairError(`${what} needs zfs receive ${flag}, which the destination's zfs on ${describeHost(run, 'destination')} lacks`, `remove ${what} from the pair's options, or replicate to a host with OpenZFS`);
  if (set && Object.keys(set).length && !caps.destination.recvOptions) throw lacks('recv_set=', '-o');
  if (exclude?.length && !caps.destination.recvExclude) throw lacks('recv_exclude=', '-x');
  return { ...(set && Object.keys(set).length ? { options: { ...set } } : {}), ...(exclude?.length ? { exclude: [...exclude] } : {}) };
}

/**
 * A replication stream (-R, or -p) resets the destination's own properties
 * that the sending side does not have: readonly=on went with them (OpenZFS
 * inherits them, zfs-fuse drops them), and after a failover the sender's
 * readonly is inherited. Where zfs receive takes -o, readonly=on rides with
 * every such receive; elsewhere the finish sets it again (finishProps).
 */
function keepReadonly(run: PairRun, caps: BothCapabilities, props: { options?: Record<string, string>; exclude?: string[] }): { options?: Record<string, string>; exclude?: string[] } {
  if (!caps.destination.recvOptions || !(run.pair.options.recursive || run.pair.options.props)) return props;
  return { ...props, options: { ...props.options, readonly: 'on' } };
}

/** props=yes: send the properties of a pair that is not recursive (-R sends them anyway) */
function sendProps(run: PairRun): { props?: true } {
  return run.pair.options.props && !run.pair.options.recursive ? { props: true } : {};
}

/** the destination's zfs and pool can take a raw (encrypted) stream, or why not */
function rawReceiver(c: Capabilities): { can: boolean; lacks?: string } {
  if (!c.sendRaw) return { can: false, lacks: 'its zfs has no raw send and receive (zfs-fuse, or OpenZFS older than 0.8)' };
  if (!c.featureFlags.includes('encryption')) return { can: false, lacks: 'its pool does not have feature@encryption enabled (zpool upgrade)' };
  return { can: true };
}

/**
 * What the source is asked along with its listing: encryption, where zfs
 * knows it (OpenZFS), and longname, where the pool has the feature (2.3)
 */
function sourceProps(caps: BothCapabilities): string[] {
  return [...(caps.source.sendRaw ? ['encryption', 'keystatus'] : []), ...(caps.source.featureFlags.includes('longname') ? ['longname'] : [])];
}

/**
 * Refuse before anything is sent a stream the destination's pool could not
 * receive (zfs would fail it with "stream has unsupported feature"): file
 * names over 255 bytes (longname=on, OpenZFS 2.3) need feature@longname there.
 */
function checkStreamFeatures(caps: BothCapabilities, src: Tree | null): void {
  const long = [...(src ?? [])].filter(([, p]) => p.get('longname')?.value === 'on').map(([n]) => n);
  if (long.length === 0 || caps.destination.featureFlags.includes('longname')) return;
  throw new PairError(
    `${long.join(', ')} ${long.length === 1 ? 'allows' : 'allow'} file names longer than 255 bytes (longname=on), but the destination's pool has no feature@longname (OpenZFS before 2.3) and could not receive the stream; nothing was sent`,
    'replicate to a pool with feature@longname (OpenZFS 2.3 or newer), or set longname=off on the source if it holds no such names yet',
  );
}

/** what the destination is asked about how it received encrypted data */
function destinationEncryptionProps(caps: BothCapabilities): string[] {
  return caps.destination.sendRaw ? ['encryption', 'encryptionroot'] : [];
}

type Tree = Map<string, Map<string, PropValue>>;

/**
 * Whether this run sends raw, from the source's answer which of the pair's
 * datasets are encrypted and (update) the destination's how it received
 * them; decideEncryption() says send or refuse. Asked every run, never
 * cached: a newly encrypted child must never be sent decrypted by accident.
 */
function encryptionFor(run: PairRun, caps: BothCapabilities, src: Tree | null, dst: Tree | null | 'initialize'): boolean {
  const { pair } = run;
  const source: SourceEncryption = { encrypted: [], keyUnloaded: [] };
  for (const [name, p] of src ?? []) {
    const e = p.get('encryption')?.value ?? 'off';
    if (e === 'off' || e === '-') continue;
    source.encrypted.push(name);
    if (p.get('keystatus')?.value !== 'available') source.keyUnloaded.push(name);
  }
  if (source.encrypted.length === 0) return false;
  const receiver = rawReceiver(caps.destination);
  const destination =
    dst === 'initialize'
      ? undefined
      : new Map([...(dst ?? [])].map(([n, p]): [string, DestinationEncryption] => [n, { encryption: p.get('encryption')?.value ?? 'off', encryptionRoot: p.get('encryptionroot')?.value ?? '-' }]));
  const d = decideEncryption({
    source,
    sourceDataset: pair.source.dataset,
    destinationDataset: pair.destination.dataset,
    raw: pair.options.raw ?? true,
    destinationCanRaw: receiver.can,
    ...(receiver.lacks ? { destinationLacks: receiver.lacks } : {}),
    ...(destination ? { destination } : {}),
  });
  if (d.kind === 'refuse') throw new PairError(d.message, d.hint);
  if (d.note) run.log.warn(d.note);
  else if (d.raw) run.log.info(`sending raw (zfs send -w): ${source.encrypted.join(', ')} encrypted; the destination stores ciphertext and never sees the key`);
  return d.raw;
}

/**
 * Receives never mount (-u, where zfs has it): a recursive stream carries
 * the source's mountpoint properties, so its children could land on this
 * host's own paths (/home), a raw one has no key, a partial one is not a file
 * system yet, and a mount before readonly=on is set lets mounting itself
 * modify the new destination. initialize mounts what is safe afterwards
 * (mountRootOf, zargv.mountBelow); an update leaves mounted what was.
 */
function mountRootOf(caps: BothCapabilities, parent: Map<string, PropValue> | null): { mountRoot?: string } {
  const m = parent?.get('mountpoint')?.value;
  return caps.destination.recvNoMount && m && m.startsWith('/') && m !== '/' ? { mountRoot: m } : {};
}

function resumable(caps: BothCapabilities): boolean {
  return caps.destination.recvResumable && caps.source.sendResume;
}

// ---------------------------------------------------------------------------

/**
 * The compressor for this stream: none when the pair asks for none, when
 * nothing crosses a network (transport=local), when zfs already sends the
 * blocks compressed (send -c, both ends support it), or when the tool is
 * missing on either host (logged; setup reports it).
 */
async function compressorFor(run: PairRun, send: readonly string[]): Promise<Compressor | null> {
  const want = run.pair.options.compress ?? 'none';
  if (want === 'none' || run.pair.transport === 'local') return null;
  if (send.slice(2).includes('-c')) {
    run.log.debug(`compress=${want} not used: zfs send -c keeps the blocks compressed as they are on disk`);
    return null;
  }
  const probe = toolProbeArgv(want);
  const found = await Promise.all(
    [run.src, run.dst].map((h) => h.exec(probe).then((r) => r.exitCode === 0, () => false)),
  );
  const missing = [run.src, run.dst].filter((_, i) => !found[i]).map((h) => h.name);
  if (missing.length > 0) {
    run.log.warn(`compress=${want}: ${want} is not installed on ${[...new Set(missing)].join(' and ')}; sending uncompressed`);
    return null;
  }
  return want;
}

/** what a transfer moved, and the output of what ran after the receive in its session (the guid check) */
export interface Transferred {
  bytes: number;
  finished?: { argvs: string[][]; output: RunResult };
  /** the new snapshot was recorded as on the destination on its receipt (onReceipt), before the guid check */
  recorded?: boolean;
}

/**
 * run the stream for one send and receive; a failure becomes a TransferError.
 * With `verify`, a remote destination's guid check runs in the receive's own
 * ssh session, only once the receive succeeded (one session less before the
 * status can say Synchronized); the rest of its finish then runs in a session
 * of its own beside the source's (finish()).
 */
interface TransferOptions {
  /** the guid check of the received snapshot (guidInSession): run in the receive's ssh session where the transport allows */
  verify?: string[];
  /** the stream's size, estimated (progress shows percent and ETA) */
  total?: number;
  /** note the send's pid before a byte moves (its temporary holds may outlive it: state/sends.ts) */
  noteSend?: boolean;
  /** the child this stream sends on its own, noted with the pid (none: the pair's top) */
  child?: string;
  /**
   * work that would slow the stream (the read-back): started once the
   * stream is through to the receive (runPipeline's onThrough), or, where
   * its first record is read (o.received), once it was received; when
   * neither comes, its caller asks for it after the stream
   */
  through?: () => void;
  /**
   * once zfs receive has exited 0 and every process before it too (a remote
   * receive's session still runs the guid check then): with the stream's
   * first record, when it passed through this process uncompressed; true
   * when it recorded the snapshot (Transferred.recorded)
   */
  received?: (begin: StreamBegin | undefined) => boolean;
}

async function transfer(run: PairRun, send: string[], receive: string[], o: TransferOptions = {}): Promise<Transferred> {
  const { total } = o;
  await Promise.all([run.src.ready(), run.dst.ready()]);
  const compress = await compressorFor(run, send);
  const inSession = o.verify && finishInReceive(run.pair, run.dst) ? [o.verify] : undefined;
  const meter = run.pair.transport === 'local' && onPath('pv') ? 'pv' : null;
  let noted: number | undefined;
  const sendMonitor: StageMonitor | undefined = o.noteSend
    ? {
        line: (text) => {
          if (!text.startsWith(zargv.PID_MARK)) return undefined;
          const pid = Number(text.slice(zargv.PID_MARK.length).trim());
          if (Number.isInteger(pid) && pid > 1) {
            noted = pid;
            try {
              noteSend(run.settings, run.pair.fingerprint, { host: run.src.name, pid, ...(o.child ? { dataset: o.child } : {}) });
            } catch (e) {
              run.log.warn(`cannot note the zfs send's pid ${pid}: ${e instanceof Error ? e.message : String(e)}`);
            }
          }
          return { keep: false };
        },
      }
    : undefined;
  // the receipt (o.received): the receive's exit, every other process's, and the stream's first record
  let begin: StreamBegin | undefined;
  let receiveOk = false;
  let told = false;
  let recorded = false;
  const ended = new Map<number, boolean>();
  const tell = (): void => {
    if (!o.received || told || !receiveOk || spec.stages.some((_, i) => i !== sink && ended.get(i) !== true)) return;
    told = true;
    recorded = o.received(begin);
    // what waited for the stream (the read-back) starts now, not while the receive works: see onThrough below
    if (peek) o.through?.();
  };
  const spec = streamPipeline(run.pair, run.src, run.dst, o.noteSend ? zargv.reportingPid(send) : send, receive, {
    compress,
    meter,
    ...(inSession ? { afterReceive: batchArgv(inSession, 1) } : {}),
    ...(sendMonitor ? { sendMonitor } : {}),
    ...(o.received && inSession
      ? {
          receiveExit: (status: number) => {
            receiveOk = status === 0;
            tell();
          },
        }
      : {}),
  });
  const sink = spec.sink ?? spec.stages.length - 1;
  // the counted link carries zfs send's own bytes unless a remote source compresses them
  const peek = o.received && (run.src.local || !compress) ? { bytes: STREAM_BEGIN_BYTES, head: (b: Buffer) => (begin = streamBegin(b)) } : undefined;
  run.log.debug(`stream: ${describeStages(spec)}${inSession ? ' && the guid check on the destination' : ''}`);
  run.log.debug(`stream: ${send.join(' ')} | ${receive.join(' ')}${total !== undefined ? ` (about ${formatBytes(total)})` : ''}`);
  const stall = run.pair.options.stall ?? DEFAULT_STALL;
  const onProgress = run.deps.onProgress;
  try {
    const r = await runPipeline(spec, {
      signal: run.signal,
      stallMs: stall * 1000,
      captureStdout: inSession !== undefined,
      // with the stream's first record read, the receipt may come before the sink ends: what waits for the stream waits for that, off the receive's time
      ...(o.through && !peek ? { onThrough: o.through } : {}),
      ...(peek ? { peek } : {}),
      ...(o.received
        ? {
            onStageEnd: (i: number, ok: boolean) => {
              ended.set(i, ok);
              if (i === sink && ok && !inSession) receiveOk = true;
              tell();
            },
          }
        : {}),
      ...(onProgress ? { onProgress: (p) => onProgress(run.pair, total === undefined ? p : { ...p, total }) } : {}),
    });
    // every stage exited 0: the send's temporary holds are gone with it
    if (noted !== undefined) {
      try {
        forgetSend(run.settings, run.pair.fingerprint, noted);
      } catch {
        // the next run releases what is noted: harmless
      }
    }
    const done = recorded ? { recorded } : {};
    if (!inSession) return { bytes: r.bytes, ...done };
    const last = r.stages[r.stages.length - 1]!;
    return { bytes: r.bytes, ...done, finished: { argvs: inSession, output: { stdout: r.stdout ?? '', stderr: last.stderr, exitCode: last.exitCode ?? 0 } } };
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    const debug = stageReport(spec, e);
    for (const d of debug) run.log.debug(d);
    try {
      failedTransfer(run, e, stall);
    } catch (t) {
      if (t instanceof ActionError) t.debugDetails.push(...debug);
      throw t;
    }
  }
}

/** what --debug shows of a failed transfer: each process's command as it ran (host included) and how it ended */
function stageReport(spec: PipelineSpec, e: PipelineError): string[] {
  return spec.stages.map((st, i) => {
    const o = e.result.stages[i];
    const end = !o || o.notStarted ? 'not started' : o.spawnError ? `could not start: ${o.spawnError}` : o.exitCode !== undefined ? `exit ${o.exitCode}` : o.signal ? `killed by ${o.signal}${o.killedByUs ? ' (by zettabee, after another process failed)' : ''}` : 'ended';
    return `stage ${i + 1} ${o?.name ?? st.name}: ${end}: ${quoteArgv(st.host.wrap(st.argv))}`;
  });
}

/** a failed stream in words: which process, what it said, what to do */
function failedTransfer(run: PairRun, e: PipelineError, stall: number): never {
  if (e.reason === 'aborted') {
    const why = run.signal.reason instanceof Error ? run.signal.reason.message : typeof run.signal.reason === 'string' ? run.signal.reason : 'interrupted';
    throw new TransferError(`transfer stopped: ${why}`, undefined, [], null, 'other');
  }
  if (e.reason === 'stalled') {
    throw new TransferError(
      `the transfer stalled: no data moved for ${stall} s (stall=${stall}s); killed every process of it${run.src.local && run.dst.local ? '' : ' on both hosts'}`,
      'look at both hosts and the network between them; the next update starts again from the last common snapshot',
      [],
      null,
      'other',
    );
  }
  const c = e.culprit;
  const stage = c === null ? 'other' : c.name.startsWith('zfs send') ? 'send' : c.name.startsWith('zfs receive') ? 'receive' : 'other';
  // zfs's words only for a zfs process: a remote side's stderr mixes every process's lines
  const z = c && stage !== 'other' ? classifyZfsError(c.stderr, c.exitCode) : null;
  const sshTrouble = c !== null && sshFailure(c.stderr, c.exitCode);
  const what = c ? (c.exitCode !== undefined ? `exit code ${c.exitCode}` : `killed by ${c.signal}`) : '';
  const killed = c?.signal !== undefined && c.spawnError === undefined;
  const text = sshTrouble
    ? `ssh failed: ${firstLines(c.stderr, 1)[0]}`
    : z && z.kind !== 'unknown'
      ? z.message
      : killed
        ? ''
        : (firstLines(c?.stderr ?? '', 1)[0] ?? '');
  const details: string[] = [];
  for (const s of e.result.stages) {
    if (s.stderr.trim()) details.push(`${s.name}: ${firstLines(s.stderr, 3).join(' / ')}`);
  }
  // a failure the stage's monitor recognised (a port in use, a rejected peer) says it best
  if (c?.diagnosis !== undefined) throw new TransferError(`${c.name}: ${c.diagnosis}`, c.hint, details, z, stage);
  const hint = sshTrouble
    ? sshHint(c.stderr)
    : (z?.hint ?? (killed ? 'something outside zettabee killed it (an operator, the OOM killer?); the next update starts again from the last common snapshot' : undefined));
  throw new TransferError(`${c ? c.name : 'the pipeline'} failed (${what})${text ? `: ${text}` : ''}`, hint, details, z, stage);
}

/**
 * zfs-fuse (holds, but no `zfs holds`) leaves a dying send's temporary
 * holds behind: for -I and for -R streams, as the fault suite found
 */
function sendsLeakHolds(c: Capabilities): boolean {
  return c.holds && !c.holdsList;
}

/**
 * exclude= of a recursive pair: its tree is replicated one dataset at a
 * time (the top, then each child, parents first) instead of with one -R
 * stream, so that excluded children are neither snapshotted, sent nor
 * reported. Undefined for every other pair.
 */
function exclusionOf(run: PairRun): Exclusion | undefined {
  const o = run.pair.options;
  return o.recursive && o.exclude?.length ? exclusion(o.exclude) : undefined;
}

/** how the pair snapshot of a pair with exclude= is taken */
export type SnapshotLayout =
  /** one atomic `zfs snapshot` of every included dataset (OpenZFS takes several names) */
  | { names: string[] }
  /** `zfs snapshot -r`, then the excluded children's new snapshot destroyed (zfs-fuse takes one name) */
  | { destroy: string[] };

function snapshotLayout(run: PairRun, caps: BothCapabilities, included: Iterable<string>, excluded: readonly string[]): SnapshotLayout | undefined {
  if (!exclusionOf(run)) return undefined;
  return caps.source.snapshotMany ? { names: [...included].sort() } : { destroy: [...excluded] };
}

/**
 * The children's own streams of a pair with exclude=, after the top's: each
 * included child from the base (which every child has, after the catch-up)
 * to the new snapshot, -I where a user's snapshot lies between; a child
 * made after the base (or every child, for initialize) whole, with its
 * properties as -R would have carried them.
 */
function planChildren(run: PairRun, caps: BothCapabilities, raw: boolean, source: ReadonlyMap<string, SnapshotListing>, name: string, base?: SnapshotInfo, skip: ReadonlySet<string> = new Set()): CatchUpStep[] {
  const sds = run.pair.source.dataset;
  const receiveOf = childReceive(run, caps);
  const steps: CatchUpStep[] = [];
  for (const child of [...source.keys()].sort()) {
    if (child === sds) continue;
    const target = counterpart(run, child);
    const receive = receiveOf(target);
    const snaps = source.get(child)!.snapshots;
    const at = base ? snaps.find((x) => x.snapshot === base.snapshot) : undefined;
    if (!at) {
      steps.push({ target, receive, send: { snapshot: `${child}@${name}`, props: true, ...sendFlags(caps, raw) } });
      continue;
    }
    const between = snaps.some((x) => x.createtxg > at.createtxg && !skip.has(x.snapshot));
    steps.push({ target, receive, send: { snapshot: `${child}@${name}`, from: `${child}@${at.snapshot}`, incremental: between ? 'I' : 'i', props: true, ...sendFlags(caps, raw) } });
  }
  return steps;
}

/** carry out the children's streams (exclude=); a failure leaves the pair Inconsistent, and the next update catches up */
async function executeChildren(run: PairRun, caps: BothCapabilities, steps: readonly CatchUpStep[], snap: SnapshotInfo): Promise<number> {
  let bytes = 0;
  for (const c of steps) {
    try {
      const started = Date.now();
      const moved = await transfer(run, zargv.send(c.send!), zargv.recv(c.receive), { noteSend: sendsLeakHolds(caps.source), child: datasetOf(c.send!.snapshot!) });
      logMoved(run, moved.bytes, started);
      bytes += moved.bytes;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const message = `the destination's tree is inconsistent: ${c.target} did not get @${snap.snapshot}, which its parent has: ${why}`;
      const hint = `${e instanceof ActionError && e.hint ? `${e.hint}; ` : ''}once the cause is gone the next update catches it up by itself`;
      const details = e instanceof ActionError ? e.details : [];
      throw new PairError(message, hint, details, 'Inconsistent', { kind: 'partial', message, hint, details: [...details] });
    }
  }
  return bytes;
}

/** the dataset of a snapshot's full name */
function datasetOf(snapshot: string): string {
  return snapshot.slice(0, snapshot.indexOf('@'));
}

/** how a child of the tree is received when it gets a stream of its own (exclude=, catching up) */
function childReceive(run: PairRun, caps: BothCapabilities): (target: string) => zargv.RecvOptions {
  const extra = receiveProps(run, caps);
  return (target) => ({ target, noMount: caps.destination.recvNoMount, resumable: resumable(caps), ...extra });
}

/** the destination's name of a source dataset of the tree */
function counterpart(run: PairRun, name: string): string {
  return run.pair.destination.dataset + name.slice(run.pair.source.dataset.length);
}

/**
 * Children of a recursive pair's destination whose source is gone (destroyed
 * on the source): they stay as they are, frozen at their last snapshot, and
 * every run says so (a warning, which `check` reports) until they are
 * retired.
 */
function orphanedChildren(run: PairRun, source: ReadonlyMap<string, SnapshotListing>, destination: ReadonlyMap<string, SnapshotListing>): string[] {
  const there = new Set([...source.keys()].map((n) => counterpart(run, n)));
  const gone = [...destination.keys()].filter((n) => !there.has(n)).sort();
  // a child under a gone child is retired with it
  const tops = gone.filter((n) => !gone.some((g) => n.startsWith(`${g}/`)));
  return tops.map((n) => {
    const w = `the destination's ${n} has no source any more (${run.pair.source.dataset + n.slice(run.pair.destination.dataset.length)} is gone); it is no longer updated. Retire it with: zfs destroy -r ${n} (on ${describeHost(run, 'destination')}), or keep it by renaming it out of the tree (zfs rename)`;
    run.log.warn(w);
    return w;
  });
}

/** a child of a recursive pair brought up to the base before the update's own stream */
interface CatchUpStep {
  target: string;
  /** its interrupted resumable receive (OpenZFS -s), finished first */
  resume?: { token: string; to: string };
  /** its partial receive whose token no longer fits, dropped first (zfs receive -A) */
  drop?: string;
  /** then the stream that brings it to the base (none when the resume already does) */
  send?: zargv.SendOptions;
  receive: zargv.RecvOptions;
}

/** a lagging child's resumable partial receive, read before anything is planned */
interface ChildToken {
  decision: ResumeDecision;
  /** the snapshot the token leads to, short name */
  to?: string;
}

/**
 * A recursive receive that stopped half-way (a child out of space, say)
 * leaves the top and some children at the newest snapshot and others at an
 * older one; an -R -I from the top's base then fails for every lagging
 * child, run after run. So before the update's own stream, every child that
 * lacks the base (by guid) is brought up to it on its own: its partial
 * receive resumed where OpenZFS kept one, then an incremental from its own
 * newest common snapshot, or a full stream when it never arrived. Children
 * created after the base come with the -R stream as usual. A child that
 * cannot be caught up makes the pair Inconsistent, with what to do.
 */
function planCatchUp(
  run: PairRun,
  caps: BothCapabilities,
  raw: boolean,
  source: ReadonlyMap<string, SnapshotListing>,
  destination: ReadonlyMap<string, SnapshotListing>,
  tokens: ReadonlyMap<string, ChildToken>,
  base: SnapshotInfo,
): CatchUpStep[] {
  const { pair } = run;
  const fp = pair.fingerprint;
  const steps: CatchUpStep[] = [];
  const problems: string[] = [];
  const receive = childReceive(run, caps);
  for (const name of [...source.keys()].sort()) {
    if (name === pair.source.dataset) continue;
    const snaps = source.get(name)!.snapshots;
    const at = snaps.find((x) => x.snapshot === base.snapshot);
    if (!at) continue;
    const target = counterpart(run, name);
    let d = destination.get(target)?.snapshots;
    if (d?.some((x) => x.guid === at.guid)) continue;
    const step: CatchUpStep = { target, receive: receive(target) };
    const t = tokens.get(target);
    if (d && t?.decision.kind === 'resume' && t.to) {
      step.resume = { token: t.decision.token, to: t.to };
      // what the resume brings, as the source lists it
      const arrives = snaps.find((x) => x.snapshot === t.to);
      if (arrives) d = withArrival(d, arrives);
      if (arrives?.guid === at.guid) {
        steps.push(step);
        continue;
      }
    } else if (d && t?.decision.kind === 'abort') {
      step.drop = t.decision.reason;
    }
    if (!d) {
      steps.push({ ...step, send: { snapshot: `${name}@${at.snapshot}`, props: true, ...sendFlags(caps, raw) } });
      continue;
    }
    const plan = planUpdate(fp, snaps.filter((x) => x.createtxg <= at.createtxg), d);
    if (plan.kind === 'conflict') problems.push(`${target}: ${plan.conflict.message}`);
    else steps.push({ ...step, send: { snapshot: `${name}@${at.snapshot}`, from: `${name}@${plan.base.snapshot}`, incremental: 'I', props: true, ...sendFlags(caps, raw) } });
  }
  if (problems.length) {
    const message = `the destination's tree is inconsistent: ${problems.join('; ')}`;
    const hint = "nothing was changed. If those children's copies are expendable, destroy them on the destination (zfs destroy -r); the next update sends them whole";
    throw new PairError(message, hint, [], 'Inconsistent', { kind: 'partial', message, hint });
  }
  return steps;
}

/** carry out the catch-up steps; a failure leaves the pair Inconsistent, with why */
async function executeCatchUp(run: PairRun, caps: BothCapabilities, steps: readonly CatchUpStep[], base: SnapshotInfo): Promise<void> {
  if (steps.length === 0) return;
  const { log } = run;
  const names = steps.map((x) => x.target);
  log.warn(`${names.join(', ')} ${names.length === 1 ? 'lacks' : 'lack'} @${base.snapshot}, which the rest of the tree has (a recursive receive stopped half-way): catching ${names.length === 1 ? 'it' : 'them'} up first`);
  for (const c of steps) {
    try {
      if (c.drop) {
        log.warn(`dropping the partial receive on ${c.target}: ${c.drop}`);
        await step(`cannot drop the partial receive on ${describeHost(run, 'destination')}`, must(run.dst, zargv.recvAbort(c.target)));
      }
      if (c.resume) {
        log.info(`resuming the interrupted receive into ${c.target}`);
        const started = Date.now();
        const moved = await transfer(run, zargv.send({ resumeToken: c.resume.token }), zargv.recv({ ...c.receive, resumable: true }));
        logMoved(run, moved.bytes, started);
      }
      if (c.send) {
        const started = Date.now();
        // a child's -I stream that dies leaves zfs-fuse's temporary holds too: noted, so the next update releases them
        const moved = await transfer(run, zargv.send(c.send), zargv.recv(c.receive), { noteSend: sendsLeakHolds(caps.source), child: datasetOf(c.send.snapshot!) });
        logMoved(run, moved.bytes, started);
      }
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const message = `the destination's tree is inconsistent: ${c.target} lacks @${base.snapshot}, which the rest of the tree has (a recursive receive stopped half-way), and catching it up failed: ${why}`;
      const hint = `${e instanceof ActionError && e.hint ? `${e.hint}; ` : ''}once the cause is gone the next update catches up by itself`;
      const details = e instanceof ActionError ? e.details : [];
      throw new PairError(message, hint, details, 'Inconsistent', { kind: 'partial', message, hint, details: [...details] });
    }
  }
}

/** at most this many lines of `zfs diff` are read to describe a modified destination */
const DIFF_LINES = 1000;

/**
 * What was written on the destination since its newest snapshot, for the
 * refusal: a `zfs diff` summary where zfs has it (OpenZFS), else the bytes
 * `written`; undefined when neither can tell. Never fails the run.
 */
async function whatChanged(run: PairRun, caps: Capabilities, base: string): Promise<string | undefined> {
  const dds = run.pair.destination.dataset;
  try {
    if (caps.diff) {
      const r = await run.dst.exec(zargv.diffSince(base, dds, DIFF_LINES), { timeoutMs: 30_000 });
      const d = parseDiff(r.stdout, DIFF_LINES);
      if (d.count > 0) return describeDiff(d);
    }
    const p = await getProps(run.dst, dds, ['written']);
    const written = Number(userProp(p, 'written'));
    return Number.isFinite(written) && written > 0 ? `${formatBytes(written)} written` : undefined;
  } catch (e) {
    run.log.debug(`cannot tell what changed on ${dds}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/**
 * A read that starts when first asked for (and at most once): a local
 * snapshot's read-back waits until the stream is through to the receive,
 * but whoever needs it first starts it. A failure meanwhile is never
 * unhandled.
 */
function onDemand<T>(read: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (!p) {
      p = read();
      p.catch(() => undefined);
    }
    return p;
  };
}

/**
 * Take the pair snapshot on the source and read back its guid, createtxg
 * and creation (`snap`). On a local source with nothing else to ask (no
 * size estimate, no exclude=, not recursive) the read-back waits (see
 * onDemand): the snapshot's name is all the stream needs.
 *
 * With `list` (the daemon's warm path, which then knows whether a snapshot
 * lies between the base and the new one before it sends) the source's
 * listing of the dataset alone comes back too: on a local source started
 * beside the snapshot (a snapshot taken before ours is in it; ours is left
 * out), on a remote one in the snapshot's session right after it, the new
 * snapshot read from it.
 */
async function takeSnapshot(
  run: PairRun,
  name: string,
  estimate?: readonly zargv.SendOptions[],
  layout?: SnapshotLayout,
  list?: { parsable: boolean },
): Promise<{ snap: () => Promise<SnapshotEntry>; estimate?: number; listing?: SnapshotListing }> {
  const { pair, src } = run;
  const ds = pair.source.dataset;
  const full = `${ds}@${name}`;
  const refused = (made: RunResult) => {
    const z = classifyZfsError(made.stderr, made.exitCode, made.stdout);
    return new ActionError(`cannot snapshot ${ds} on ${describeHost(run, 'source')}: ${z.message}`, z.hint, [z.detail]);
  };
  const readBack = ['zfs', 'get', '-Hp', '-o', 'name,property,value', zargv.SNAPSHOT_PROPS.join(','), full];
  const parsed = (got: RunResult) => {
    const snap = got.exitCode === 0 ? parseSnapshotList(got.stdout, ds).snapshots[0] : undefined;
    if (!snap) throw new ActionError(`took ${full} but cannot read it back: ${firstLines(got.stderr, 1)[0] ?? 'no output'}`);
    return snap;
  };
  if (src.local && !estimate?.length && !layout && !pair.options.recursive) {
    // the listing (list) starts as soon as the snapshot's process has, and runs beside it: a
    // snapshot taken before ours is in it, as in a cron run's listing before its snapshot
    const making = src.exec(zargv.snapshot([full]));
    const argv = list ? listArgv(ds, { parsable: list.parsable }) : undefined;
    const listed = argv ? src.exec(argv) : undefined;
    listed?.catch(() => undefined);
    const made = await step(`cannot snapshot ${ds} on ${describeHost(run, 'source')}`, making);
    if (made.exitCode !== 0) throw refused(made);
    run.log.info(`snapshot ${full} taken`);
    // read back once the stream is through (or when first needed), off the stream's path
    const snap = onDemand(() => step(`cannot read back ${full}`, src.exec(readBack)).then(parsed));
    if (!argv || !listed) return { snap };
    const l = listingOf(src, ds, argv, await step(`cannot list ${ds} on ${describeHost(run, 'source')}`, listed));
    if (!l) throw sourceMissing(run);
    // it may hold ours or not: inBetween and finishFromSource leave it out by name
    return { snap, listing: l };
  }
  // the size estimate (send -nvP, OpenZFS) of the streams to come rides in the snapshot's session
  const make = layout && 'names' in layout ? zargv.snapshot(layout.names.map((n) => `${n}@${name}`)) : zargv.snapshot([full], { recursive: Boolean(pair.options.recursive) });
  const listing = list && !layout && !pair.options.recursive ? listArgv(ds, { parsable: list.parsable }) : undefined;
  const argvs = [make, listing ?? readBack];
  const estimates = estimate ?? [];
  for (const e of estimates) argvs.push(zargv.send({ ...e, dryRun: true }));
  const unmake = layout && 'destroy' in layout ? layout.destroy.map((t) => zargv.destroy(`${t}@${name}`, { recursive: true })) : [];
  const [made, got, ...rest] = await step(`cannot snapshot ${ds} on ${describeHost(run, 'source')}`, src.batch([...argvs, ...unmake], { guard: 1 }));
  const est = rest.slice(0, estimates.length);
  const unmade = rest.slice(estimates.length);
  if (made!.exitCode !== 0) throw refused(made!);
  let listed: SnapshotListing | undefined;
  let snap: SnapshotEntry;
  if (listing) {
    let l: SnapshotListing | null = null;
    let why = '';
    try {
      l = listingOf(src, ds, listing, got!);
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    const found = l?.snapshots.find((s) => s.snapshot === name);
    if (!l || !found) throw new ActionError(`took ${full} but cannot read it back: ${why || firstLines(got!.stderr, 1)[0] || 'not in the listing'}`);
    listed = l;
    snap = found;
  } else snap = parsed(got!);
  run.log.info(`snapshot ${full} taken`);
  unmade.forEach((r, i) => {
    if (r.exitCode !== 0) run.log.warn(`cannot destroy ${layout && 'destroy' in layout ? layout.destroy[i] : '?'}@${name} (excluded): ${firstLines(r.stderr, 1)[0] ?? `exit ${r.exitCode}`}`);
  });
  // the sum of every stream's estimate, or none when zfs cannot say for one of them
  let bytes: number | undefined = est.length ? 0 : undefined;
  for (const r of est) {
    try {
      const n = r.exitCode === 0 ? parseSendEstimate(r.stdout) : null;
      if (n === null) {
        run.log.debug(`no size estimate: ${firstLines(r.stdout + r.stderr, 1)[0] ?? `exit ${r.exitCode}`}`);
        bytes = undefined;
        break;
      }
      bytes = (bytes ?? 0) + Number(n);
    } catch (e) {
      run.log.debug(`no size estimate: ${e instanceof Error ? e.message : String(e)}`);
      bytes = undefined;
      break;
    }
  }
  const read = () => Promise.resolve(snap);
  return { snap: read, ...(bytes === undefined ? {} : { estimate: bytes }), ...(listed ? { listing: listed } : {}) };
}

/**
 * The pair's snapshot between its hooks: pre first (when it fails, no
 * snapshot and the run fails), then the snapshot, then post whether or not
 * the snapshot was taken (a database that pre locked gets unlocked within
 * seconds, not after the transfer); a failing post is a warning.
 */
async function snapshotBetweenHooks(run: PairRun, action: 'initialize' | 'update', plan: RunPlan, list?: { parsable: boolean }): Promise<{ snap: () => Promise<SnapshotEntry>; estimate?: number; listing?: SnapshotListing; warnings: string[] }> {
  const { caps } = plan.context;
  const ctx = { pair: run.pair, action, snapshot: plan.snapshot };
  const pre = await runHook('pre', ctx, run.log, run.signal);
  if (pre) throw new ActionError(`${pre}; no snapshot was taken`, 'the pair log holds its output (zettabee logfile); fix the hook, or remove pre= from the pair');
  const warnings: string[] = [];
  const post = async (taken: boolean) => {
    const p = await runHook('post', { ...ctx, taken }, run.log, run.signal);
    if (p) {
      run.log.warn(p);
      warnings.push(p);
    }
  };
  let taken;
  try {
    taken = await takeSnapshot(run, plan.snapshot, caps.source.sendDryRunParsable ? streamsOf(plan) : undefined, plan.layout, list);
  } catch (e) {
    if (run.pair.options.post) await post(false);
    throw e;
  }
  if (run.pair.options.post) await post(true);
  return { ...taken, warnings };
}

/**
 * Refuse at once, before a byte is sent, a stream that the destination has
 * no room for (zfs would fail it when the pool fills, maybe an hour in).
 */
function checkSpace(run: PairRun, estimate: number | undefined, available: number | undefined, where: string): void {
  if (estimate === undefined || available === undefined || estimate <= available) return;
  throw new PairError(
    `the stream needs about ${formatBytes(estimate)} (zfs send -nvP), but ${where} on ${describeHost(run, 'destination')} has only ${formatBytes(available)} available; nothing was sent`,
    'free space on the destination pool or raise its quota, then run the update again',
  );
}

function availableOf(props: Map<string, PropValue> | null | undefined): number | undefined {
  const v = Number(props?.get('available')?.value);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** release our hold (if any) and destroy pair snapshots; failures become warnings */
async function retire(run: PairRun, host: Host, ds: string, snaps: readonly SnapshotInfo[], caps: Capabilities, why: string): Promise<string[]> {
  if (snaps.length === 0) return [];
  run.mustHoldLock(why);
  const recursive = Boolean(run.pair.options.recursive);
  const tag = holdTag(run.pair.fingerprint);
  const argvs: string[][] = [];
  for (const s of snaps) {
    if (caps.holds) argvs.push(zargv.release(tag, [`${ds}@${s.snapshot}`], { recursive }));
    argvs.push(zargv.destroy(`${ds}@${s.snapshot}`, { recursive }));
  }
  return checkBatch(run, host, caps, argvs, await step(`cannot ${why} on ${host.name}`, host.batch(argvs)), why);
}

/**
 * Log each command of a batch; failures (other than harmless hold noise)
 * become warnings. A snapshot that could not be destroyed because someone
 * holds it is named with its holders (`zfs holds` where zfs lists them,
 * the hold count elsewhere), so the warning says what to release.
 */
async function checkBatch(run: PairRun, host: Host, caps: Capabilities, argvs: readonly string[][], results: readonly RunResult[], why: string): Promise<string[]> {
  const failed: Array<{ argv: readonly string[]; message: string; held?: string }> = [];
  const cloned: Array<{ argv: readonly string[]; message: string }> = [];
  const keptFor = (snap: string, kept: string) => run.log.info(`${why}: kept ${snap}: ${kept} (what failback kept) is a clone of it; it goes once that copy is destroyed`);
  results.forEach((r, i) => {
    const argv = argvs[i]!;
    if (r.exitCode === 0) {
      if (argv[1] === 'destroy') run.log.info(`${why}: destroyed ${argv[argv.length - 1]} on ${host.name}`);
      return;
    }
    const z = classifyZfsError(r.stderr, r.exitCode, r.stdout);
    if ((argv[1] === 'release' && (z.kind === 'noSuchTag' || z.kind === 'datasetMissing')) || (argv[1] === 'hold' && z.kind === 'tagExists')) return;
    if (argv[1] === 'destroy' && z.kind === 'datasetMissing') return;
    const snap = argv[argv.length - 1]!;
    // the origin of the copy failback kept of a side's divergent history: it stays while that copy does
    const kept = run.status.direction?.kept;
    if (argv[1] === 'destroy' && kept && r.stderr.includes(`${kept}@`)) {
      keptFor(snap, kept);
      return;
    }
    // zfs-fuse says only "snapshot is cloned", naming no clone: asked below
    if (argv[1] === 'destroy' && kept && /snapshot is cloned|dependent clones/.test(r.stderr)) {
      cloned.push({ argv, message: z.message });
      return;
    }
    failed.push({ argv, message: z.message, ...(argv[1] === 'destroy' && z.kind === 'busy' && snap.includes('@') ? { held: snap } : {}) });
  });
  if (cloned.length) {
    const kept = run.status.direction!.kept!;
    const origins = await host.exec(['zfs', 'get', '-H', '-r', '-o', 'value', 'origin', kept]).then(
      (r) => (r.exitCode === 0 ? r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('@')) : []),
      () => [] as string[],
    );
    const stamps = new Set(origins.map((o) => o.slice(o.indexOf('@'))));
    for (const c of cloned) {
      const snap = c.argv[c.argv.length - 1]!;
      if (stamps.has(snap.slice(snap.indexOf('@')))) keptFor(snap, kept);
      else failed.push(c);
    }
  }
  const held = failed.flatMap((f) => (f.held ? [f.held] : []));
  const holders = held.length ? await holdersOf(run, host, caps, held) : new Map<string, string>();
  const warnings = failed.map((f) => `${why}: \`${f.argv.join(' ')}\` on ${host.name} failed: ${f.message}${f.held && holders.get(f.held) ? ` (${holders.get(f.held)})` : ''}`);
  // logged now, so a run that fails later still leaves them in the log
  for (const w of warnings) run.log.warn(w);
  return warnings;
}

/** who holds these snapshots, in words, by snapshot: the tags and how to release them, or the count where zfs cannot list them */
async function holdersOf(run: PairRun, host: Host, caps: Capabilities, snaps: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    if (caps.holdsList) {
      const r = await host.exec(zargv.holds(snaps));
      const tags = new Map<string, string[]>();
      for (const h of parseHolds(r.stdout)) tags.set(h.snapshot, [...(tags.get(h.snapshot) ?? []), h.tag]);
      for (const [snap, t] of tags) out.set(snap, `held by ${t.join(', ')}: zfs release ${t[0]} ${snap}`);
    } else {
      const r = await host.exec(['zfs', 'get', '-H', '-p', '-o', 'name,value', 'userrefs', ...snaps]);
      for (const l of r.stdout.split('\n')) {
        const [snap, n] = l.split('\t');
        if (snap && Number(n) > 0) out.set(snap, `${n} user hold${n === '1' ? '' : 's'} on it (userrefs); this zfs cannot list their tags`);
      }
    }
  } catch (e) {
    run.log.debug(`cannot tell who holds ${snaps.join(', ')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return out;
}

/**
 * After a failed transfer: remove the snapshot this run took, unless the
 * destination has it after all (then it is the new common base) or holds a
 * resumable partial receive of it. If the destination cannot be asked, keep
 * it: the next update's planner removes it as an orphan. A run that was
 * stopped (SIGTERM, SIGINT, the daemon's stop) leaves nothing: once the
 * far end's receive has died (settleStopped) it discards the partial
 * receive (zfs receive -A), unless it lost its lock, and retries removing
 * the snapshot while the dying send keeps it busy; only a run that failed
 * or died keeps a partial receive for the next run to resume.
 */
async function dropUnsent(run: PairRun, name: string, caps: BothCapabilities): Promise<'resumable' | 'received' | 'unknown' | 'removed'> {
  const { pair, src, dst, log } = run;
  const dds = pair.destination.dataset;
  const dsnap = `${dds}@${name}`;
  // a stopped run's ssh sessions closed at once; the zfs processes at their other ends may take longer to die
  if (run.signal.aborted) await settleStopped(run);
  try {
    if (resumable(caps)) {
      const props = await getProps(dst, dds, ['receive_resume_token']);
      if (resumeDecision(userProp(props, 'receive_resume_token')).kind === 'resume' && !(await discardPartial(run, name))) {
        log.warn(`kept @${name} on the source: the destination holds a resumable partial receive; the next update resumes it`);
        return 'resumable';
      }
    }
    if (await exists(dst, dsnap)) {
      log.warn(`the transfer failed, but ${dsnap} exists on the destination; kept @${name} as the common snapshot`);
      return 'received';
    }
  } catch (e) {
    log.warn(`kept @${name} on the source: cannot check the destination (${e instanceof Error ? e.message : String(e)}); the next update removes it if it never arrived`);
    return 'unknown';
  }
  try {
    run.mustHoldLock(`removing @${name} from the source`);
  } catch {
    return 'unknown';
  }
  const destroy = (): Promise<RunResult | Error> => src.exec(zargv.destroy(`${pair.source.dataset}@${name}`, { recursive: Boolean(pair.options.recursive) })).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  let r = await destroy();
  // stopped: the zfs send may still hold the snapshot for a moment (busy); retry it a while
  for (const until = Date.now() + SETTLE_MS; run.signal.aborted && !(r instanceof Error) && r.exitCode !== 0 && busy(r.stderr) && Date.now() < until; ) {
    await delay(250);
    r = await destroy();
  }
  if (r instanceof Error || r.exitCode !== 0) {
    const text = r instanceof Error ? r.message : classifyZfsError(r.stderr, r.exitCode).message;
    log.warn(`could not remove @${name} from the source after the failure: ${text}; the next update removes it`);
  } else {
    log.info(`removed @${name} from the source: it never reached the destination`);
  }
  return 'removed';
}

/** how long a stopped run waits for its zfs processes at the far ends to die */
const SETTLE_MS = 15_000;

/**
 * A stopped run's stream ends by signal: its ssh sessions close at once,
 * but the zfs receive at the far end may take a moment longer to die (a
 * slow or loaded host), and until it has, its partial state is not there
 * to discard. Wait for it (bounded).
 */
async function settleStopped(run: PairRun): Promise<void> {
  const dds = run.pair.destination.dataset;
  const r = await run.dst.exec(zargv.waitNoReceive(dds, SETTLE_MS / 1000)).catch(() => undefined);
  if (r && r.exitCode !== 0) run.log.warn(`a zfs receive into ${dds} still ran ${SETTLE_MS / 1000} s after the stop`);
}

/** a stopped run's partial receive on the destination, discarded (zfs receive -A); false: it stays (the run was not stopped, lost its lock, or zfs refused) */
async function discardPartial(run: PairRun, name: string): Promise<boolean> {
  const dds = run.pair.destination.dataset;
  if (!run.signal.aborted) return false;
  try {
    run.mustHoldLock(`discarding the partial receive on ${dds}`);
  } catch {
    return false;
  }
  const r = await run.dst.exec(zargv.recvAbort(dds));
  if (r.exitCode !== 0) {
    run.log.warn(`cannot discard the partial receive on ${dds} after the stop: ${classifyZfsError(r.stderr, r.exitCode).message}`);
    return false;
  }
  run.log.info(`discarded the partial receive of @${name} on ${dds} (zfs receive -A): the run was stopped`);
  return true;
}

/**
 * A recursive stream that failed after the top received its snapshot may
 * have stopped half-way through the tree: the children that did not get it
 * lag behind. That is an inconsistent destination, not just a failed run;
 * the next update catches them up (catchUp) once the cause is gone. Which
 * children lack it is asked of the destination; when none does, the
 * failure came after the receive and stays what it was.
 */
async function partialTree(run: PairRun, caps: BothCapabilities, e: unknown, snap: SnapshotEntry, source: ReadonlyMap<string, SnapshotListing>): Promise<unknown> {
  if (!(e instanceof ActionError)) return e;
  const dds = run.pair.destination.dataset;
  let lacking: string[];
  try {
    const now = await listDatasets(run.dst, dds, { wholeTree: true, parsable: caps.destination.listParsable });
    lacking = [...source.keys()].map((n) => counterpart(run, n)).filter((n) => !now?.get(n)?.snapshots.some((x) => x.snapshot === snap.snapshot));
  } catch {
    return e;
  }
  if (lacking.length === 0) return e;
  const message = `the recursive receive stopped half-way: ${dds} got @${snap.snapshot}, but ${lacking.join(', ')} did not (${e.message})`;
  const hint = `${e.hint ? `${e.hint}; ` : ''}once the cause is gone the next update catches ${lacking.length === 1 ? 'it' : 'them'} up by itself`;
  return new PairError(message, hint, e.details, 'Inconsistent', { kind: 'partial', message, hint, details: [...e.details] });
}

/** what the finish is computed from (at plan time, before the new snapshot exists) */
interface FinishInput {
  initial: boolean;
  /** initialize: mount what arrived below this path (the destination parent's mountpoint), see zargv.mountBelow */
  mountRoot?: string;
  caps: BothCapabilities;
  /** the new (or, finishing an interrupted initialize, the received) snapshot; its guid is PLANNED until it exists */
  snap: SnapshotInfo;
  /** the old base, as each side lists it (update only); on the source a bookmark when its snapshot is gone */
  base?: { source: SnapshotInfo; destination: SnapshotInfo; sourceIsBookmark?: boolean };
  /** the source's bookmarks before this run */
  sourceBookmarks?: readonly BookmarkEntry[];
  sourceAfter: SnapshotInfo[];
  destinationAfter: SnapshotInfo[];
}

/** the guid of a snapshot that the plan takes but that does not exist yet (no real guid is ever this) */
const PLANNED = 'planned';

/** the finish as data: each side's commands; the destination's guard (the guid check) is added once the snapshot exists */
export interface FinishPlan {
  destination: string[][];
  /** the source's properties and the hold on the new base: while the destination verifies */
  sourceEarly: string[][];
  /** releasing and destroying on the source: only once the destination is known good */
  sourceLate: string[][];
  /** what each side keeps once the finish is done (the new snapshot still PLANNED), for the daemon's warm path */
  kept: { source: SnapshotInfo[]; destination: SnapshotInfo[]; bookmarks: { drop: string[]; add: boolean } };
}

/** the bookkeeping properties of a pair on one side */
function finishProps(run: PairRun, f: FinishInput, which: 'source' | 'destination'): Record<string, string> {
  const { pair } = run;
  const props = pairProps(pair.fingerprint);
  const last = { [props.lastsnap]: f.snap.snapshot };
  // zfs-fuse's receive of a replication stream (-R, -p) drops the destination's own properties, readonly=on with them: set it again (OpenZFS: keepReadonly)
  const streamDropsOwn = which === 'destination' && !f.caps.destination.recvOptions && Boolean(pair.options.recursive || pair.options.props);
  if (!f.initial) return streamDropsOwn ? { readonly: 'on', ...last } : last;
  const names = { [props.source]: `${pair.source.host}:${pair.source.dataset}`, [props.destination]: `${pair.destination.host}:${pair.destination.dataset}` };
  if (which === 'source') return { ...names, ...last };
  return { ...(f.caps.destination.recvOptions ? {} : { readonly: 'on' }), [FINGERPRINT_PROP]: pair.fingerprint, ...names, ...last };
}

function setArgvs(ds: string, p: Record<string, string>, many: boolean): string[][] {
  return many ? [zargv.setPropsAtOnce(ds, p)] : zargv.setProps(ds, p);
}

/**
 * Bookmarks as base protection (zrepl's cursor): the source keeps a bookmark
 * of each pair snapshot the destination keeps, so that an update still goes
 * incremental after someone destroyed the base snapshot on the source. Not
 * for recursive pairs (zfs send -R cannot start from a bookmark). Older pair
 * bookmarks go; a user's bookmarks are never touched.
 */
function bookmarkUpkeep(run: PairRun, f: FinishInput, destinationDropped: readonly SnapshotInfo[]): { argvs: string[][]; drop: string[]; add: boolean } {
  const { pair } = run;
  if (!f.caps.source.bookmarks || pair.options.recursive) return { argvs: [], drop: [], add: false };
  const sds = pair.source.dataset;
  const fp = pair.fingerprint;
  const dropped = new Set(destinationDropped.map((s) => s.guid));
  const kept = new Set(f.destinationAfter.filter((s) => isPairSnapshot(s.snapshot, fp) && !dropped.has(s.guid)).map((s) => s.guid));
  const mine = (f.sourceBookmarks ?? []).filter((b) => isPairSnapshot(b.bookmark, fp));
  const argvs: string[][] = [];
  const add = !mine.some((b) => b.guid === f.snap.guid);
  if (add) argvs.push(zargv.bookmark(`${sds}@${f.snap.snapshot}`, `${sds}#${f.snap.snapshot}`));
  const drop = mine.filter((b) => !kept.has(b.guid)).map((b) => b.bookmark);
  for (const b of drop) argvs.push(zargv.destroyBookmark(`${sds}#${b}`));
  return { argvs, drop, add };
}

/**
 * The finish, known before anything runs: on the destination the
 * properties, the hold on the new base, the release of the old one,
 * retention and (initialize) the mount; on the source the properties and
 * the hold, then, once the destination is verified, release, retention and
 * bookmarks.
 */
function planFinish(run: PairRun, f: FinishInput): FinishPlan {
  const { pair } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const recursive = Boolean(pair.options.recursive);
  const tag = holdTag(fp);
  const keep = pair.options.keep ?? 1;
  const retention = planRetention(fp, f.sourceAfter, f.destinationAfter, f.snap.guid, keep);
  const destination: string[][] = setArgvs(dds, finishProps(run, f, 'destination'), f.caps.destination.setMany);
  if (f.caps.destination.holds) {
    destination.push(zargv.hold(tag, [`${dds}@${f.snap.snapshot}`], { recursive }));
    if (f.base) destination.push(zargv.release(tag, [`${dds}@${f.base.destination.snapshot}`], { recursive }));
  }
  for (const s of retention.destination) {
    // the old base was released just above
    if (f.caps.destination.holds && s.guid !== f.base?.destination.guid) destination.push(zargv.release(tag, [`${dds}@${s.snapshot}`], { recursive }));
    destination.push(zargv.destroy(`${dds}@${s.snapshot}`, { recursive }));
  }
  // received with -u: mounted only now, read-only, and only below the destination's parent
  if (f.mountRoot) destination.push(zargv.mountBelow(dds, f.mountRoot));
  const sourceEarly: string[][] = setArgvs(sds, finishProps(run, f, 'source'), f.caps.source.setMany);
  if (f.caps.source.holds) sourceEarly.push(zargv.hold(tag, [`${sds}@${f.snap.snapshot}`], { recursive }));
  const sourceLate: string[][] = [];
  if (f.caps.source.holds && f.base && !f.base.sourceIsBookmark) sourceLate.push(zargv.release(tag, [`${sds}@${f.base.source.snapshot}`], { recursive }));
  for (const s of retention.source) {
    if (f.caps.source.holds && s.guid !== f.base?.source.guid) sourceLate.push(zargv.release(tag, [`${sds}@${s.snapshot}`], { recursive }));
    sourceLate.push(zargv.destroy(`${sds}@${s.snapshot}`, { recursive }));
  }
  const marks = bookmarkUpkeep(run, f, retention.destination);
  sourceLate.push(...marks.argvs);
  const gone = (drop: readonly SnapshotInfo[]) => {
    const guids = new Set(drop.map((s) => s.guid));
    return (s: SnapshotInfo) => !guids.has(s.guid);
  };
  const kept = { source: f.sourceAfter.filter(gone(retention.source)), destination: f.destinationAfter.filter(gone(retention.destination)), bookmarks: { drop: marks.drop, add: marks.add } };
  return { destination, sourceEarly, sourceLate, kept };
}

/** the guard of the destination's finish: does it hold the received snapshot with the source's guid (prints it) */
function receivedCheck(run: PairRun, snap: SnapshotEntry): string[] {
  return zargv.verifyGuid(`${run.pair.destination.dataset}@${snap.snapshot}`, snap.guid);
}

/**
 * The guid check that rides in the receive's ssh session (transfer's
 * `verify`): the received snapshot's guid, printed. It runs alone there,
 * so it needs no guard, and finish() compares it with the source's (which
 * may still be read back while the stream runs: takeSnapshot).
 */
function guidInSession(run: PairRun, snapshot: string): { verify: string[] } {
  return { verify: zargv.readGuid(`${run.pair.destination.dataset}@${snapshot}`) };
}

/**
 * The new snapshot recorded as on the destination on its receipt: once zfs
 * receive exited 0, every process before it too, and the stream's first
 * record (read as it passed through this process) said it carried this
 * snapshot by name, from the base's guid (a full stream: from none). ZFS
 * gives a received snapshot the guid its stream names, so the destination
 * holds that snapshot then, and the record takes guid and creation from the
 * stream. The guid check on the destination against the source's read-back
 * still follows before anything is released or destroyed, and a failed one
 * takes the record back (runLocked). Only for a stream of one snapshot (not
 * -I, -R or a tree's children); otherwise, or when the first record was not
 * seen (compressed, pv, mbuffer), finish() records it after the check.
 * transfer() tells whether it did (Transferred.recorded).
 */
function onReceipt(run: PairRun, plan: RunPlan): { received?: (b: StreamBegin | undefined) => boolean } {
  const send = plan.send;
  const record = run.replicated;
  if (!send || !record || send.incremental === 'I' || send.replicate || plan.children?.length || run.pair.options.recursive) return {};
  const base = plan.context.base;
  const received = (b: StreamBegin | undefined): boolean => {
    if (!b || run.signal.aborted || b.toname !== send.snapshot) return false;
    if (send.from === undefined ? b.fromguid !== '0' : base === undefined || b.fromguid !== base.guid) return false;
    record({ name: plan.snapshot, guid: b.toguid, creation: b.creation });
    run.log.debug(`@${plan.snapshot} recorded on its receipt: zfs receive exited 0 on a stream of guid ${b.toguid} from ${b.fromguid}; the guid check on the destination follows`);
    return true;
  };
  return { received };
}

/** the destination's whole finish batch: the guid check of the received snapshot first (nothing else runs unless it is the snapshot sent) */
function destinationBatch(run: PairRun, fin: FinishPlan, snap: SnapshotEntry): string[][] {
  return [receivedCheck(run, snap), ...fin.destination];
}

/**
 * Verify the destination has the new snapshot (by guid), record that
 * (PairRun.replicated), then the plan's finish in one batch per host,
 * both hosts at once. Nothing is released or destroyed on either side
 * unless the guid matched. On a remote destination the check (or more of
 * the batch, the check first) may have run already in the receive's ssh
 * session (transfer()): then its output is read here, not run again.
 */
export async function finish(run: PairRun, caps: BothCapabilities, fin: FinishPlan, snap: SnapshotEntry, moved: Transferred): Promise<Outcome> {
  const { pair, src, dst } = run;
  const dds = pair.destination.dataset;
  const whole = destinationBatch(run, fin, snap);
  const srcArgv = [...fin.sourceEarly, ...fin.sourceLate];
  const changes = (argvs: readonly string[][]) => argvs.some((a) => a[1] === 'destroy' || a[1] === 'release');
  const onDestination = `cannot finish on the destination ${describeHost(run, 'destination')}`;
  const onSource = (argvs: string[][]) => {
    if (argvs.length === 0) return Promise.resolve([]);
    if (changes(argvs)) run.mustHoldLock('retention on the source');
    return step(`cannot finish on the source ${describeHost(run, 'source')}`, src.batch(argvs));
  };
  const verified = (dstResults: RunResult[]) => {
    const verify = dstResults[0]!;
    const got = verify.stdout.trim();
    if (verify.exitCode === 0 && got === snap.guid) {
      if (!moved.recorded) run.replicated?.(ref(snap));
      return;
    }
    const seen = /^\d+$/.test(got) ? `guid ${got}` : classifyZfsError(verify.stderr, verify.exitCode).message;
    throw new PairError(
      `the destination does not hold ${dds}@${snap.snapshot} with guid ${snap.guid} after the receive (${seen})`,
      'nothing was removed; look at both sides with zfs list -t snapshot, then run update again',
      [],
      'Inconsistent',
      { kind: 'verify', message: `received snapshot not found by guid on the destination (${seen})` },
    );
  };

  const done = moved.finished;
  // the destination's results, the guid check first
  let dstResults: RunResult[];
  if (done) dstResults = await step(onDestination, Promise.resolve().then(() => readBatch(dst.name, done.argvs, 1, done.output)));
  else {
    // only the check: its answer decides whether anything else runs
    dstResults = await step(onDestination, dst.batch(whole.slice(0, 1), { guard: 1 }));
  }
  verified(dstResults);
  // what of the destination's batch is still to run, beside the source's whole finish
  const rest = whole.slice(dstResults.length);
  if (changes(rest)) run.mustHoldLock('retention on the destination');
  const [more, srcResults] = await Promise.all([rest.length ? step(onDestination, dst.batch(rest)) : Promise.resolve([]), onSource(srcArgv)]);
  dstResults = [...dstResults, ...more];
  const warnings = [...(await checkBatch(run, dst, caps.destination, whole.slice(1), dstResults.slice(1), 'retention')), ...(await checkBatch(run, src, caps.source, srcArgv, srcResults, 'retention'))];
  return { lastSnapshot: ref(snap), bytes: moved.bytes, snapshot: snap.snapshot, warnings };
}

/**
 * Without `receive -o readonly=on` (zfs-fuse) and `receive -u` a new
 * recursive destination is writable while its children are received and mounted, and mounting them
 * changes the parent after its snapshot: the first update was refused as
 * "modified since most recent snapshot". Nothing else can have written there
 * yet and finish() has just set readonly=on, so roll every received file
 * system back to the snapshot it just received (no newer snapshot exists;
 * nothing but those mount-time changes is discarded).
 */
async function settleRecursive(run: PairRun, caps: Capabilities, snapshot: string): Promise<string[]> {
  const { dst } = run;
  const dds = run.pair.destination.dataset;
  const listed = await dst.exec(['zfs', 'list', '-H', '-o', 'name', '-r', '-t', 'filesystem', dds]);
  const names = listed.exitCode === 0 ? listed.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [dds];
  const argvs = names.map((n) => zargv.rollback(`${n}@${snapshot}`));
  const results = await step(`cannot settle ${dds} on ${describeHost(run, 'destination')}`, dst.batch(argvs));
  run.log.info(`rolled ${names.length} received file system${names.length === 1 ? '' : 's'} back to @${snapshot} (changes made by mounting them)`);
  return checkBatch(run, dst, caps, argvs, results, 'settling the new destination');
}

function logStart(run: PairRun, action: string, what: string): void {
  const p = run.pair;
  run.log.info(`${action} START ${p.source.host}:${p.source.dataset} -> ${p.destination.host}:${p.destination.dataset} (${p.transport}): ${what}`);
}

function logMoved(run: PairRun, bytes: number, started: number): void {
  const moved = formatTransfer(bytes, (Date.now() - started) / 1000);
  run.log.info(`stream done: ${moved}`);
  run.note(moved);
}

function sourceMissing(run: PairRun): PairError {
  return new PairError(`the source ${run.pair.source.dataset} does not exist on ${describeHost(run, 'source')}`, 'check the pairs file, or restore the source dataset');
}

// ---------------------------------------------------------------------------
// One plan, then its execution. initialize and update first read both sides
// and decide everything as data (RunPlan): the snapshot to take, the send
// and the receive, what comes before them (an interrupted receive to resume
// or drop, holds of dead sends to release, snapshots of interrupted runs to
// destroy, children to catch up) and the finish (properties, holds,
// bookmarks, retention). A dry run prints that plan and does nothing; a run
// logs it, then carries out exactly that.

export interface RunPlan {
  action: 'initialize' | 'update';
  /** an interrupted receive into the destination itself, finished first (an update then plans again from what is there) */
  resume?: { target: string; token: string; to: string };
  /** a partial receive whose token no longer fits, dropped first */
  drop?: { target: string; reason: string };
  /** holds that dead zfs sends of earlier runs left on the source (zfs-fuse), released first */
  releaseSends?: { pids: number[]; argvs: string[][] };
  /** pair snapshots of interrupted runs (initialize: of an earlier initialize) to destroy on the source */
  orphans: SnapshotInfo[];
  /** why the orphans stay this time (an evicted run may still be sending one) */
  keepOrphans?: string;
  catchUp: CatchUpStep[];
  /** exclude=: how the snapshot leaves the excluded children out */
  layout?: SnapshotLayout;
  /** exclude=: the included children's own streams, after the top's and before the finish */
  children?: CatchUpStep[];
  /** said on every run until someone acts (a destination child without source) */
  warnings: string[];
  /** the snapshot the stream sends; taken by this run unless `taken` (an interrupted initialize's own) */
  snapshot: string;
  taken?: SnapshotEntry;
  /** the stream; none when an interrupted initialize only lacks its finish */
  send?: zargv.SendOptions;
  receive?: zargv.RecvOptions;
  /** what the START line says about the stream */
  what: string;
  raw: boolean;
  finish: FinishPlan;
  /** where retention of a recursive initialize without -u must roll mounting's changes back */
  settle: boolean;
  /** a dry run's idea of the stream's size, before any snapshot exists */
  estimateNow?: { bytes: number; what: string };
  /** how the plan was made, for the execution */
  context: {
    caps: BothCapabilities;
    available?: number;
    availableOf: string;
    base?: SnapshotInfo;
    baseOnDestination?: SnapshotInfo;
    sourceLists?: Map<string, SnapshotListing>;
    /** what the finish was planned from (update), and the destination's snapshots before the stream: the warm path plans the finish again from the source's real listing */
    finishInput?: FinishInput;
    destinationBefore?: readonly SnapshotInfo[];
  };
}

function argvText(argv: readonly string[]): string {
  return quoteArgv(argv);
}

/** the plan in lines: what a dry run prints, and what a run logs before it acts */
export function describePlan(plan: RunPlan, run: PairRun): string[] {
  const { pair } = run;
  const sds = pair.source.dataset;
  const out: string[] = [];
  const src = `source ${describeHost(run, 'source')}`;
  const dst = `destination ${describeHost(run, 'destination')}`;
  if (run.reversed) out.push(`the pair runs reversed (${run.status.direction ? `${run.status.direction.how} at ${run.status.direction.since}` : 'as its datasets say'}): ${endpointName(pair.source)} -> ${endpointName(pair.destination)}`);
  if (plan.drop) out.push(`drop the partial receive on ${plan.drop.target} on the ${dst}: ${plan.drop.reason}`);
  if (plan.resume) out.push(`resume the interrupted receive into ${plan.resume.target} on the ${dst}, up to @${plan.resume.to}`);
  if (plan.releaseSends) out.push(`release on the ${src} the holds that dead zfs sends (pid ${plan.releaseSends.pids.join(', ')}) left: ${plan.releaseSends.argvs.length} zfs release`);
  if (plan.orphans.length) {
    out.push(`${plan.keepOrphans ? `keep (${plan.keepOrphans})` : 'destroy'} on the ${src} the snapshots of ${plan.action === 'initialize' ? 'an earlier initialize' : 'interrupted runs'}: ${plan.orphans.map((o) => `@${o.snapshot}`).join(', ')}`);
  }
  for (const c of plan.catchUp) {
    if (c.drop) out.push(`catch up ${c.target}: drop its partial receive (${c.drop})`);
    if (c.resume) out.push(`catch up ${c.target}: resume its interrupted receive, up to @${c.resume.to}`);
    if (c.send) out.push(`catch up ${c.target}: ${argvText(zargv.send(c.send))} | ${argvText(zargv.recv(c.receive))}`);
  }
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  if (plan.taken) out.push(`use ${sds}@${plan.snapshot} (it arrived; the interrupted initialize did not finish)`);
  else {
    const pre = describeHook('pre', pair);
    const post = describeHook('post', pair);
    if (pre) out.push(pre);
    const l = plan.layout;
    if (l && 'names' in l) out.push(`snapshot ${l.names.length === 1 ? `${sds}@${plan.snapshot}` : `${sds}@${plan.snapshot} and ${l.names.length - 1} included child${l.names.length === 2 ? '' : 'ren'}`} at once on the ${src}: ${argvText(zargv.snapshot(l.names.map((n) => `${n}@${plan.snapshot}`)))}`);
    else out.push(`snapshot ${sds}@${plan.snapshot}${pair.options.recursive ? ' -r' : ''} on the ${src}${l?.destroy.length ? `, then destroy it on the excluded ${l.destroy.join(', ')} (destroy -r)` : ''}`);
    if (post) out.push(post);
  }
  if (plan.send && plan.receive) out.push(`stream ${pair.transport}: ${argvText(zargv.send(plan.send))} on the ${src} | ${argvText(zargv.recv(plan.receive))} on the ${dst}`);
  for (const c of plan.children ?? []) out.push(`then ${c.target}: ${argvText(zargv.send(c.send!))} | ${argvText(zargv.recv(c.receive))}`);
  out.push(`check that @${plan.snapshot} arrived on the ${dst} with the source's guid`);
  for (const a of plan.finish.destination) out.push(`on the ${dst}: ${stepText(a)}`);
  for (const a of [...plan.finish.sourceEarly, ...plan.finish.sourceLate]) out.push(`on the ${src}: ${stepText(a)}`);
  return out;
}

/** a finish step in words: its command line, or what a fixed script of zettabee's does */
function stepText(argv: readonly string[]): string {
  if (argv[0] === 'sh' && argv[3] === 'zettabee-mount') return `mount what arrived whose mountpoint lies below ${argv[5]} (zfs mount)`;
  return argvText(argv);
}

/**
 * What the stream would carry if the snapshot were taken now, for a dry run
 * (a run asks zfs send -nP once its snapshot exists): what the source has
 * written since the base (written@base), or all it references for a full
 * send; over the tree for a recursive pair (OpenZFS). Undefined when zfs
 * cannot say (a bookmark base, zfs-fuse without written@).
 */
async function estimateNow(run: PairRun, caps: BothCapabilities, sends: readonly zargv.SendOptions[]): Promise<{ bytes: number; what: string } | undefined> {
  let bytes = 0;
  let what = '';
  for (const send of sends) {
    if (!send.snapshot) return undefined;
    const ds = send.snapshot.slice(0, send.snapshot.indexOf('@'));
    const base = send.from?.startsWith(`${ds}@`) ? send.from.slice(ds.length + 1) : undefined;
    if (send.from && !base) return undefined;
    if (send.replicate && !caps.source.listParsable) return undefined;
    const prop = base ? `written@${base}` : 'referenced';
    const tree = await getTreeProps(run.src, ds, [prop], { tree: Boolean(send.replicate) }).catch(() => null);
    if (!tree) return undefined;
    for (const props of tree.values()) {
      const v = props.get(prop)?.value;
      if (v === undefined || !/^\d+$/.test(v)) return undefined;
      bytes += Number(v);
    }
    // the top's stream names what is counted; the children's (exclude=) follow it
    what ||= base ? `what the source has written since @${base}` : 'what the source references';
  }
  return { bytes, what: sends.length > 1 ? `${what}, over ${sends.length} streams (exclude=)` : what };
}

/** every stream a plan sends: the top's, then each child's of its own (exclude=) */
function streamsOf(plan: RunPlan): zargv.SendOptions[] {
  return [plan.send!, ...(plan.children ?? []).flatMap((c) => (c.send ? [c.send] : []))];
}

/** what a dry run prints: the plan as a run logs it, then the size zfs estimates now (a run learns it once the snapshot exists) */
function dryRunLines(plan: RunPlan, run: PairRun): string[] {
  const lines = describePlan(plan, run);
  if (plan.estimateNow) lines.push(`the stream would carry about ${formatBytes(plan.estimateNow.bytes)}: ${plan.estimateNow.what} (zfs get)`);
  return lines;
}

/** log the plan, line by line, before the run acts on it */
function logPlan(run: PairRun, plan: RunPlan): void {
  for (const l of describePlan(plan, run)) run.log.info(`plan: ${l}`);
}

export interface RunOptions {
  /** print the plan, do nothing */
  dryRun?: boolean;
}

/** what a dry run gives back instead of an outcome */
export interface DryRun {
  plan: RunPlan;
  lines: string[];
}

/** a snapshot the plan takes, as the finish sees it before it exists */
function plannedSnapshot(name: string, after: readonly SnapshotInfo[]): SnapshotInfo {
  const txg = after.reduce((m, s) => (s.createtxg > m ? s.createtxg : m), 0n) + 1n;
  return { snapshot: name, guid: PLANNED, createtxg: txg, creation: 0 };
}

// ---------------------------------------------------------------------------
// initialize

interface InitializeState {
  caps: BothCapabilities;
  srcList: SnapshotListing;
  srcTree: Tree | null;
  parent: string;
  parentProps: Map<string, PropValue> | null;
  /** exclude=: the included datasets of the tree, and the top-most excluded children */
  split?: { lists: Map<string, SnapshotListing>; excluded: string[] };
  /** what an interrupted initialize of this pair left: its resumable partial receive, or its received snapshot */
  interrupted?: { resume: { token: string; snap: SnapshotEntry } } | { received: SnapshotEntry };
  /**
   * a recursive initialize killed after the top arrived: the children it
   * left on the destination (half-received, or whole), as for catching up
   * (planCatchUp); the ones it never got there are in `split`
   */
  halfway?: { source: Map<string, SnapshotListing>; destination: Map<string, SnapshotListing>; tokens: Map<string, ChildToken> };
}

async function gatherInitialize(run: PairRun): Promise<InitializeState> {
  const { pair, src, dst } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const dstName = describeHost(run, 'destination');
  const parent = parentDataset(dds)!;
  const [caps, srcList, [dstLists, dstTree], parentProps] = await Promise.all([
    capabilities(run, true),
    step(`cannot list ${sds} on ${describeHost(run, 'source')}`, listSnapshots(src, sds)),
    step(`cannot look at ${dds} on ${dstName}`, listAndProps(dst, dds, [FINGERPRINT_PROP])),
    step(`cannot look at ${parent} on ${dstName}`, getProps(dst, parent, ['mountpoint', 'available'])),
  ]);
  if (!srcList) throw sourceMissing(run);
  const dstProps = dstTree?.get(dds);
  const dstList = dstLists?.get(dds);
  let interrupted: InitializeState['interrupted'];
  if (dstList && dstProps) {
    if (userProp(dstProps, FINGERPRINT_PROP) === fp) {
      throw new PairError(`${dds} on ${dstName} is already initialized for this pair`, `run: zettabee update ${pair.label}`);
    }
    // what an initialize of this pair that was killed left behind is finished, never refused
    interrupted = await interruptedInitialize(run, caps, srcList.snapshots, dstList.snapshots);
    if (!interrupted) {
      throw new PairError(`the destination ${dds} already exists on ${dstName}; initialize never overwrites a dataset`, 'choose a destination that does not exist yet, or destroy that dataset yourself (zfs destroy -r) if nothing in it is needed');
    }
  }
  if (parentProps === null) throw new PairError(`the destination's parent ${parent} does not exist on ${dstName}`, `create it first: zfs create -p ${parent}`);
  const sv = caps.source.poolVersion;
  const dv = caps.destination.poolVersion;
  if (sv !== null && dv !== null && dv < sv) {
    throw new PairError(`the destination pool is version ${dv}, older than the source pool (version ${sv}); it could not receive the stream`, 'upgrade the destination pool (zpool upgrade), or replicate to a newer pool');
  }
  const srcPropNames = sourceProps(caps);
  let srcTree = srcPropNames.length ? await step(`cannot read the properties of ${sds} on ${describeHost(run, 'source')}`, getTreeProps(src, sds, srcPropNames, { tree: Boolean(pair.options.recursive) })) : null;
  // exclude=: the tree's datasets, to send one by one, without the excluded
  // ones. And after a killed initialize of a recursive pair (a zfs send -R
  // may have delivered the top and not every child): the children an
  // interrupted initialize never got there are sent now, each on its own;
  // the ones it left half-received are caught up as an update would
  // (their partial receive resumed, or dropped and sent again)
  const ex = exclusionOf(run);
  let split: InitializeState['split'];
  let halfway: InitializeState['halfway'];
  if (ex || (interrupted && pair.options.recursive)) {
    const withTokens = resumable(caps) ? ['receive_resume_token'] : [];
    const [all, [there, thereProps]] = await Promise.all([
      step(`cannot list ${sds} on ${describeHost(run, 'source')}`, listDatasets(src, sds, { wholeTree: true, parsable: caps.source.listParsable })),
      interrupted ? step(`cannot list ${dds} on ${dstName}`, listAndProps(dst, dds, withTokens, { tree: true, wholeTree: true, parsable: caps.destination.listParsable })) : [undefined, undefined],
    ]);
    if (!all) throw sourceMissing(run);
    split = ex ? { lists: withoutExcluded(all, sds, ex), excluded: excludedTops(all.keys(), sds, ex) } : { lists: all, excluded: [] };
    if (interrupted) {
      const arrived = (n: string) => Boolean(there?.has(counterpart(run, n)));
      halfway = { source: new Map([...split.lists].filter(([n]) => n !== sds && arrived(n))), destination: there ?? new Map(), tokens: await childTokensOf(run, thereProps) };
      split.lists = new Map([...split.lists].filter(([n]) => n === sds || !arrived(n)));
    }
    if (ex && srcTree) srcTree = withoutExcluded(srcTree, sds, ex);
  }
  return { caps, srcList, srcTree, parent, parentProps, ...(interrupted ? { interrupted } : {}), ...(split ? { split } : {}), ...(halfway ? { halfway } : {}) };
}

/**
 * A destination that an initialize of this very pair left behind when it
 * was killed: a resumable partial receive of one of the pair's snapshots
 * (OpenZFS `receive -s`), to resume; or a complete receive of the pair's
 * snapshot whose finish never ran, to finish. Anything else is somebody
 * else's dataset: undefined, and initialize refuses it.
 */
async function interruptedInitialize(run: PairRun, caps: BothCapabilities, source: readonly SnapshotEntry[], destination: readonly SnapshotEntry[]): Promise<InitializeState['interrupted']> {
  const { pair, src, dst } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  if (resumable(caps) && destination.length === 0) {
    const token = userProp(await step(`cannot look at ${dds} on ${describeHost(run, 'destination')}`, getProps(dst, dds, ['receive_resume_token'])), 'receive_resume_token');
    const d = resumeDecision(token);
    if (d.kind !== 'resume') return undefined;
    const check = await src.exec(zargv.send({ resumeToken: d.token, dryRun: true }));
    const target = check.exitCode === 0 ? parseResumeTarget(check.stdout + check.stderr) : null;
    const snap = target?.startsWith(`${sds}@`) ? source.find((s) => `${sds}@${s.snapshot}` === target && isPairSnapshot(s.snapshot, fp)) : undefined;
    return snap ? { resume: { token: d.token, snap } } : undefined;
  }
  // received whole, killed before the finish: only this pair's snapshots there, the newest one the source's
  const newest = destination[destination.length - 1];
  if (!newest || destination.some((s) => !isPairSnapshot(s.snapshot, fp))) return undefined;
  const snap = source.find((s) => s.guid === newest.guid && isPairSnapshot(s.snapshot, fp));
  return snap ? { received: snap } : undefined;
}

/**
 * The holds that the zfs sends of runs that died left on the source
 * (zfs-fuse's `.send-<pid>-<n>`, state/sends.ts), to release before
 * anything of theirs is destroyed. A recursive release stops at a top
 * that lacks the tag (zfs-fuse): a child's own send is released on the
 * child.
 */
function deadSendsOf(run: PairRun, caps: BothCapabilities, top: SnapshotListing, lists: Map<string, SnapshotListing> | null | undefined): RunPlan['releaseSends'] {
  const sds = run.pair.source.dataset;
  const tree = Boolean(run.pair.options.recursive);
  const sends = notedSends(run.settings, run.pair.fingerprint).filter((x) => x.host === run.src.name);
  if (!sends.length || !caps.source.holds || !top.snapshots.length) return undefined;
  return {
    pids: sends.map((x) => x.pid),
    argvs: sends.flatMap((x) => {
      const child = x.dataset !== undefined && x.dataset !== sds ? x.dataset : undefined;
      const snaps = child ? (lists?.get(child)?.snapshots ?? []) : top.snapshots;
      return [0, 1].flatMap((n) => snaps.map((sn) => zargv.release(`.send-${x.pid}-${n}`, [`${child ?? sds}@${sn.snapshot}`], { recursive: tree && !child })));
    }),
  };
}

/** release what deadSendsOf found, and forget those sends */
async function releaseDeadSends(run: PairRun, dead: NonNullable<RunPlan['releaseSends']>): Promise<void> {
  const results = await step(`cannot release the holds of a dead zfs send on ${describeHost(run, 'source')}`, run.src.batch(dead.argvs));
  const freed = results.filter((r) => r.exitCode === 0).length;
  if (freed) run.log.warn(`released ${freed} hold${freed === 1 ? '' : 's'} that the zfs send of an earlier run (pid ${dead.pids.join(', ')}) left on the source when it died`);
  forgetSends(run.settings, run.pair.fingerprint);
}

function planInitialize(run: PairRun, g: InitializeState): RunPlan {
  const { pair } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const { caps } = g;
  const mount = mountRootOf(caps, g.parentProps);
  const extra = receiveProps(run, caps);
  const readonly = caps.destination.recvOptions ? { options: { ...extra.options, readonly: 'on' } } : {};
  const props = { ...extra, ...readonly };
  const context = { caps, availableOf: g.parent, ...(availableOf(g.parentProps) !== undefined ? { available: availableOf(g.parentProps)! } : {}) };
  const dead = deadSendsOf(run, caps, g.srcList, g.split?.lists);
  const i = g.interrupted;
  if (i) {
    const snap = 'resume' in i ? i.resume.snap : i.received;
    const f: FinishInput = { initial: true, caps, snap, sourceAfter: [...g.srcList.snapshots], destinationAfter: [snap], ...mount };
    const raw = () => encryptionFor(run, caps, g.srcTree, 'initialize');
    const children = g.split && g.split.lists.size > 1 ? planChildren(run, caps, raw(), g.split.lists, snap.snapshot) : [];
    // the top holds the snapshot when it was received (not when it is resumed: then its children never started)
    const catchUp = g.halfway?.source.size && 'received' in i ? planCatchUp(run, caps, raw(), g.halfway.source, g.halfway.destination, g.halfway.tokens, snap) : [];
    return {
      action: 'initialize',
      ...(children.length ? { children } : {}),
      ...(dead ? { releaseSends: dead } : {}),
      ...('resume' in i ? { resume: { target: dds, token: i.resume.token, to: snap.snapshot } } : {}),
      orphans: [],
      catchUp,
      warnings: [],
      snapshot: snap.snapshot,
      taken: snap,
      ...('resume' in i ? { send: { resumeToken: i.resume.token }, receive: { target: dds, resumable: true, noMount: caps.destination.recvNoMount, ...props } } : {}),
      what: 'resume' in i ? 'resumed full send' : 'finish of an interrupted initialize',
      raw: false,
      finish: planFinish(run, f),
      settle: false,
      context,
    };
  }
  const raw = encryptionFor(run, caps, g.srcTree, 'initialize');
  checkStreamFeatures(caps, g.srcTree);
  // pair snapshots from an earlier initialize whose destination is gone
  const leftovers = pairSnapshots(fp, g.srcList.snapshots);
  const left = g.srcList.snapshots.filter((s) => !leftovers.includes(s));
  const name = newSnapshotName(fp, run.now(), new Set(g.srcList.snapshots.map((s) => s.snapshot)));
  const snap = plannedSnapshot(name, g.srcList.snapshots);
  const f: FinishInput = { initial: true, caps, snap, sourceAfter: [...left, snap], destinationAfter: [snap], sourceBookmarks: g.srcList.bookmarks, ...mount };
  const split = g.split ? { layout: snapshotLayout(run, caps, g.split.lists.keys(), g.split.excluded)!, children: planChildren(run, caps, raw, g.split.lists, name) } : undefined;
  return {
    action: 'initialize',
    orphans: leftovers,
    ...(dead ? { releaseSends: dead } : {}),
    catchUp: [],
    ...(split ?? {}),
    warnings: [],
    snapshot: name,
    send: { snapshot: `${sds}@${name}`, replicate: Boolean(pair.options.recursive) && !split, ...(split ? { props: true } : sendProps(run)), ...sendFlags(caps, raw) },
    receive: { target: dds, resumable: resumable(caps), noMount: caps.destination.recvNoMount, ...props },
    what: raw ? 'full send, raw' : 'full send',
    raw,
    finish: planFinish(run, f),
    settle: Boolean(pair.options.recursive || pair.options.props) && !caps.destination.recvOptions && !caps.destination.recvNoMount,
    context,
  };
}

async function executeInitialize(run: PairRun, plan: RunPlan): Promise<Outcome> {
  const { pair, src, log } = run;
  const dds = pair.destination.dataset;
  const { caps } = plan.context;
  logPlan(run, plan);
  // an earlier initialize's send that died keeps its snapshots busy (zfs-fuse): released first
  if (plan.releaseSends) await releaseDeadSends(run, plan.releaseSends);
  if (plan.taken) {
    // an interrupted initialize of this pair: resume its receive, or only finish
    const snap = plan.taken;
    let moved: Transferred = { bytes: 0 };
    if (plan.resume) {
      log.info(`resuming the interrupted initialize of ${dds} (a partial receive of @${snap.snapshot})`);
      logStart(run, 'initialize', plan.what);
      const started = Date.now();
      moved = await transfer(run, zargv.send(plan.send!), zargv.recv(plan.receive!));
      logMoved(run, moved.bytes, started);
    } else {
      log.warn(`${dds} holds @${snap.snapshot} from an initialize that was interrupted before it finished; finishing it`);
      logStart(run, 'initialize', plan.what);
    }
    await executeCatchUp(run, caps, plan.catchUp, snap);
    if (plan.children?.length) moved = { ...moved, bytes: moved.bytes + (await executeChildren(run, caps, plan.children, snap)) };
    return finish(run, caps, plan.finish, snap, moved);
  }
  const warnings = await retire(run, src, pair.source.dataset, plan.orphans, caps.source, 'removing snapshots of an earlier initialize');
  logStart(run, 'initialize', plan.what);
  const { snap: reading, estimate, warnings: hooked } = await snapshotBetweenHooks(run, 'initialize', plan);
  warnings.push(...hooked);
  const started = Date.now();
  let moved: Transferred;
  try {
    checkSpace(run, estimate, plan.context.available, plan.context.availableOf);
    const verify = plan.children?.length ? {} : guidInSession(run, plan.snapshot);
    moved = await transfer(run, zargv.send(plan.send!), zargv.recv(plan.receive!), { ...verify, ...(estimate !== undefined ? { total: estimate } : {}), noteSend: sendsLeakHolds(caps.source), through: () => void reading(), ...onReceipt(run, plan) });
  } catch (e) {
    // a resumable partial receive keeps its snapshot: the next initialize resumes it
    await dropUnsent(run, plan.snapshot, caps);
    throw e;
  }
  const snap = await reading();
  logMoved(run, moved.bytes, started);
  if (plan.children?.length) moved = { ...moved, bytes: moved.bytes + (await executeChildren(run, caps, plan.children, snap)) };
  const outcome = await finish(run, caps, plan.finish, snap, moved);
  const settled = plan.settle ? await settleRecursive(run, caps.destination, snap.snapshot) : [];
  return { ...outcome, warnings: [...warnings, ...outcome.warnings, ...settled] };
}

export function initializePair(pair: Pair, deps: EngineDeps): Promise<Outcome> {
  return runPairAction(pair, deps, 'initialize', async (run) => executeInitialize(run, planInitialize(run, await gatherInitialize(run))));
}

/** initialize's plan, printed, nothing done (no snapshot, no property, no destroy, no status record) */
export function initializeDryRun(pair: Pair, deps: EngineDeps): Promise<DryRun> {
  return withPairReadOnly(pair, deps, 'initialize', async (run) => {
    const plan = planInitialize(run, await gatherInitialize(run));
    if (plan.send && !plan.taken) {
      const e = await estimateNow(run, plan.context.caps, streamsOf(plan));
      if (e) plan.estimateNow = e;
    }
    return { plan, lines: dryRunLines(plan, run) };
  });
}

// ---------------------------------------------------------------------------
// update

export interface UpdateState {
  caps: BothCapabilities;
  srcLists: Map<string, SnapshotListing> | null;
  dstLists: Map<string, SnapshotListing> | null;
  srcTree: Tree | null;
  dstTree: Tree | null;
  srcList: SnapshotListing;
  dstList: SnapshotListing;
  dstProps: Map<string, PropValue> | null;
  /** the destination's own interrupted receive: resume (and to which snapshot), or drop */
  token?: { decision: ResumeDecision; to?: string };
  /** lagging children's partial receives (recursive pairs) */
  childTokens: Map<string, ChildToken>;
  /** exclude=: the top-most excluded children on the source (left out of the lists above) */
  excluded: string[];
  /** what each side says its role is */
  marks: { source: SideMark; destination: SideMark };
}

/** what a resume token leads to, and whether it still fits: asked of the source without sending */
async function tokenOf(run: PairRun, token: string | undefined): Promise<{ decision: ResumeDecision; to?: string } | undefined> {
  const first = resumeDecision(token);
  if (first.kind !== 'resume') return undefined;
  const check = await run.src.exec(zargv.send({ resumeToken: first.token, dryRun: true }));
  const decision = resumeDecision(token, check);
  const to = check.exitCode === 0 ? parseResumeTarget(check.stdout + check.stderr) : null;
  return { decision, ...(to ? { to: to.slice(to.indexOf('@') + 1) } : {}) };
}

/** the destination children's resumable partial receives (the top's own is not among them), from their receive_resume_token */
async function childTokensOf(run: PairRun, tree: Tree | null | undefined): Promise<Map<string, ChildToken>> {
  const tokens = new Map<string, ChildToken>();
  for (const [name, p] of tree ?? []) {
    if (name === run.pair.destination.dataset) continue;
    const t = await tokenOf(run, userProp(p, 'receive_resume_token'));
    if (t) tokens.set(name, t);
  }
  return tokens;
}

export async function gatherUpdate(run: PairRun): Promise<UpdateState> {
  const { pair, src, dst, log } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const dstName = describeHost(run, 'destination');
  // the capabilities come from the status record (a fresh probe once a day):
  // they say what to ask along with the listings, in the same sessions
  const caps = await capabilities(run);
  const tree = Boolean(pair.options.recursive);
  const marks = Object.values(roleProps(fp));
  // a recursive pair lists its whole tree on both sides: every child is checked, not just the top
  let [[srcLists, srcTree], [dstLists, dstTree]] = await Promise.all([
    step(`cannot list ${sds} on ${describeHost(run, 'source')}`, listAndProps(src, sds, [...sourceProps(caps), ...marks], { tree: tree && caps.source.sendRaw, parsable: caps.source.listParsable, wholeTree: tree })),
    step(
      `cannot list ${dds} on ${dstName}`,
      listAndProps(dst, dds, [FINGERPRINT_PROP, 'readonly', 'available', ...marks, ...(resumable(caps) ? ['receive_resume_token'] : []), ...destinationEncryptionProps(caps)], {
        tree: tree && caps.destination.sendRaw,
        parsable: caps.destination.listParsable,
        wholeTree: tree,
      }),
    ),
  ]);
  // exclude=: the excluded children are not part of the pair, on either side
  const ex = exclusionOf(run);
  const excluded = ex && srcLists ? excludedTops(srcLists.keys(), sds, ex) : [];
  if (ex) {
    if (srcLists) srcLists = withoutExcluded(srcLists, sds, ex);
    if (srcTree) srcTree = withoutExcluded(srcTree, sds, ex);
    if (dstLists) dstLists = withoutExcluded(dstLists, dds, ex);
    if (dstTree) dstTree = withoutExcluded(dstTree, dds, ex);
  }
  const dstProps = dstTree?.get(dds) ?? null;
  const srcList = srcLists?.get(sds) ?? null;
  const dstList = dstLists?.get(dds) ?? null;
  if (!srcList) throw sourceMissing(run);
  if (!dstList) {
    if (!run.status.lastSnapshot) {
      throw new PairError(`the pair is not initialized: ${dds} does not exist on ${dstName}`, `run: zettabee initialize ${pair.label}`, [], 'Uninitialized');
    }
    throw new PairError(`the destination ${dds} no longer exists on ${dstName}`, `if it was removed on purpose, run zettabee initialize ${pair.label}; otherwise restore it`, [], 'Inconsistent', {
      kind: 'missing',
      message: `destination ${dds} is missing`,
      hint: `zettabee initialize ${pair.label} starts over`,
    });
  }
  const owner = userProp(dstProps, FINGERPRINT_PROP);
  if (owner !== undefined && owner !== fp) {
    const message = `${dds} on ${dstName} belongs to another pair (zettabee:fingerprint is ${owner})`;
    throw new PairError(message, 'two pairs must not share a destination; fix the pairs file', [], 'Inconsistent', { kind: 'fingerprint', message });
  }
  // zfs-fuse shows a mounted read-only file system as "off temporary": only a real setting counts
  const ro = dstProps?.get('readonly');
  if (ro?.value === 'off' && ro.source !== 'temporary') log.warn(`readonly is off on ${dds}: any change there will stop the next update`);
  let childTokens = new Map<string, ChildToken>();
  let token: UpdateState['token'];
  if (resumable(caps)) {
    token = await tokenOf(run, userProp(dstProps, 'receive_resume_token'));
    childTokens = await childTokensOf(run, dstTree);
  }
  const marksOf = { source: markOf(fp, srcTree?.get(sds) ?? null, sds), destination: markOf(fp, dstProps, dds) };
  return { caps, srcLists, dstLists, srcTree, dstTree, srcList, dstList, dstProps, marks: marksOf, ...(token ? { token } : {}), childTokens, excluded };
}

/**
 * What a dataset says about its role: its own value or a received one (a
 * replication stream, -R or props=yes, carries the sending side's marks
 * along; zfs-fuse then drops the dataset's own value), never an inherited
 * one (children inherit the top's). The value names the dataset it was set
 * on, so a mark that came with a stream is told apart (parseRole).
 */
export function markOf(fp: string, props: Map<string, PropValue> | null, dataset: string): SideMark {
  const names = roleProps(fp);
  const own = (n: string) => {
    const p = props?.get(n);
    return p && (p.source === 'local' || p.source === 'received') ? p.value : undefined;
  };
  const text = own(names.role);
  const role = parseRole(text, dataset);
  // the switch of the side a stream came from is not this side's
  const switched = text?.endsWith(` ${dataset}`) || text === role ? parseSwitched(own(names.switched)) : undefined;
  return { ...(role ? { role } : {}), ...(switched ? { switched } : {}) };
}

/** the pair's orientation from both marks, in the pairs file's terms (the run may be reversed) */
export function orientationOf(run: PairRun, marks: { source: SideMark; destination: SideMark }): Orientation {
  return run.reversed ? orientation(marks.destination, marks.source) : orientation(marks.source, marks.destination);
}

/** the run turned the way the pairs file says (false) or the other way (true); the frame's run is always as the file says */
export function orient(run: PairRun, reversed: boolean): PairRun {
  if (Boolean(run.reversed) === reversed) return run;
  const base = run.reversed ? { ...run, pair: orientedPair(run.pair, true), src: run.dst, dst: run.src } : run;
  return reversed ? { ...base, pair: orientedPair(base.pair, true), src: base.dst, dst: base.src, reversed: true } : { ...base, reversed: false };
}

/**
 * Gather an update as the pair runs now: the way the status record says,
 * turned round (and gathered again) when the datasets' marks say otherwise.
 * Both sides claiming to be the source is a split brain; no source at all,
 * a switch that stopped half-way: both refuse, Inconsistent.
 */
export async function gatherOriented(frame: PairRun): Promise<{ run: PairRun; g: UpdateState }> {
  let run = orient(frame, frame.status.direction?.reversed ?? false);
  let g = await gatherUpdate(run);
  for (let turned = false; ; turned = true) {
    const o = orientationOf(run, g.marks);
    if (o.kind === 'splitBrain') throw await splitBrain(run, g, o.tookOver);
    if (o.kind === 'noSource') throw noSource(run);
    const reversed = o.kind === 'reversed';
    if (reversed === Boolean(run.reversed)) {
      if (turned || (frame.status.direction?.reversed ?? false) !== reversed) recordDirectionFromMarks(frame, run, g);
      return { run, g };
    }
    if (turned) throw noSource(run);
    run.log.warn(`the datasets' zettabee:${frame.pair.fingerprint}:role says the pair runs ${reversed ? 'reversed' : 'as the pairs file says'}, the status file said otherwise: going by the datasets`);
    run = orient(frame, reversed);
    g = await gatherUpdate(run);
  }
}

function recordDirectionFromMarks(frame: PairRun, run: PairRun, g: UpdateState): void {
  const s = g.marks.source.switched;
  frame.setDirection({ reversed: Boolean(run.reversed), since: s?.at ?? run.now().toISOString(), how: s?.how ?? 'failover', host: s?.host ?? 'unknown' });
}

function noSource(run: PairRun): PairError {
  const fp = run.pair.fingerprint;
  const message = `neither ${endpointName(run.pair.source)} nor ${endpointName(run.pair.destination)} is the source (both have zettabee:${fp}:role=destination): a failover stopped half-way and could not put things back`;
  const hint = `decide which side is the source and set it there: zfs set zettabee:${fp}:role=source <dataset> (and readonly=off), and role=destination on the other; then run zettabee update ${run.pair.label}`;
  return new PairError(message, hint, [], 'Inconsistent', { kind: 'noSource', message, hint });
}

/** what one side wrote since the common snapshot: its snapshots after it, and the bytes where zfs can say (written@) */
async function divergence(host: Host, ds: string, list: readonly SnapshotEntry[], common: SnapshotInfo | undefined): Promise<string> {
  if (!common) return `${list.length} snapshot${list.length === 1 ? '' : 's'}, none in common`;
  const after = list.filter((s) => s.createtxg > (list.find((x) => x.guid === common.guid)?.createtxg ?? 0n));
  let bytes = ' (how many bytes, this zfs cannot say: it has no written@)';
  try {
    const v = userProp(await getProps(host, ds, [`written@${common.snapshot}`]), `written@${common.snapshot}`);
    if (v !== undefined && /^\d+$/.test(v)) bytes = `, ${formatBytes(Number(v))} written (written@)`;
  } catch {
    // zfs-fuse has no written@: the snapshots must say it
  }
  const names = after.slice(-5).map((s) => `@${s.snapshot}`).join(', ');
  return `${after.length} snapshot${after.length === 1 ? '' : 's'}${after.length ? ` (${after.length > 5 ? '..., ' : ''}${names})` : ''}${bytes}`;
}

/** the newest snapshot both listings have, by guid */
export function commonSnapshot(a: readonly SnapshotInfo[], b: readonly SnapshotInfo[]): SnapshotInfo | undefined {
  const there = new Set(b.map((s) => s.guid));
  return [...a].reverse().find((s) => there.has(s.guid));
}

async function splitBrain(run: PairRun, g: UpdateState, tookOver: 'source' | 'destination' | 'unknown'): Promise<PairError> {
  const { pair } = run;
  // in the run's terms: which of run.src / run.dst took over
  const files = run.reversed ? { source: 'destination', destination: 'source' } : { source: 'source', destination: 'destination' };
  const which = tookOver === 'unknown' ? undefined : (Object.keys(files) as Array<'source' | 'destination'>).find((k) => files[k] === tookOver)!;
  const winner = which ? pair[which] : undefined;
  const sw = which ? g.marks[which].switched : undefined;
  const common = commonSnapshot(g.srcList.snapshots, g.dstList.snapshots);
  const [ws, wd] = await Promise.all([divergence(run.src, pair.source.dataset, g.srcList.snapshots, common), divergence(run.dst, pair.destination.dataset, g.dstList.snapshots, common)]);
  const who = winner && sw ? `${endpointName(winner)} took over (${sw.how} on ${sw.host} at ${sw.at})` : 'one side was made the source by hand';
  const other = winner === pair.source ? pair.destination : pair.source;
  const message = `split brain: both sides are sources: ${who}, and ${winner ? endpointName(other) : 'the other'} is a source too; nothing was sent`;
  const details = [
    `common snapshot: ${common ? `@${common.snapshot}` : 'none'}`,
    `since then ${endpointName(pair.source)} wrote ${ws}`,
    `since then ${endpointName(pair.destination)} wrote ${wd}`,
  ];
  const hint = winner
    ? `zettabee failback ${pair.label} keeps what ${endpointName(other)} wrote (renamed aside, mountable), makes it ${endpointName(winner)}'s destination and resumes replication; --dry-run shows the plan`
    : `decide which side is the source: zfs set zettabee:${pair.fingerprint}:role=destination on the other, after saving what it wrote`;
  return new PairError(`${message}: ${details.join('; ')}`, hint, details, 'Inconsistent', { kind: 'splitBrain', message, hint, details });
}

export function planUpdateRun(run: PairRun, g: UpdateState, warm = false): RunPlan {
  const { pair } = run;
  const fp = pair.fingerprint;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const { caps } = g;
  const tree = Boolean(pair.options.recursive);
  let dstSnaps = g.dstList.snapshots;
  let resume: RunPlan['resume'];
  let drop: RunPlan['drop'];
  if (g.token?.decision.kind === 'abort') drop = { target: dds, reason: g.token.decision.reason };
  else if (g.token?.decision.kind === 'resume') {
    const to = g.token.to;
    resume = { target: dds, token: g.token.decision.token, to: to ?? '?' };
    // the rest is planned as if the resume delivered its snapshot (the run plans again after it)
    const arrives = to ? g.srcList.snapshots.find((s) => s.snapshot === to) : undefined;
    if (arrives) dstSnaps = withArrival(dstSnaps, arrives);
  }
  const releaseSends = deadSendsOf(run, caps, g.srcList, g.srcLists);
  const marks = g.srcList.bookmarks.map((b) => ({ snapshot: b.bookmark, guid: b.guid, createtxg: b.createtxg, creation: b.creation }));
  const decision = planUpdate(fp, g.srcList.snapshots, dstSnaps, marks);
  if (decision.kind === 'conflict') {
    const c = decision.conflict;
    throw new PairError(c.message, c.hint, c.details, 'Inconsistent', { kind: c.kind, message: c.message, hint: c.hint, details: c.details });
  }
  const raw = encryptionFor(run, caps, g.srcTree, g.dstTree);
  checkStreamFeatures(caps, g.srcTree);
  const warnings: string[] = [];
  let catchUp: CatchUpStep[] = [];
  if (tree && g.srcLists && g.dstLists) {
    warnings.push(...orphanedChildren(run, g.srcLists, g.dstLists));
    catchUp = planCatchUp(run, caps, raw, g.srcLists, g.dstLists, g.childTokens, decision.base);
  }
  const orphanSet = new Set(decision.orphans);
  const sourceNow = g.srcList.snapshots.filter((s) => !orphanSet.has(s));
  const from = `${decision.fromBookmark ? '#' : '@'}${decision.base.snapshot}`;
  // -I only when there is something in between to carry (a user's snapshot):
  // otherwise -i sends the same stream. zfs-fuse's `send -I` puts temporary
  // holds (.send-<pid>-0) on every snapshot of the range and never releases
  // them when the send dies (receive failed, kill -9): the unsent snapshot
  // and the base then cannot be destroyed until the pool is re-imported.
  // The warm path (predicted lists) cannot see a user's snapshot taken since: -I carries it if there is one
  const between = !decision.fromBookmark && (warm || sourceNow.some((s) => s.createtxg > decision.base.createtxg));
  // the name must be new on both sides: the destination keeps older ones
  const name = newSnapshotName(fp, run.now(), new Set([...g.srcList.snapshots, ...g.dstList.snapshots].map((s) => s.snapshot)));
  const snap = plannedSnapshot(name, g.srcList.snapshots);
  const split = exclusionOf(run) && g.srcLists ? { layout: snapshotLayout(run, caps, g.srcLists.keys(), g.excluded)!, children: planChildren(run, caps, raw, g.srcLists, name, decision.base, new Set(decision.orphans.map((o) => o.snapshot))) } : undefined;
  const sourceAfter = [...sourceNow, snap];
  const destinationAfter = destinationAfterReceive(dstSnaps, sourceAfter, decision.base, snap);
  const base = { source: decision.base, destination: decision.baseOnDestination, ...(decision.fromBookmark ? { sourceIsBookmark: true } : {}) };
  const f: FinishInput = { initial: false, caps, snap, base, sourceAfter, destinationAfter, sourceBookmarks: g.srcList.bookmarks };
  const available = availableOf(g.dstProps);
  return {
    action: 'update',
    ...(resume ? { resume } : {}),
    ...(drop ? { drop } : {}),
    ...(releaseSends ? { releaseSends } : {}),
    orphans: decision.orphans,
    ...(run.evictedAlive ? { keepOrphans: 'the run that unlock --force evicted still runs and may be sending one of them' } : {}),
    catchUp,
    ...(split ?? {}),
    warnings,
    snapshot: name,
    send: { snapshot: `${sds}@${name}`, from: `${sds}${from}`, incremental: between ? 'I' : 'i', replicate: tree && !split, ...(split ? { props: true } : sendProps(run)), ...sendFlags(caps, raw) },
    receive: { target: dds, resumable: resumable(caps), noMount: caps.destination.recvNoMount, ...keepReadonly(run, caps, receiveProps(run, caps)) },
    what: `incremental from ${from}${raw ? ', raw' : ''}${decision.fromBookmark ? ' (its snapshot is gone on the source: the bookmark stands in)' : ''}${warm ? ', planned from the last update (no listing)' : ''}`,
    raw,
    finish: planFinish(run, f),
    settle: false,
    context: {
      caps,
      availableOf: dds,
      ...(available !== undefined ? { available } : {}),
      base: decision.base,
      baseOnDestination: decision.baseOnDestination,
      ...(g.srcLists ? { sourceLists: g.srcLists } : {}),
      finishInput: f,
      destinationBefore: dstSnaps,
    },
  };
}

export async function executeUpdate(run: PairRun, plan: RunPlan, warm = false): Promise<Outcome & { made: SnapshotEntry; finished: FinishPlan; sourceSeen?: SnapshotListing }> {
  const { pair, src, dst, log } = run;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const dstName = describeHost(run, 'destination');
  const { caps } = plan.context;
  logPlan(run, plan);
  if (plan.drop) {
    log.warn(`dropping the partial receive on ${dds}: ${plan.drop.reason}`);
    await step(`cannot drop the partial receive on ${dstName}`, must(dst, zargv.recvAbort(dds)));
  }
  if (plan.resume) {
    // an interrupted resumable receive (OpenZFS): finish it, then plan again from what arrived
    log.info(`resuming the interrupted receive into ${dds}`);
    const started = Date.now();
    const { bytes } = await transfer(run, zargv.send({ resumeToken: plan.resume.token }), zargv.recv({ ...plan.receive!, resumable: true }));
    logMoved(run, bytes, started);
    const again = planUpdateRun(run, await gatherUpdate(run));
    if (again.resume) throw new ActionError(`${dds} still holds a partial receive after resuming it`, 'look at zfs get receive_resume_token on the destination; zfs receive -A drops it');
    return executeUpdate(run, again);
  }
  if (plan.releaseSends) await releaseDeadSends(run, plan.releaseSends);
  for (const w of plan.warnings) log.warn(w);
  const warnings = [...plan.warnings, ...(plan.keepOrphans ? [] : await retire(run, src, sds, plan.orphans, caps.source, 'removing snapshots of interrupted runs'))];
  await executeCatchUp(run, caps, plan.catchUp, plan.context.base!);

  logStart(run, 'update', plan.what);
  // the warm path did not list the source: it does now, beside the snapshot or in its session, for the send and the finish
  // (a warm update is never of a recursive or exclude= pair: predictNext keeps no state for one)
  const { snap: reading, estimate, warnings: hooked, listing } = await snapshotBetweenHooks(run, 'update', plan, warm ? { parsable: caps.source.listParsable } : undefined);
  warnings.push(...hooked);
  if (listing && plan.send?.incremental === 'I' && !inBetween(listing, plan.context.base!, plan.snapshot)) {
    // the plan's lines said -I (it could not know): what runs instead
    plan.send = { ...plan.send, incremental: 'i' };
    log.info(`plan: the source holds no snapshot between ${plan.send.from} and @${plan.snapshot}: zfs send -i instead of -I`);
  }
  const send = zargv.send(plan.send!);
  const receive = zargv.recv(plan.receive!);
  // the children's streams (exclude=) come between the top's and the finish
  const opts: TransferOptions = {
    ...(plan.children?.length ? {} : guidInSession(run, plan.snapshot)),
    ...(estimate !== undefined ? { total: estimate } : {}),
    noteSend: sendsLeakHolds(caps.source),
    // the read-back starts once the stream is through or received: it would slow it
    through: () => void reading(),
    ...onReceipt(run, plan),
  };
  const started = Date.now();
  let moved: Transferred;
  try {
    try {
      checkSpace(run, estimate, plan.context.available, plan.context.availableOf);
      moved = await transfer(run, send, receive, opts);
    } catch (e) {
      // the warm path plans from what it predicted: the full path looks at what is there, and decides
      if (warm || !(e instanceof TransferError && e.zfs?.kind === 'destinationModified')) throw e;
      const onDst = plan.context.baseOnDestination!;
      const base = `${dds}@${onDst.snapshot}`;
      if (!pair.options.rollback) {
        const changed = await whatChanged(run, caps.destination, base);
        const message = `${dds} on ${dstName} was changed after its last snapshot @${onDst.snapshot}${changed ? `: ${changed}` : ''}; nothing was received`;
        const hint = `find out who wrote there (keep readonly=on). To discard those changes: zfs rollback ${base} on the destination, or set rollback=yes for this pair`;
        throw new PairError(message, hint, e.details, 'Inconsistent', { kind: 'modified', message, hint });
      }
      log.warn(`${dds} was changed after @${onDst.snapshot}; rollback=yes: rolling it back and sending again`);
      await step(`cannot roll back ${base} on ${dstName}`, must(dst, zargv.rollback(base)));
      moved = await transfer(run, send, receive, opts);
    }
  } catch (e) {
    const kept = await dropUnsent(run, plan.snapshot, caps);
    // nothing arrived (or a partial receive the full path resumes): the prediction was wrong, or the destination is in trouble; the full path finds out which
    if (warm && !run.signal.aborted && (kept === 'removed' || kept === 'resumable')) throw new WarmMiss(`the receive refused it: ${firstLines(e instanceof Error ? e.message : String(e), 1)[0] ?? ''}`);
    const lists = plan.context.sourceLists;
    throw pair.options.recursive && kept === 'received' && lists ? await partialTree(run, caps, e, await reading(), lists) : e;
  }
  const snap = await reading();
  logMoved(run, moved.bytes, started);
  if (plan.children?.length) moved = { ...moved, bytes: moved.bytes + (await executeChildren(run, caps, plan.children, snap)) };
  // warm: the finish again from the source's listing (what -I carried, another pair's snapshot)
  const fin = listing ? finishFromSource(run, plan, listing, snap) : plan.finish;
  const outcome = await finish(run, caps, fin, snap, moved);
  return { ...outcome, warnings: [...warnings, ...outcome.warnings], made: snap, finished: fin, ...(listing ? { sourceSeen: listing } : {}) };
}

/**
 * Whether the source holds a snapshot between the base and the new one (a
 * user's, another pair's): `send -I` carries it; `-i` sends the same stream
 * otherwise, and faster (zfs-fuse's `-I` looks at every snapshot of the
 * dataset, OpenZFS's gathers them all).
 */
function inBetween(listing: SnapshotListing, base: SnapshotInfo, made: string): boolean {
  // taken before ours or after it, it may lie between: -I then (with nothing between it sends what -i does)
  return listing.snapshots.some((s) => s.snapshot !== made && s.createtxg > base.createtxg);
}

/**
 * The warm path's finish, planned again from the source as listed beside
 * the new snapshot: what `send -I` carried besides the new snapshot (a user's
 * snapshot, another pair's) is on the destination now, and retention must
 * treat it as a cron run would (another pair's goes, a user's stays).
 */
function finishFromSource(run: PairRun, plan: RunPlan, seen: SnapshotListing, made: SnapshotEntry): FinishPlan {
  const f = plan.context.finishInput!;
  const base = plan.context.base!;
  const known = new Set(f.sourceAfter.map((s) => s.guid));
  const listed = seen.snapshots.filter((s) => s.snapshot !== f.snap.snapshot);
  const unknown = listed.filter((s) => !known.has(s.guid));
  const key = (xs: readonly { guid: string; snapshot?: string; bookmark?: string }[]) => xs.map((x) => `${x.guid}:${x.snapshot ?? x.bookmark}`).sort().join(',');
  const same = unknown.length === 0 && listed.length === f.sourceAfter.length - 1 && key(seen.bookmarks) === key(f.sourceBookmarks ?? []);
  if (same) return plan.finish;
  if (unknown.length) run.log.info(`the source holds ${unknown.length} snapshot${unknown.length === 1 ? '' : 's'} the plan did not know (${unknown.map((s) => `@${s.snapshot}`).join(' ')}): retention goes by the source's listing`);
  // the new snapshot keeps its PLANNED guid (that is how the finish names it), with its real createtxg: what lies between travelled with it
  const snapInfo: SnapshotInfo = { ...f.snap, createtxg: made.createtxg };
  const sourceAfter = [...seen.snapshots.filter((s) => s.snapshot !== f.snap.snapshot), snapInfo];
  const destinationAfter = destinationAfterReceive(plan.context.destinationBefore ?? [], sourceAfter, base, snapInfo);
  return planFinish(run, { ...f, snap: snapInfo, sourceAfter, destinationAfter, sourceBookmarks: seen.bookmarks });
}

// ---------------------------------------------------------------------------
// the daemon's warm path

/** how long the daemon's warm path may go on without listing both sides */
export const WARM_MAX_AGE_MS = 5 * 60_000;
/**
 * the most snapshots a source may hold for the warm path: its `send -I`
 * walks every snapshot of the dataset even when none lies in between
 * (zfs-fuse: about 1.2 ms each, 6 s for 5,000, against 6 ms for `-i`), and
 * past a few dozen that costs more than the listings it saves
 */
export const WARM_MAX_SNAPSHOTS = 20;

/**
 * What the daemon remembers of a pair after an update of its own that went
 * cleanly: the state the next update would gather, predicted from this
 * one's plan (both sides' snapshots and bookmarks as its finish left them).
 * The next update plans from it instead of listing both sides, when no
 * other run (a cron update, a failover, purge, unlock) has written the
 * pair's status record since and the last listing is recent (WARM_MAX_AGE_MS).
 *
 * Why that is safe: the base it sends from is held on both sides (holds=),
 * so it cannot have gone without someone releasing zettabee's hold; `zfs
 * receive` itself refuses an incremental stream unless the destination's
 * newest snapshot is that base and nothing was written there since; `send
 * -I` carries any snapshot a user took on the source meanwhile. When the
 * receive refuses, the unsent snapshot is removed and the same run lists
 * both sides and plans again (the full path decides about rollback=,
 * split brain and the rest, as a cron run would).
 */
export interface WarmState {
  /** the start of the run that left it, as the status record names it (its pid is this process's) */
  started: string;
  /** when both sides were last listed (ms) */
  listedAt: number;
  reversed: boolean;
  g: UpdateState;
}

/** the daemon's place for one pair's WarmState: read by the next update, replaced (or cleared) by it */
export interface WarmSlot {
  state?: WarmState;
  keep(w: WarmState | undefined): void;
}

class WarmMiss extends Error {}

/** why the warm state cannot stand in for the listings now (undefined: it can) */
function warmVoid(frame: PairRun, w: WarmState): string | undefined {
  const r = frame.status.run;
  if (!r || r.pid !== process.pid || r.started !== w.started || r.action !== 'update' || r.result !== 'ok') return 'another run has been at the pair since';
  if (Date.now() - w.listedAt > WARM_MAX_AGE_MS) return `the last listing is older than ${WARM_MAX_AGE_MS / 60_000} minutes`;
  if (frame.evictedAlive) return 'a run that unlock --force evicted still runs';
  if (w.g.srcList.snapshots.length > WARM_MAX_SNAPSHOTS) return `the source holds more than ${WARM_MAX_SNAPSHOTS} snapshots (send -I would walk them all)`;
  if ((frame.status.direction?.reversed ?? false) !== w.reversed) return 'the pair runs the other way now';
  return undefined;
}

/** the state the next update would gather after `plan` went through cleanly with `made` as its new snapshot; undefined where the warm path does not go */
function predictNext(run: PairRun, g: UpdateState, plan: RunPlan, done: { made: SnapshotEntry; finished: FinishPlan; sourceSeen?: SnapshotListing }): UpdateState | undefined {
  const { pair } = run;
  if (pair.options.recursive || exclusionOf(run) || plan.children?.length || plan.catchUp.length || !g.srcLists || !g.dstLists) return undefined;
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const { made } = done;
  const { kept } = done.finished;
  const entry = (ds: string, s: SnapshotInfo) => ({ name: `${ds}@${s.snapshot}`, dataset: ds, snapshot: s.snapshot, guid: s.guid, createtxg: s.createtxg, creation: s.creation });
  const actual = (s: SnapshotInfo, ownTxg: boolean): SnapshotInfo => (s.snapshot === made.snapshot && s.guid === PLANNED ? { ...s, guid: made.guid, creation: made.creation, ...(ownTxg ? { createtxg: made.createtxg } : {}) } : s);
  const dropped = new Set(kept.bookmarks.drop);
  const bookmarks = (done.sourceSeen ?? g.srcList).bookmarks.filter((b) => !dropped.has(b.bookmark));
  if (kept.bookmarks.add) bookmarks.push({ name: `${sds}#${made.snapshot}`, dataset: sds, bookmark: made.snapshot, guid: made.guid, createtxg: made.createtxg, creation: made.creation });
  const srcList: SnapshotListing = { ...g.srcList, snapshots: kept.source.map((s) => entry(sds, actual(s, true))), bookmarks };
  const dstList: SnapshotListing = { ...g.dstList, snapshots: kept.destination.map((s) => entry(dds, actual(s, false))) };
  const swap = (lists: Map<string, SnapshotListing>, ds: string, list: SnapshotListing) => new Map([...lists].map(([k, v]) => [k, k === ds ? list : v] as const));
  const { token: _resumed, ...rest } = g;
  return { ...rest, srcList, dstList, srcLists: swap(g.srcLists, sds, srcList), dstLists: swap(g.dstLists, dds, dstList), childTokens: new Map() };
}

/** plan and carry out an update from `g` (gathered, or predicted: warm), and leave the daemon the state the next one would find */
async function updateFrom(run: PairRun, g: UpdateState, listedAt: number, warm: boolean): Promise<Outcome> {
  let plan: RunPlan;
  try {
    plan = planUpdateRun(run, g, warm);
  } catch (e) {
    if (warm) throw new WarmMiss(`it does not plan: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  const o = await executeUpdate(run, plan, warm);
  const slot = run.deps.warm;
  if (slot && !o.warnings.length) {
    const next = predictNext(run, g, plan, o);
    if (next) slot.keep({ started: run.started.toISOString(), listedAt, reversed: Boolean(run.reversed), g: next });
  }
  return o;
}

export function updatePair(pair: Pair, deps: EngineDeps): Promise<Outcome> {
  return runPairAction(pair, deps, 'update', async (frame) => {
    const w = deps.warm?.state;
    // kept again only by a run that goes through cleanly
    deps.warm?.keep(undefined);
    if (w) {
      const why = warmVoid(frame, w);
      if (why === undefined) {
        const run = orient(frame, w.reversed);
        try {
          return await updateFrom(run, w.g, w.listedAt, true);
        } catch (e) {
          if (!(e instanceof WarmMiss)) throw e;
          frame.log.info(`update: planned without listing, but ${e.message}; listing both sides and planning again`);
        }
      } else frame.log.debug(`update: listing both sides: ${why}`);
    }
    const listedAt = Date.now();
    const { run, g } = await gatherOriented(frame);
    return updateFrom(run, g, listedAt, false);
  });
}

/** update's plan, printed, nothing done (no snapshot, no property, no destroy, no status record) */
export function updateDryRun(pair: Pair, deps: EngineDeps): Promise<DryRun> {
  return withPairReadOnly(pair, deps, 'update', async (frame) => {
    const { run, g } = await gatherOriented(frame);
    const plan = planUpdateRun(run, g);
    if (plan.send) {
      const e = await estimateNow(run, plan.context.caps, streamsOf(plan));
      if (e) plan.estimateNow = e;
    }
    return { plan, lines: dryRunLines(plan, run) };
  });
}

/** the newest pair snapshot a destination listing shows, for status after the fact */
export function lastSnapshotOf(fp: string, list: readonly SnapshotInfo[]): SnapshotRef | undefined {
  const s = newestPairSnapshot(fp, list);
  return s ? ref(s) : undefined;
}

// Which processes move a stream for a pair, as data: the same description
// for pull (source remote), push (destination remote), remote-to-remote and
// local pairs; only the hosts differ. runPipeline carries it out.
//
// A "side" is the processes on one host: the sending side (zfs send, a
// compressor, an mbuffer) and the receiving side (an mbuffer, a
// decompressor, zfs receive). On this machine each process is a stage of
// its own, linked through this process (which counts the bytes); on a
// remote host the side is one ssh stage running a remote pipeline
// (remote.ts). transport=ssh links the two sides through this machine;
// transport=mbuffer starts the receiving side first, waits until its
// mbuffer listens, then starts the sending side, whose mbuffer connects to
// it over TCP; no stream byte passes through here unless a side is local.
import { hostname } from 'node:os';
import type { Endpoint, Pair } from '../config/pairs.js';
import { DEFAULT_BLOCKSIZE, DEFAULT_BUFFER, DEFAULT_STALL } from '../config/keys.js';
import { ActionError } from '../errors.js';
import type { Host } from '../exec/host.js';
import { compressArgv, decompressArgv, type Compressor } from './compress.js';
import { bufferArgv, combineMonitors, connectArgv, listenArgv, MbufferMonitor, type BufferSettings } from './mbuffer.js';
import type { PipelineSpec, Stage, StageMonitor } from './pipeline.js';
import { dieWithUs, PvMeter, pvArgv } from './meter.js';
import { ExitMarkers, remotePipelineArgv } from './remote.js';

/** how long the sending side waits for the receiving mbuffer to listen */
export const LISTEN_TIMEOUT_MS = 30_000;
/** mbuffer -W is the pair's stall plus this (seconds), and more than the listen timeout */
export const MBUFFER_WATCHDOG_MARGIN = 60;

export interface StreamOptions {
  /** the compressor this run uses between hosts (replicate.ts decides: tools probed, send -c preferred) */
  compress?: Compressor | null;
  /** this machine's name as other hosts reach it (default: os.hostname()) */
  thisHost?: string;
  /** 'pv': a local stream's processes hand the bytes on among themselves and pv counts them (meter.ts); otherwise they pass through this process */
  meter?: 'pv' | null;
  /**
   * an argv to run on the destination after a successful zfs receive, in the
   * receive's own ssh session (remote.ts `then`); its output is the last
   * stage's stdout. Only where finishInReceive() says so.
   */
  afterReceive?: readonly string[];
  /** reads the zfs send's stderr too (zargv.reportingPid's marker) */
  sendMonitor?: StageMonitor;
  /** told the exit status of a remote zfs receive as soon as its session reports it (before afterReceive runs) */
  receiveExit?: (status: number) => void;
}

/**
 * Whether the stream can carry the destination's finish (afterReceive): the
 * receiving side must be remote (an ssh session of its own) and the last
 * stage, whose stdout runPipeline can capture. That is transport=ssh to a
 * remote destination; mbuffer starts its receiving side first.
 */
export function finishInReceive(pair: Pair, destination: Host): boolean {
  return pair.transport === 'ssh' && !destination.local;
}

interface Part {
  name: string;
  argv: string[];
  monitor?: StageMonitor;
  /** on this machine: ends when zettabee dies (meter.ts dieWithUs), for a process whose stream bypasses zettabee */
  dieWithUs?: boolean;
}

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|localhost)$/i;

/** the endpoint is this machine: local, or reached through ssh at a loopback address */
function isHere(e: Endpoint): boolean {
  return e.local || LOOPBACK.test(e.host);
}

/**
 * mbuffer's two addresses for a pair: `accept`, the sending host as the
 * receiving host sees it (mbuffer -I <accept>:<port> accepts no other peer),
 * and `connect`, the receiving host as the sending host reaches it (mbuffer
 * -O <connect>:<port>). The pair keys win; otherwise a remote end is named
 * as the pairs file names it, this machine as 127.0.0.1 when both ends are
 * here and by its host name when the other end is elsewhere.
 */
export function mbufferAddresses(pair: Pair, thisHost: string = hostname()): { accept: string; connect: string } {
  const s = pair.source;
  const d = pair.destination;
  const name = (e: Endpoint, key: 'accept' | 'connect'): string => {
    if (e.host.startsWith('[')) {
      throw new ActionError(`mbuffer cannot take the IPv6 address ${e.host}`, `set ${key}=<a host name for it> for this pair`);
    }
    return e.host;
  };
  const accept = pair.options.accept ?? (isHere(s) ? (isHere(d) ? '127.0.0.1' : thisHost) : name(s, 'accept'));
  const connect = pair.options.connect ?? (isHere(d) ? (isHere(s) ? '127.0.0.1' : thisHost) : name(d, 'connect'));
  return { accept, connect };
}

/** the mbuffer settings of a pair: null when it uses none (ssh and local transports without buffer/bwlimit) */
export function bufferSettings(pair: Pair): { send: BufferSettings | null; receive: BufferSettings | null } {
  const o = pair.options;
  const blocksize = o.blocksize ?? DEFAULT_BLOCKSIZE;
  const memory = o.buffer || DEFAULT_BUFFER;
  const rate = o.bwlimit ?? 0;
  if (pair.transport === 'mbuffer') {
    // mbuffer's own watchdog, well after ours: it only matters when zettabee is gone
    const stall = o.stall ?? DEFAULT_STALL;
    const watchdog = stall > 0 ? stall + MBUFFER_WATCHDOG_MARGIN : 0;
    return { send: { memory, blocksize, rate, watchdog }, receive: { memory, blocksize, watchdog } };
  }
  const buffered = (o.buffer ?? 0) > 0;
  const send = buffered || rate > 0 ? { memory, blocksize, rate } : null;
  // one mbuffer is enough on this machine: the local transport's sides share it
  const receive = buffered && pair.transport === 'ssh' ? { memory, blocksize } : null;
  return { send, receive };
}

/** the stages of one side; `first` sets the first stage's input and waiting; `then`: see remote.ts */
function side(host: Host, parts: readonly Part[], first: Pick<Stage, 'input' | 'after'>, watch: boolean, then?: readonly string[], lastExit?: (status: number) => void): Stage[] {
  if (host.local) {
    return parts.map((p, i) => ({
      name: `${p.name} on ${host.name}`,
      host,
      argv: p.dieWithUs ? dieWithUs(p.argv) : p.argv,
      ...(p.dieWithUs ? { fd3: 'hold' as const } : {}),
      ...(i === 0 ? first : { input: 'link' as const }),
      ...(p.monitor ? { monitor: p.monitor } : {}),
    }));
  }
  const markers = new ExitMarkers(parts, host.name, lastExit ? (i, status) => i === parts.length - 1 && lastExit(status) : undefined);
  const monitors = parts.flatMap((p) => (p.monitor ? [p.monitor] : []));
  return [
    {
      name: `${parts.map((p) => p.name).join(' | ')} on ${host.name}`,
      host,
      argv: remotePipelineArgv(parts, then ? { watch, then } : { watch }),
      ...first,
      stop: 'eof',
      monitor: monitors.length ? combineMonitors(markers, ...monitors) : markers,
    },
  ];
}

/**
 * Whether a TCP socket listens on `port` on the host (Linux: /proc/net/tcp
 * and tcp6, state 0A). mbuffer prints "listening on socket" just before it
 * calls listen(): a sender started on that line alone was, now and then on a
 * loaded machine, refused. Where /proc/net/tcp cannot be read the answer is
 * yes (the line is all there is to go by).
 */
export const LISTENING_SCRIPT =
  'p=$(printf \':%04X\' "$1"); [ -r /proc/net/tcp ] || exit 0; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$p" \'$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit f ? 0 : 1 }\'';

async function listening(host: Host, port: number): Promise<boolean> {
  const r = await host.exec(['sh', '-c', LISTENING_SCRIPT, 'sh', String(port)], { timeoutMs: 10_000 });
  return r.exitCode === 0;
}

export function streamPipeline(pair: Pair, source: Host, destination: Host, send: string[], receive: string[], opts: StreamOptions = {}): PipelineSpec {
  const zsend: Part = { name: 'zfs send', argv: send, ...(opts.sendMonitor ? { monitor: opts.sendMonitor } : {}) };
  const zrecv: Part = { name: 'zfs receive', argv: receive };
  const buffers = bufferSettings(pair);
  const c = pair.transport === 'local' ? null : (opts.compress ?? null);
  const pack: Part[] = c ? [{ name: c, argv: compressArgv(c) }] : [];
  const unpack: Part[] = c ? [{ name: `${c} -d`, argv: decompressArgv(c) }] : [];
  if (opts.afterReceive && !finishInReceive(pair, destination)) throw new Error('streamPipeline: afterReceive needs transport=ssh to a remote destination');

  switch (pair.transport) {
    case 'local': {
      const mid: Part[] = buffers.send ? [{ name: 'mbuffer', argv: bufferArgv(buffers.send) }] : [];
      if (opts.meter === 'pv') {
        // pv is the process whose death breaks the chain (zfs-fuse's daemon, not zfs send, writes the stream)
        const parts = [zsend, { name: 'pv', argv: pvArgv(), monitor: new PvMeter(), dieWithUs: true }, ...mid, zrecv];
        const stages = side(source, parts, { input: 'none' }, false).map((s, i) => (i === 0 ? s : { ...s, input: 'pass' as const }));
        return { stages };
      }
      return { stages: side(source, [zsend, ...mid, zrecv], { input: 'none' }, false), countLink: 0 };
    }
    case 'ssh': {
      // each side runs on its own host (ssh-wrapped when remote); the bytes
      // travel ssh -> this machine -> ssh, so neither remote needs to reach the other
      const sendParts = [zsend, ...pack, ...(buffers.send ? [{ name: 'mbuffer', argv: bufferArgv(buffers.send) }] : [])];
      const recvParts = [...(buffers.receive ? [{ name: 'mbuffer', argv: bufferArgv(buffers.receive) }] : []), ...unpack, zrecv];
      const sending = side(source, sendParts, { input: source.local ? 'none' : 'hold' }, true);
      const receiving = side(destination, recvParts, { input: 'link' }, false, opts.afterReceive, opts.receiveExit);
      const stages = [...sending, ...receiving];
      // count the stream where it is the stream: out of a local zfs send, into a local zfs receive, else on the wire
      const countLink = source.local ? 0 : destination.local ? stages.length - 2 : sending.length - 1;
      return { stages, countLink };
    }
    case 'mbuffer': {
      const port = pair.options.port;
      if (port === undefined) throw new ActionError('transport=mbuffer needs port=<TCP port>');
      const { accept, connect } = mbufferAddresses(pair, opts.thisHost);
      // a local mbuffer ends when zettabee dies: the stream bypasses us (see below)
      const listen: Part = {
        name: 'mbuffer',
        argv: listenArgv(buffers.receive!, accept, port),
        monitor: new MbufferMonitor({ role: 'listen', host: destination.name, port, accept }),
        dieWithUs: destination.local,
      };
      const dial: Part = {
        name: 'mbuffer',
        argv: connectArgv(buffers.send!, connect, port),
        monitor: new MbufferMonitor({ role: 'connect', host: source.name, port }),
        dieWithUs: source.local,
      };
      const receiving = side(destination, [listen, ...unpack, zrecv], { input: destination.local ? 'none' : 'hold' }, true);
      const after = { stage: 0, timeoutMs: LISTEN_TIMEOUT_MS, what: `mbuffer listening on port ${port} on ${destination.name}`, confirm: () => listening(destination, port) };
      const sending = side(source, [zsend, ...pack, dial], { input: source.local ? 'none' : 'hold', after }, true);
      // Both mbuffers report their byte counts, so the local processes of
      // either side hand the stream on among themselves (no copy through
      // this process) and the counts come from the mbuffers.
      const stages = [...receiving, ...sending].map((st) => (st.input === 'link' ? { ...st, input: 'pass' as const } : st));
      return { stages, sink: receiving.length - 1 };
    }
  }
}

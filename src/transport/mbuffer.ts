// mbuffer as zettabee uses it: argv builders for its three roles and a
// monitor that reads what it prints on stderr.
//
// Facts about mbuffer (R20230301, Debian bookworm) this relies on:
// - `-I host:port` listens on EVERY address of the host (the wildcard); the
//   host part names the only peer it accepts. A connection from any other
//   address is closed with "warning: rejected connection from <addr>" and
//   mbuffer goes on listening, while the rejected sender may even exit 0.
// - "listening on socket..." (verbosity 4) is printed once the port is bound,
//   just BEFORE listen(): a connect in between is refused, so the sender
//   also waits for the socket's LISTEN state (topology.ts); a port in use prints "could not bind to socket for
//   tcp/0.0.0.0:<port>: Address already in use" (verbosity 3) and exits 1.
// - without -q a status line ("in @ ..., out @ ..., 12.3 MiB total, buffer
//   0% full") is rewritten with \r about twice a second, and a "summary:"
//   line ends a complete run; sizes there are rounded (kiB/MiB/GiB, 3-4 digits).
// - -s, -m and -r take plain bytes; k, M, G are powers of 1024.
import type { LineVerdict, StageMonitor } from './pipeline.js';

export interface BufferSettings {
  /** bytes of memory */
  memory: number;
  /** bytes per block */
  blocksize: number;
  /** bytes per second read from stdin (sending side only); 0: no limit */
  rate?: number;
  /**
   * seconds of no I/O after which mbuffer ends itself (-W; 0: never): a
   * backstop for when zettabee itself is gone (kill -9) and cannot stop it,
   * e.g. a listener that nobody ever connects to
   */
  watchdog?: number;
}

function common(b: BufferSettings): string[] {
  const a = ['-s', String(b.blocksize), '-m', String(b.memory)];
  if (b.rate) a.push('-r', String(b.rate));
  return a;
}

/** a plain buffer in a pipe (ssh and local transports): quiet, warnings and errors only */
export function bufferArgv(b: BufferSettings): string[] {
  return ['mbuffer', '-q', '-v', '3', ...common(b)];
}

/** -W before -I/-O: mbuffer's watchdog then also covers waiting for the connection */
function watchdog(b: BufferSettings): string[] {
  return b.watchdog ? ['-W', String(b.watchdog)] : [];
}

/** the receiving end: listen on port, accept only `accept` (see above), write the stream to stdout */
export function listenArgv(b: BufferSettings, accept: string, port: number): string[] {
  // -v 4 for "listening on socket"; the monitor drops the other info lines
  return ['mbuffer', '-v', '4', ...common({ ...b, rate: 0 }), ...watchdog(b), '-I', `${accept}:${port}`];
}

/** the sending end: read the stream from stdin, send it to host:port */
export function connectArgv(b: BufferSettings, host: string, port: number): string[] {
  return ['mbuffer', '-v', '3', ...common(b), ...watchdog(b), '-O', `${host}:${port}`];
}

const UNIT: Record<string, number> = { B: 1, kiB: 1024, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, PiB: 1024 ** 5 };

const STATUS = /\bin @\s*[\d.]+ \S+, out @\s*[\d.]+ \S+, ([\d.]+) (\S+) total, buffer\s+\d+% full/;
const SUMMARY = /^summary:.*?([\d.]+)\s*(\w*?)Byte in /;
const BIND_IN_USE = /could not bind to socket for \S+?:(\d+): Address already in use/;
const REJECTED = /rejected connection from (\S+)/;
const CANNOT_CONNECT = /unable to connect to (\S+)/;

/** the byte count of an mbuffer status line, or undefined */
export function statusBytes(line: string): number | undefined {
  const m = STATUS.exec(line);
  if (!m) return undefined;
  const unit = UNIT[m[2]!];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** the byte count of mbuffer's closing "summary: 28.6 MiByte in 0.4sec - ..." line, or undefined */
export function summaryBytes(line: string): number | undefined {
  const m = SUMMARY.exec(line);
  if (!m) return undefined;
  const unit = UNIT[`${m[2]}B`];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

export interface MbufferContext {
  /** 'listen' (mbuffer -I), 'connect' (mbuffer -O) or 'buffer' */
  role: 'listen' | 'connect' | 'buffer';
  /** where this mbuffer runs, for messages */
  host: string;
  port?: number;
  /** the address the listener accepts (role listen) */
  accept?: string;
}

/**
 * Reads mbuffer's stderr (possibly mixed with other processes' lines in a
 * remote pipeline): progress, readiness, and the failures worth naming.
 * Info chatter (-v 4) and the status lines are dropped from the kept stderr.
 */
export class MbufferMonitor implements StageMonitor {
  readonly meters: boolean;

  constructor(private readonly ctx: MbufferContext) {
    this.meters = ctx.role !== 'buffer';
  }

  line(text: string): LineVerdict | undefined {
    const t = text.trim();
    const bytes = statusBytes(t);
    if (bytes !== undefined) return { keep: false, bytes };
    if (t.startsWith('summary:')) {
      const total = summaryBytes(t);
      return total === undefined ? { keep: false, through: true } : { keep: false, through: true, bytes: total };
    }
    if (!t.startsWith('mbuffer: ')) return undefined;
    const { host, port } = this.ctx;
    if (/listening on socket/.test(t)) return { keep: false, ready: true };
    let m = BIND_IN_USE.exec(t);
    if (m) {
      return {
        diagnosis: {
          message: `TCP port ${m[1]} is already in use on ${host}; mbuffer cannot listen on it`,
          hint: `choose another port= for this pair, or find what listens there (on ${host}: ss -ltnp 'sport = :${m[1]}')`,
        },
      };
    }
    m = REJECTED.exec(t);
    if (m) {
      return {
        fatal: true,
        diagnosis: {
          message: `the receiving mbuffer rejected a connection from ${m[1]} on port ${port}: it accepts only ${this.ctx.accept}`,
          hint: `if ${m[1]} is the source as ${host} sees it, set accept=${m[1]} for this pair; otherwise something else is connecting to port ${port}`,
        },
      };
    }
    m = CANNOT_CONNECT.exec(t);
    if (m) {
      return {
        diagnosis: {
          message: `mbuffer cannot connect to ${m[1]}`,
          hint: `check that ${m[1]} is the destination as ${host} reaches it (connect=) and that a firewall lets ${host} reach that port`,
        },
      };
    }
    // keep warnings and errors, drop the info chatter
    return /^mbuffer: (warning|error|fatal)/i.test(t) ? undefined : { keep: false };
  }
}

/** several monitors on one stage (a remote pipeline with an mbuffer in it) */
export function combineMonitors(...ms: StageMonitor[]): StageMonitor {
  return {
    meters: ms.some((m) => m.meters),
    line(text) {
      let out: LineVerdict | undefined;
      for (const m of ms) {
        const v = m.line(text);
        if (!v) continue;
        out = { ...out, ...v, keep: (out?.keep ?? true) && v.keep !== false };
      }
      return out;
    },
    settle(o) {
      for (const m of ms) m.settle?.(o);
    },
  };
}

// The sd_notify protocol (READY=1, RELOADING=1, STOPPING=1, STATUS=...,
// WATCHDOG=1) for the daemon under systemd's Type=notify.
//
// The protocol is one datagram to the AF_UNIX socket named by NOTIFY_SOCKET.
// Node cannot send on a datagram unix socket (dgram knows only UDP), so each
// message goes out through systemd's own `systemd-notify`, with --pid naming
// this process: run as root (as the daemon runs), it sends the datagram with
// this process's pid in its credentials, so systemd accounts the message to
// the main process and not to a short-lived child it may no longer find (the
// known race of systemd-notify; --no-block then, as there is nothing to wait
// for); the unit still says NotifyAccess=all for a daemon run without that
// privilege. Messages go out one at a time, in order.
//
// Where systemd-notify is missing (a machine without the systemd package,
// as a test bed may be), python3 sends the datagram instead: without the
// pid in its credentials, which the unit's NotifyAccess=all accepts.
//
// NOTIFY_SOCKET is taken out of the environment as the daemon starts, so the
// hooks and programs it runs cannot talk to systemd in its name.
import { spawn } from 'node:child_process';

export class SdNotify {
  private readonly socket: string | undefined;
  private readonly watchdogUsec: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly warn: (line: string) => void,
    private program = 'systemd-notify',
    private readonly fallback = 'python3',
  ) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    if (Number.isFinite(usec) && usec > 0 && forUs) this.watchdogUsec = usec;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** how often WATCHDOG=1 must go out (half of WatchdogSec), or null without a watchdog */
  watchdogIntervalMs(): number | null {
    return this.enabled && this.watchdogUsec !== undefined ? Math.max(500, Math.floor(this.watchdogUsec / 2000)) : null;
  }

  /** send one message (KEY=value lines); resolves once it went out, or failed (warned once) */
  send(...assignments: string[]): Promise<void> {
    if (!this.socket) return Promise.resolve();
    const socket = this.socket;
    // STATUS= is one line: a newline would start another assignment
    const clean = assignments.map((a) => a.replace(/[\r\n]+/g, ' '));
    this.queue = this.queue.then(() => this.spawnOne(socket, clean));
    return this.queue;
  }

  private spawnOne(socket: string, assignments: string[]): Promise<void> {
    return new Promise((resolve) => {
      const viaPython = this.program === this.fallback;
      // as root the datagram carries this process's pid, so systemd needs no
      // barrier to find the sender; otherwise systemd-notify waits (BARRIER=1)
      // until systemd has read it, the remedy for the race it would lose
      const noBlock = process.getuid?.() === 0 ? ['--no-block'] : [];
      const argv = viaPython ? ['-c', PY_SEND, socket, assignments.join('\n')] : [...noBlock, `--pid=${process.pid}`, ...assignments];
      const child = spawn(this.program, argv, { env: { ...process.env, NOTIFY_SOCKET: socket }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const fail = (why: string) => {
        if (!this.warned) this.warn(`cannot notify systemd (NOTIFY_SOCKET=${socket}): ${why}`);
        this.warned = true;
      };
      // a spawn that failed may still report close: the first of the two settles
      let settled = false;
      child.once('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        if (e.code === 'ENOENT' && !viaPython) {
          // no systemd-notify here: python3 from now on, this message first
          this.program = this.fallback;
          void this.spawnOne(socket, assignments).then(resolve);
          return;
        }
        fail(viaPython ? `neither systemd-notify (the systemd package) nor ${this.fallback} is installed` : `${this.program}: ${e.message} (it comes with the systemd package)`);
        resolve();
      });
      child.once('close', (code) => {
        if (settled) return;
        settled = true;
        if (code !== 0 && code !== null) fail(`${this.program} exited ${code}${err.trim() ? `: ${err.trim().split('\n').pop()}` : ''}`);
        resolve();
      });
    });
  }
}

/** one datagram to the socket (an abstract one when it starts with @), as sd_notify sends it */
const PY_SEND = [
  'import socket, sys',
  'p = sys.argv[1]',
  "p = '\\0' + p[1:] if p.startswith('@') else p",
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  's.connect(p)',
  's.send(sys.argv[2].encode())',
].join('\n');

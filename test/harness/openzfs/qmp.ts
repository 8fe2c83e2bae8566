// A minimal QEMU Machine Protocol client: one JSON object per line over a
// unix socket; a command's answer is the next object carrying "return" or
// "error" (events in between are skipped).
import * as net from 'node:net';

export class Qmp {
  private buf = '';
  private waiting: Array<(o: Record<string, unknown>) => void> = [];

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('QMP' in o || 'return' in o || 'error' in o) this.waiting.shift()?.(o);
      }
    });
    sock.on('error', () => {});
  }

  private next(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`QMP: no answer to ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((o) => {
        clearTimeout(t);
        resolve(o);
      });
    });
  }

  static async connect(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const q = new Qmp(sock);
    await q.next(timeoutMs, 'the greeting');
    await q.execute('qmp_capabilities');
    return q;
  }

  /** run a command; resolves with its "return" value, rejects with QEMU's error text */
  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 60_000): Promise<unknown> {
    const answer = this.next(timeoutMs, command);
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const o = await answer;
    if ('error' in o) {
      const e = o.error as { desc?: string };
      throw new Error(`QMP ${command}: ${e.desc ?? JSON.stringify(e)}`);
    }
    return o.return;
  }

  /** a human monitor command (hostfwd_add, savevm, loadvm); its text output, which is empty on success */
  async hmp(commandLine: string, timeoutMs = 120_000): Promise<string> {
    return String(await this.execute('human-monitor-command', { 'command-line': commandLine }, timeoutMs));
  }

  close(): void {
    this.sock.destroy();
  }
}

// TCP ports and mbuffer processes of a transfer, read from /proc (no child
// process): for tests that must prove nothing was left listening or running.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { processes, sleep, transferProcs, type Proc } from './procs.js';

export { freePort } from '../harness/bed.js';

/** the listening TCP ports of this machine (from /proc, IPv4 and IPv6) */
export function listeningPorts(): Set<number> {
  const out = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A = LISTEN
      if (cols.length > 3 && cols[3] === '0A') out.add(parseInt(cols[1]!.split(':').pop()!, 16));
    }
  }
  return out;
}

/** mbuffer processes that use this port (either end) */
export function mbuffersOn(port: number): Proc[] {
  return processes().filter((p) => p.argv[0]!.split('/').pop() === 'mbuffer' && p.argv.some((a) => a.endsWith(`:${port}`)));
}

/** wait until nothing of a transfer is left: no zfs send/receive of the datasets, no mbuffer on the port, the port not listening */
export async function nothingLeft(datasets: readonly string[], port?: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const procs = [...transferProcs(datasets), ...(port ? mbuffersOn(port) : [])];
    const listening = port !== undefined && listeningPorts().has(port);
    if (procs.length === 0 && !listening) return;
    if (Date.now() > deadline) {
      expect.fail(
        `left behind 20 s after the run: ${procs.map((p) => `${p.pid} ${p.argv.join(' ')}`).join('; ')}${listening ? `; port ${port} still listening` : ''}`,
      );
    }
    await sleep(100);
  }
}

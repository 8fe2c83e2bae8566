// The check the mbuffer transport makes before it starts the sender: a port
// that is only bound (mbuffer has printed "listening on socket" and not yet
// called listen()) is not listening; one that listens is, on IPv4 and IPv6.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { LISTENING_SCRIPT } from '../../src/transport/topology.js';

const run = promisify(execFile);

async function listens(port: number): Promise<boolean> {
  return run('sh', ['-c', LISTENING_SCRIPT, 'sh', String(port)]).then(
    () => true,
    () => false,
  );
}

function serve(host: string): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, host, () => resolve(s));
  });
}

describe('transport: is a TCP port listening (/proc/net/tcp)', () => {
  it('a listening socket, on 127.0.0.1 and on ::1, is; the same port closed again is not', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const s = await serve(host);
      const port = (s.address() as { port: number }).port;
      expect(await listens(port), host).to.equal(true);
      await new Promise((r) => s.close(r));
      expect(await listens(port), `${host} closed`).to.equal(false);
    }
  });

  it('a socket bound but not listening yet (mbuffer between its "listening" line and listen()) is not', async () => {
    const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await new Promise<string>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      expect(port).to.be.greaterThan(0);
      expect(await listens(port)).to.equal(false);
    } finally {
      py.kill();
    }
  });
});

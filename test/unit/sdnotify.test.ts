// sd_notify through python3 where systemd-notify is missing: the datagram
// read by a real socket that python3 binds (test/e2e/procs.ts), as systemd
// would read it.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SdNotify } from '../../src/exec/sdnotify.js';
import { notifySocket, waitFor, type NotifySocket } from '../e2e/procs.js';

describe('sd_notify without systemd-notify (python3 sends it, a real datagram socket reads it)', () => {
  let dir: string;
  let sock: NotifySocket;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zb-notify-'));
    sock = await notifySocket(join(dir, 'notify'));
  });
  after(() => {
    sock?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each message arrives whole and in order (KEY=value lines), with no warning', async () => {
    const warned: string[] = [];
    const n = new SdNotify({ NOTIFY_SOCKET: sock.path }, (l) => warned.push(l), 'zb-no-such-systemd-notify');
    await n.send('READY=1', 'STATUS=2 pairs,\nnext in 0:01:00');
    await n.send('STOPPING=1');
    await waitFor('two datagrams', 10_000, () => sock.notified().length >= 2);
    expect(sock.notified()).to.deep.equal([String.raw`b'READY=1\nSTATUS=2 pairs, next in 0:01:00'`, "b'STOPPING=1'"]);
    expect(warned).to.deep.equal([]);
  });

  it('neither program: one warning that names both, and sending goes on resolving', async () => {
    const warned: string[] = [];
    const n = new SdNotify({ NOTIFY_SOCKET: sock.path }, (l) => warned.push(l), 'zb-no-such-systemd-notify', 'zb-no-such-python3');
    await n.send('READY=1');
    await n.send('WATCHDOG=1');
    expect(warned).to.deep.equal([`cannot notify systemd (NOTIFY_SOCKET=${sock.path}): neither systemd-notify (the systemd package) nor zb-no-such-python3 is installed`]);
  });
});

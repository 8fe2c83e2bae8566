// The ssh control directory: private, removed at the end, and the empty
// directories of runs killed with SIGKILL are swept (real files in /tmp).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, statSync, unlinkSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshControl, SshHost, sweepControlDirs } from '../../src/exec/host.js';

describe('ssh control directory (real files)', () => {
  const old = (Date.now() - 3600_000) / 1000;
  const emptyOld = join(tmpdir(), `zettabee-ssh-testempty${process.pid}`);
  const fullOld = join(tmpdir(), `zettabee-ssh-testfull${process.pid}`);
  const emptyNew = join(tmpdir(), `zettabee-ssh-testnew${process.pid}`);

  after(() => {
    for (const d of [emptyOld, fullOld, emptyNew]) rmSync(d, { recursive: true, force: true });
  });

  it('is private (0700), and gone after close()', async () => {
    const c = new SshControl();
    const dir = c.controlDir();
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
    await c.close();
    expect(existsSync(dir)).to.equal(false);
  });

  it('sweeps old empty directories of killed runs; keeps recent ones and any that hold something', async () => {
    for (const d of [emptyOld, fullOld, emptyNew]) mkdirSync(d, { mode: 0o700 });
    writeFileSync(join(fullOld, 'socket-stand-in'), '');
    utimesSync(emptyOld, old, old);
    utimesSync(fullOld, old, old);
    const c = new SshControl();
    c.controlPath();
    await c.close();
    expect(existsSync(emptyOld)).to.equal(false);
    expect(existsSync(fullOld)).to.equal(true);
    expect(existsSync(emptyNew)).to.equal(true);
  });

  it("sweeps by the caller's rule when given one (the test runner: made since it started), still only empty zettabee-ssh-* directories", () => {
    // a private temp directory: a rule that takes recent directories must not meet those of runs going on beside this test
    const saved = process.env.TMPDIR;
    const tmp = mkdtempSync(join(tmpdir(), 'zbsweep-'));
    process.env.TMPDIR = tmp;
    try {
      const since = Date.now() - 60_000;
      const mine = join(tmp, 'zettabee-ssh-mine');
      const before = join(tmp, 'zettabee-ssh-before');
      const holding = join(tmp, 'zettabee-ssh-holding');
      const other = join(tmp, 'other-empty');
      for (const d of [mine, before, holding, other]) mkdirSync(d);
      writeFileSync(join(holding, 'socket-stand-in'), '');
      utimesSync(before, old, old);
      sweepControlDirs((mtime) => mtime >= since);
      expect([mine, before, holding, other].map((d) => existsSync(d))).to.deep.equal([false, true, true, true]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("sweeps old directories that hold only dead sockets (the master killed too); a socket a live process holds, under ssh's temporary name too, keeps its directory", async function () {
    this.timeout(20_000);
    const saved = process.env.TMPDIR;
    const tmp = mkdtempSync(join(tmpdir(), 'zbsweep-'));
    process.env.TMPDIR = tmp;
    const servers: Server[] = [];
    try {
      const [dead, live, linked, mixed] = ['dead', 'live', 'linked', 'mixed'].map((n) => join(tmp, `zettabee-ssh-${n}`));
      for (const d of [dead, live, linked, mixed]) mkdirSync(d);
      // a master killed with SIGKILL leaves its socket file, and no process holds it
      const killed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(join(dead, 'sock'))}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => killed.stdout.once('data', () => resolve()));
      killed.kill('SIGKILL');
      await new Promise((resolve) => killed.once('exit', resolve));
      const listen = (path: string) => new Promise<Server>((resolve) => { const s = createServer(); servers.push(s); s.listen(path, () => resolve(s)); });
      await listen(join(live, 'sock'));
      // ssh binds p.<random> and links it to p: /proc/net/unix names the first
      await listen(join(linked, 'sock.TmpName'));
      linkSync(join(linked, 'sock.TmpName'), join(linked, 'sock'));
      unlinkSync(join(linked, 'sock.TmpName'));
      writeFileSync(join(mixed, 'not-a-socket'), '');
      for (const d of [dead, live, linked, mixed]) utimesSync(d, old, old);
      expect(existsSync(join(dead, 'sock')), 'the dead socket is there').to.equal(true);
      sweepControlDirs();
      expect([dead, live, linked, mixed].map((d) => existsSync(d))).to.deep.equal([false, true, true, true]);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('ssh gets file names literally: quoted -o values, % doubled, the key by IdentityFile', async () => {
    const c = new SshControl();
    const h = new SshHost({ host: '::1', port: 2222, key: '/root/my keys/id %h' }, { knownHosts: '/etc/zb known/%u', connectTimeout: 5, options: [] }, c);
    const a = h.sshArgs();
    const o = (name: string) => a.find((x) => x.startsWith(`${name}=`));
    expect(o('IdentityFile')).to.equal('IdentityFile="/root/my keys/id %%h"');
    expect(o('UserKnownHostsFile')).to.equal('UserKnownHostsFile="/etc/zb known/%%u"');
    expect(o('ControlPath')).to.equal(`ControlPath="${c.controlDir()}/%C"`);
    expect(a).not.to.include('-i');
    expect(h.wrap(['zfs', 'list'])).to.deep.equal(['ssh', ...a, '::1', '--', 'zfs list']);
    await c.close();
  });
});

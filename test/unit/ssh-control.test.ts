// The ssh control directory: private, removed at the end, and the empty
// directories of runs killed with SIGKILL are swept (real files in /tmp).
import { expect } from 'chai';
import { existsSync, mkdirSync, statSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshControl, SshHost } from '../../src/exec/host.js';

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

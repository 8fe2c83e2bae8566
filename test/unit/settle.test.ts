// waitNoReceive, the wait of a stopped run for the far end's zfs receive to
// die, run for real under /bin/sh with a stand-in `ps` on the PATH (a table:
// which process lines hold it up).
import { expect } from 'chai';
import { execa } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitNoReceive } from '../../src/zfs/argv.js';

describe('waitNoReceive (real sh and awk, a stand-in ps)', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'zb-settle-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** run it against `ps` printing these lines; exit code and how long it took */
  async function run(lines: string[] | null, seconds = 0.4): Promise<{ code: number; ms: number }> {
    const bin = join(dir, `bin-${Math.random().toString(36).slice(2)}`);
    const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
    mkdirSync(bin, { recursive: true });
    if (lines) {
      writeFileSync(join(bin, 'ps'), `#!/bin/sh\ncat <<'EOF'\nCOMMAND\n${lines.join('\n')}\nEOF\n`);
      chmodSync(join(bin, 'ps'), 0o755);
    } else {
      // a PATH with awk and sleep but no ps
      for (const p of ['awk', 'sleep']) symlinkSync(`/usr/bin/${p}`, join(bin, p));
      env.PATH = bin;
    }
    const argv = waitNoReceive('tank/bk/x', seconds);
    const t = Date.now();
    const r = await execa('/bin/sh', argv.slice(1), { reject: false, env });
    return { code: r.exitCode ?? -1, ms: Date.now() - t };
  }

  const cases: Array<[string, string[], number]> = [
    ['nothing zfs runs: at once', ['/usr/sbin/sshd -D', 'bash'], 0],
    ['a receive into it: waits, then exit 1', ['zfs receive -u -s tank/bk/x'], 1],
    ['recv, zfs by its path', ['/usr/sbin/zfs recv -s -u tank/bk/x'], 1],
    ['a receive into another dataset that starts with its name: at once', ['zfs receive -u tank/bk/xy', 'zfs receive -u tank/bk/x/child'], 0],
    ['a send of it: at once', ['zfs send -i tank/bk/x@a tank/bk/x@b'], 0],
    ['an ssh client whose command names it: at once', ['ssh host zfs receive -u tank/bk/x'], 0],
  ];
  for (const [what, lines, code] of cases) {
    it(what, async () => {
      const r = await run(lines);
      expect(r.code).to.equal(code);
      if (code === 1) expect(r.ms, 'it waited (2 rounds of 0.2 s)').to.be.at.least(150);
    });
  }

  it('no ps on the host: no wait, exit 0', async () => {
    expect((await run(null)).code).to.equal(0);
  });
});

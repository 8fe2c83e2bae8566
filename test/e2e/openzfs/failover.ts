// failover, takeover and failback on every row of the matrix (zfs-fuse, and
// OpenZFS 2.1 and 2.3 as remote hosts over ssh): a recursive pair switched
// there and back, data identical after each update in either direction; a
// takeover, both sides writing, the split brain refused with what each side
// wrote (bytes where zfs has written@), failback keeping the divergent data
// renamed aside, and replication resuming. The unreachable source itself is
// tested on zfs-fuse (test/e2e/failover.test.ts stops its sshd): here both
// sides share one ssh target, and takeover asks the source nothing anyway.
import { expect } from 'chai';
import { freePort } from '../../harness/bed.js';
import type { Result } from '../support.js';
import { exists, prop, snapshots, treeHash, writeRandom, writeText, zfs } from './nodes.js';
import { noTransferOn, untilMoved } from './hardening.js';
import { makeWorld, pairsIn, type World, type WorldName } from './worlds.js';

function ok(r: Result): void {
  expect(r.code, `stdout: ${r.stdout}; stderr: ${r.stderr}`).to.equal(0);
}

/** partial: also take over a destination that holds a partial receive (an update killed mid-stream; OpenZFS keeps it resumable) */
/** the tests of a row: all by default; an OpenZFS row runs some, the other row the rest, to keep the suite's time */
export type FailoverTest = 'switch' | 'takeover';

export function defineFailover(name: WorldName, o: { partial?: boolean; only?: readonly FailoverTest[] } = {}): void {
  const on = (t: FailoverTest) => !o.only || o.only.includes(t);
  describe(`e2e failover [${name}]: a recursive pair switched there and back; takeover, split brain, failback`, function () {
    this.timeout(300_000);
    let w: World;
    const { s, d, pair } = pairsIn(() => w);
    const same = async (n: string) => expect(await treeHash(w.dst, d(n)), n).to.deep.equal(await treeHash(w.src, s(n)));

    before(async function () {
      this.timeout(40 * 60_000);
      w = await makeWorld(name);
      (w as { tag: string }).tag = `f${w.tag}`;
    });

    if (on('switch')) it('a recursive pair: failover, writes on the new source (top and child), update: identical; failover back: identical, the first source writable again', async () => {
      await zfs(w.src, 'zfs', 'create', s('r'));
      await zfs(w.src, 'zfs', 'create', s('r/c'));
      await writeText(w.src, s('r'), 'top.txt', 'top\n');
      await writeText(w.src, s('r/c'), 'child.txt', 'child\n');
      // mbuffer where this machine holds both ends (zfs-fuse); ssh to the guests
      await pair('r', w.src.kind === 'fuse' ? `recursive=yes,transport=mbuffer,port=${await freePort()}` : 'recursive=yes');
      ok(await w.site.run(['initialize', w.dest(d('r'))]));
      ok(await w.site.run(['failover', w.dest(d('r'))]));
      expect(await prop(w.dst, d('r'), `zettabee:${w.fp(s('r'), d('r'))}:role`)).to.equal(`source ${d('r')}`);
      await writeText(w.dst, d('r'), 'top2.txt', 'written on the new source\n');
      await writeText(w.dst, d('r/c'), 'child2.txt', 'written on the new source, below\n');
      ok(await w.site.run(['update', w.dest(d('r'))]));
      await same('r');
      await same('r/c');
      // back: the final update carries a write on the child of the frozen source
      ok(await w.site.run(['failover', w.dest(d('r'))]));
      await same('r/c');
      await writeText(w.src, s('r/c'), 'child3.txt', 'back on the first source\n');
    });

    if (on('takeover')) it('takeover of a recursive pair (the source not asked), both sides write, update refuses: split brain, CRITICAL, what each wrote; failback keeps the divergent data, child too, update works again and check is OK', async () => {
      await zfs(w.src, 'zfs', 'create', s('t'));
      await zfs(w.src, 'zfs', 'create', s('t/k'));
      await writeText(w.src, s('t'), 'a.txt', 'before the crash\n');
      await writeText(w.src, s('t/k'), 'k.txt', 'a child\n');
      await pair('t', 'recursive=yes');
      ok(await w.site.run(['initialize', w.dest(d('t'))]));
      const fp = w.fp(s('t'), d('t'));
      ok(await w.site.run(['takeover', w.dest(d('t')), '--yes']));
      // the source was not touched
      expect(await prop(w.src, s('t'), `zettabee:${fp}:role`)).to.equal('-');
      let c = await w.site.run(['check', w.dest(d('t'))]);
      expect(c.code, c.stdout).to.equal(2);
      expect(c.stdout).to.match(/^ZETTABEE CRITICAL - taken over/);
      await writeText(w.dst, d('t'), 'b.txt', 'the new source serves\n');
      await writeText(w.src, s('t'), 'lost.txt', 'the old source wrote this after the takeover\n'.repeat(1000));
      await writeText(w.src, s('t/k'), 'lost-below.txt', 'and this, below\n');
      await writeText(w.dst, d('t/k'), 'b-below.txt', 'the new source serves this child too\n');
      // what it wrote reaches the disk (written@ counts synced data only)
      await w.src.sh('sync; zpool sync "$1" 2>/dev/null || true', [w.srcPool]);
      const u = await w.site.run(['update', w.dest(d('t'))]);
      expect(u.code, u.stderr).to.equal(1);
      expect(u.stderr).to.match(/split brain: both sides are sources: \S+ took over \(takeover on /);
      if (w.src.kind === 'openzfs') expect(u.stderr, u.stderr).to.match(new RegExp(`since then \\S*${s('t')} wrote 0 snapshots, [\\d.]+ KiB written \\(written@\\)`));
      c = await w.site.run(['check', w.dest(d('t'))]);
      expect(c.code, c.stdout).to.equal(2);
      expect(c.stdout).to.match(/^ZETTABEE CRITICAL - inconsistent: split brain/);
      const fb = await w.site.run(['failback', w.dest(d('t'))]);
      ok(fb);
      const kept = /kept in (\S+) \(mountable/.exec(fb.stdout)?.[1];
      expect(kept, fb.stdout).to.match(new RegExp(`^${s('t')}-diverged-\\d{14}UTC$`));
      expect(await exists(w.src, kept!)).to.equal(true);
      expect(Object.keys(await treeHash(w.src, kept!))).to.include('lost.txt');
      expect(Object.keys(await treeHash(w.src, `${kept!}/k`))).to.include('lost-below.txt');
      expect(await snapshots(w.src, kept!)).to.satisfy((l: string[]) => l.some((x) => x.startsWith('diverged-')));
      await same('t');
      await same('t/k');
      await writeText(w.dst, d('t'), 'c.txt', 'replicating again\n');
      ok(await w.site.run(['update', w.dest(d('t'))]));
      await same('t');
      await same('t/k');
      c = await w.site.run(['check', w.dest(d('t'))]);
      expect(c.code, c.stdout).to.equal(0);
    });

    if (o.partial) it('takeover of a destination holding a partial receive (an update killed mid-stream): dropped, the destination promoted at its newest complete snapshot', async () => {
      await zfs(w.src, 'zfs', 'create', s('p'));
      await writeText(w.src, s('p'), 'a.txt', 'complete\n');
      await pair('p');
      ok(await w.site.run(['initialize', w.dest(d('p'))]));
      const complete = (await snapshots(w.dst, d('p'))).at(-1);
      await writeRandom(w.src, s('p'), 'big.bin', 8 * 1024 * 1024);
      await pair('p', 'bwlimit=4M');
      const fp = w.fp(s('p'), d('p'));
      const child = w.site.spawnDetached!(['update', w.dest(d('p'))]);
      await untilMoved(w, fp, child, 2 * 1024 * 1024);
      process.kill(-child.pid!, 'SIGKILL');
      await child;
      await noTransferOn(w.src, s('p'));
      await noTransferOn(w.dst, d('p'));
      await pair('p');
      ok(await w.site.run(['unlock', w.dest(d('p'))]));
      expect(await prop(w.dst, d('p'), 'receive_resume_token')).to.match(/^\d+-/);
      const dry = await w.site.run(['takeover', w.dest(d('p')), '--dry-run']);
      ok(dry);
      expect(dry.stdout).to.contain(`zfs receive -A ${d('p')}`);
      ok(await w.site.run(['takeover', w.dest(d('p')), '--yes']));
      expect(await prop(w.dst, d('p'), 'receive_resume_token')).to.equal('-');
      expect((await snapshots(w.dst, d('p'))).at(-1)).to.equal(complete);
      expect(Object.keys(await treeHash(w.dst, d('p')))).to.deep.equal(['a.txt']);
      await writeText(w.dst, d('p'), 'b.txt', 'the new source writes\n');
    });
  });
}

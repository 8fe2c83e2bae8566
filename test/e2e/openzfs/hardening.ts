// Faults a replicator must survive, on every row it runs on (zfs-fuse and the
// OpenZFS guests): a recursive receive that stopped half-way, a child
// destroyed on the source, an initialize killed mid-stream, a crash during
// an -I update, unlock --force while a run works, an unreachable
// destination for many runs. Each test provokes the fault the hard way and
// then checks the exit codes, what check says, and what both sides hold.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../procs.js';
import type { Result } from '../support.js';
import { exists, holdTags, prop, snapshots, treeHash, writeRandom, writeText, zfs, type ZfsNode } from './nodes.js';
import { makeWorld, pairsIn, type World, type WorldName } from './worlds.js';

const MiB = 1024 * 1024;

function ok(r: Result): void {
  expect(r, `stderr: ${r.stderr}`).to.deep.include({ code: 0, stdout: '', stderr: '' });
}

function pairSnaps(list: readonly string[], fp: string): string[] {
  return list.filter((s) => s.startsWith(`zettabee.${fp}.`));
}

/** wait for a run's progress file to show `bytes`; the run must not end first */
export async function untilMoved(w: World, fp: string, child: { exitCode?: number | null } & Promise<unknown>, bytes: number): Promise<number> {
  let exited = false;
  void child.finally(() => (exited = true));
  const file = join(w.site.paths.state, `${fp}.progress`);
  const deadline = Date.now() + 120_000;
  let seen = 0;
  while (!exited && Date.now() < deadline) {
    try {
      seen = (JSON.parse(readFileSync(file, 'utf8')) as { bytes: number }).bytes;
    } catch {
      /* not yet */
    }
    if (seen >= bytes) return seen;
    await sleep(50);
  }
  const r = (await child) as { exitCode?: number; stderr?: unknown };
  expect.fail(`the run ended (exit ${r.exitCode}) before ${bytes} bytes moved: ${String(r.stderr)}`);
}

/** no zfs send or receive of the dataset left on the node */
export async function noTransferOn(node: ZfsNode, ds: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const left = (await node.sh('ps -eo pid,args | grep -E "zfs (send|receive|recv)" | grep -F -- "$1" | grep -v grep || true', [ds])).trim();
    if (!left) return;
    if (Date.now() > deadline) expect.fail(`left on ${node.label} 30 s after the kill: ${left}`);
    await sleep(250);
  }
}

/** user holds on each snapshot of ds: tags where zfs lists them, else the count */
async function holdsOn(node: ZfsNode, ds: string): Promise<Record<string, string[] | number>> {
  const out: Record<string, string[] | number> = {};
  for (const s of await snapshots(node, ds)) {
    if (node.kind === 'fuse') out[s] = Number(await prop(node, `${ds}@${s}`, 'userrefs'));
    else out[s] = (await zfs(node, 'zfs', 'holds', '-H', `${ds}@${s}`)).split('\n').filter(Boolean).map((l) => l.split('\t')[1]!);
  }
  return out;
}

/**
 * zfs destroy -r of a file system. zfs-fuse refuses to unmount one that was
 * just used ("dataset is busy") for a moment now and then when the machine is
 * loaded: that is retried for a few seconds, and nothing else is.
 */
async function destroyTree(node: ZfsNode, ds: string): Promise<void> {
  for (let i = 0; ; i++) {
    const e = await zfs(node, 'zfs', 'destroy', '-r', ds).then(() => null, (err: Error) => err);
    if (!e) return;
    if (node.kind !== 'fuse' || !/dataset is busy/.test(e.message) || i >= 10) throw e;
    await sleep(500);
  }
}

/** the faults' tests on a row where zettabee runs on this machine over ssh (it kills zettabee's process group, and points its ssh elsewhere) */
export type Fault = 'half-way' | 'vanished child' | 'killed initialize' | 'killed recursive initialize' | 'crash during -I' | 'unlock --force' | 'unreachable' | 'exclude';
export const ALL_FAULTS: readonly Fault[] = ['half-way', 'vanished child', 'killed initialize', 'killed recursive initialize', 'crash during -I', 'unlock --force', 'unreachable', 'exclude'];

export function defineHardening(name: WorldName, faults: readonly Fault[] = ALL_FAULTS): void {
  const on = (f: Fault) => faults.includes(f);
  describe(`e2e faults [${name}]: a half-finished recursive receive, a vanished child, killed runs, unlock --force, an unreachable destination`, function () {
    this.timeout(300_000);
    let w: World;
    const { s, d, pair, lines } = pairsIn(() => w);
    const fp = (n: string) => w.fp(s(n), d(n));

    before(async function () {
      this.timeout(40 * 60_000);
      w = await makeWorld(name);
      // a tag of its own: the matrix's datasets share these pools
      (w as { tag: string }).tag = `h${w.tag}`;
    });

    if (on('half-way')) it('a recursive receive that stopped half-way (a child over quota) is Inconsistent, CRITICAL, naming the child; once the quota is lifted the next update catches the child up by itself, and nothing piles up', async () => {
      await zfs(w.src, 'zfs', 'create', s('rr'));
      await zfs(w.src, 'zfs', 'create', `${s('rr')}/k`);
      await writeText(w.src, s('rr'), 'top.txt', 'top\n');
      await writeText(w.src, `${s('rr')}/k`, 'k.txt', 'k\n');
      await pair('rr', 'recursive=yes,clag=1d');
      ok(await w.site.run(['initialize', w.dest(d('rr'))]));
      await zfs(w.dst, 'zfs', 'set', 'quota=3M', `${d('rr')}/k`);
      await writeRandom(w.src, `${s('rr')}/k`, 'big.bin', 5 * MiB);
      await writeText(w.src, s('rr'), 'top2.txt', 'more\n');
      for (let i = 0; i < 2; i++) {
        const r = await w.site.run(['update', w.dest(d('rr'))]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr, r.stderr).to.contain(`${d('rr')}/k`);
        const st = await w.site.run(['status', w.dest(d('rr'))]);
        expect(st.stdout).to.match(/Inconsistent/);
        const c = await w.site.run(['check', w.dest(d('rr'))]);
        expect(c.code, c.stdout).to.equal(2);
        expect(c.stdout).to.match(/^ZETTABEE CRITICAL - .*inconsistent/);
        // no pile-up: the base and at most the snapshot the top already has
        expect(pairSnaps(await snapshots(w.src, s('rr')), fp('rr')).length, 'source pair snapshots').to.be.at.most(2);
      }
      await zfs(w.dst, 'zfs', 'set', 'quota=none', `${d('rr')}/k`);
      const fixed = await w.site.run(['update', w.dest(d('rr'))]);
      expect(fixed.code, fixed.stderr).to.equal(0);
      expect(await treeHash(w.dst, `${d('rr')}/k`)).to.deep.equal(await treeHash(w.src, `${s('rr')}/k`));
      expect(await treeHash(w.dst, d('rr'))).to.deep.equal(await treeHash(w.src, s('rr')));
      const c = await w.site.run(['check', w.dest(d('rr'))]);
      expect(c.code, c.stdout).to.equal(0);
      expect(pairSnaps(await snapshots(w.src, s('rr')), fp('rr'))).to.have.length(1);
      expect(pairSnaps(await snapshots(w.src, `${s('rr')}/k`), fp('rr'))).to.have.length(1);
      expect(pairSnaps(await snapshots(w.dst, `${d('rr')}/k`), fp('rr')).length).to.be.at.most(2);
      // caught up by a stream of its own, or (OpenZFS) by resuming what the stopped receive left
      expect(await w.site.log(fp('rr'))).to.match(/catching it up first|resuming the interrupted receive into \S+\/k$/m);
    });

    if (on('exclude')) it('exclude= on a recursive pair: excluded children are never snapshotted, sent or reported; included ones (new ones too, -I with a user snapshot) arrive; a child over quota recovers by itself; a child excluded later keeps its copy', async function () {
      // eight datasets, a guest command each for most checks: 50 s on an idle machine, over 300 s seen under the suite's load
      this.timeout(600_000);
      const top = s('ex');
      // the files of the dataset itself (children below are mounted inside it)
      const own = async (node: ZfsNode, ds: string) => Object.fromEntries(Object.entries(await treeHash(node, ds)).filter(([k]) => !k.includes('/')));
      const kids = ['keep', 'keep/deep', 'tmp', 'tmp/sub', 'vm', 'vm/a', 'vm/a/swap'];
      // one session for the tree (a guest's commands cost a tenth of a second each)
      await w.src.sh('t=$1; shift; zfs create "$t" && for k; do zfs create "$t/$k" && echo "$k" > "$(zfs get -H -o value mountpoint "$t/$k")/f.txt" || exit 1; done', [top, ...kids]);
      await pair('ex', 'recursive=yes,exclude="tmp,vm/*/swap",clag=1d');
      const dry = await w.site.run(['initialize', '--dry-run', w.dest(d('ex'))]);
      expect(dry.code, dry.stderr).to.equal(0);
      expect(dry.stdout).to.contain(`then ${d('ex')}/keep/deep: zfs send`);
      expect(dry.stdout).to.not.contain(`${d('ex')}/tmp`);
      expect(dry.stdout).to.not.contain('swap:');
      // one atomic snapshot of what is included where zfs takes several names; else -r, then the excluded ones' destroyed
      expect(dry.stdout).to.match(w.src.kind === 'fuse' ? /-r on the source .*, then destroy it on the excluded \S+\/tmp, \S+\/vm\/a\/swap/ : /and 4 included children at once on the source/);
      expect(await exists(w.dst, d('ex'))).to.equal(false);
      ok(await w.site.run(['initialize', w.dest(d('ex'))]));
      const included = ['', '/keep', '/keep/deep', '/vm', '/vm/a'];
      for (const k of included) expect(await own(w.dst, d('ex') + k), k).to.deep.equal(await own(w.src, top + k));
      for (const k of ['tmp', 'vm/a/swap']) {
        expect(await exists(w.dst, `${d('ex')}/${k}`), k).to.equal(false);
        expect(pairSnaps(await snapshots(w.src, `${top}/${k}`), fp('ex')), k).to.deep.equal([]);
      }
      expect(pairSnaps(await snapshots(w.src, `${top}/tmp/sub`), fp('ex'))).to.deep.equal([]);

      async function overQuota() {
        await zfs(w.dst, 'zfs', 'set', 'quota=3M', `${d('ex')}/keep/deep`);
        await writeRandom(w.src, `${top}/keep/deep`, 'big.bin', 5 * MiB);
        const r = await w.site.run(['update', w.dest(d('ex'))]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.contain(`${d('ex')}/keep/deep`);
        expect((await w.site.run(['check', w.dest(d('ex'))])).code).to.equal(2);
        await zfs(w.dst, 'zfs', 'set', 'quota=none', `${d('ex')}/keep/deep`);
        ok(await w.site.run(['update', w.dest(d('ex'))]));
        expect(await own(w.dst, `${d('ex')}/keep/deep`)).to.deep.equal(await own(w.src, `${top}/keep/deep`));
        for (const k of ['', '/keep/deep']) expect(pairSnaps(await snapshots(w.src, top + k), fp('ex')), k).to.have.length(1);
        expect((await w.site.run(['check', w.dest(d('ex'))])).code).to.equal(0);
      }

      // a change below, a user's snapshot on one child (-I), a new child, a new excluded one
      await writeRandom(w.src, `${top}/keep/deep`, 'b.bin', 256 * 1024);
      await zfs(w.src, 'zfs', 'snapshot', `${top}/keep@mine`);
      await writeText(w.src, `${top}/keep`, 'g.txt', 'after mine\n');
      await zfs(w.src, 'zfs', 'create', `${top}/new`);
      await writeText(w.src, `${top}/new`, 'n.txt', 'new\n');
      await zfs(w.src, 'zfs', 'create', '-p', `${top}/vm/b/swap`);
      if (w.src.kind !== 'fuse') {
        // the estimate (written@, OpenZFS) counts every stream: the top's and the 6 included children's of their own
        const est = await w.site.run(['update', '--dry-run', w.dest(d('ex'))]);
        expect(est.code, est.stderr).to.equal(0);
        const m = /the stream would carry about ([\d.]+) (KiB|MiB): .*, over 7 streams \(exclude=\) \(zfs get\)$/m.exec(est.stdout);
        expect(m, est.stdout).to.not.equal(null);
        expect(Number(m![1]) * (m![2] === 'MiB' ? 1024 : 1), 'KiB: keep/deep alone wrote 256').to.be.at.least(256);
      }
      ok(await w.site.run(['update', w.dest(d('ex'))]));
      for (const k of [...included, '/new', '/vm/b']) expect(await own(w.dst, d('ex') + k), k).to.deep.equal(await own(w.src, top + k));
      expect(await snapshots(w.dst, `${d('ex')}/keep`)).to.include('mine');
      expect(await exists(w.dst, `${d('ex')}/vm/b/swap`)).to.equal(false);
      expect(pairSnaps(await snapshots(w.src, `${top}/vm/b/swap`), fp('ex'))).to.deep.equal([]);
      expect((await w.site.run(['check', w.dest(d('ex'))])).code).to.equal(0);

      // a child that cannot take its stream: Inconsistent, CRITICAL; fixed, it
      // recovers and nothing piles up (zettabee's logic alone: on zfs-fuse;
      // the half-way test covers OpenZFS's partial receives)
      if (w.src.kind === 'fuse') await overQuota();

      // excluded after it was replicated: its copy stays, no longer updated, and nothing warns
      await pair('ex', 'recursive=yes,exclude="tmp,vm/*/swap,new",clag=1d');
      await writeText(w.src, `${top}/new`, 'n2.txt', 'not sent\n');
      ok(await w.site.run(['update', w.dest(d('ex'))]));
      expect(await exists(w.dst, `${d('ex')}/new`)).to.equal(true);
      expect(await own(w.dst, `${d('ex')}/new`)).to.not.have.property('n2.txt');
      expect((await w.site.run(['check', w.dest(d('ex'))])).code).to.equal(0);
    });

    if (on('vanished child')) it('a child destroyed on the source: every update warns, naming it and how to retire it, and check says WARNING; retired, all is quiet again', async () => {
      await zfs(w.src, 'zfs', 'create', s('vc'));
      await zfs(w.src, 'zfs', 'create', `${s('vc')}/keep`);
      await zfs(w.src, 'zfs', 'create', `${s('vc')}/gone`);
      await writeText(w.src, `${s('vc')}/gone`, 'g.txt', 'gone\n');
      await pair('vc', 'recursive=yes');
      ok(await w.site.run(['initialize', w.dest(d('vc'))]));
      // the pair's hold is on the child's snapshot too: release it first (zettabee(1) says how)
      const [snap] = pairSnaps(await snapshots(w.src, `${s('vc')}/gone`), fp('vc'));
      await zfs(w.src, 'zfs', 'release', `zettabee.${fp('vc')}`, `${s('vc')}/gone@${snap}`);
      await destroyTree(w.src, `${s('vc')}/gone`);
      const r = await w.site.run(['update', w.dest(d('vc'))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.contain(`${d('vc')}/gone has no source any more`);
      expect(r.stderr).to.contain(`zfs destroy -r ${d('vc')}/gone`);
      const c = await w.site.run(['check', w.dest(d('vc'))]);
      expect(c.code, c.stdout).to.equal(1);
      expect(c.stdout).to.contain(`${d('vc')}/gone has no source any more`);
      expect(await exists(w.dst, `${d('vc')}/gone`)).to.equal(true);
      // retired as the warning says
      await destroyTree(w.dst, `${d('vc')}/gone`);
      ok(await w.site.run(['update', w.dest(d('vc'))]));
      expect((await w.site.run(['check', w.dest(d('vc'))])).code).to.equal(0);
    });

    /**
     * initialize pair n (keys: its other pair keys) at 4 MiB/s, kill -9 the
     * whole run once 5 MiB moved, wait until no send or receive is left,
     * look at the pair snapshot it took (`seen`), then drop the rate limit
     * and unlock; the snapshot's name
     */
    const killedInitialize = async (n: string, keys: string, seen?: (snap: string) => Promise<void>): Promise<string> => {
      await pair(n, [keys, 'bwlimit=4M'].filter(Boolean).join(','));
      const child = w.site.spawnDetached!(['initialize', w.dest(d(n))]);
      await untilMoved(w, fp(n), child, 5 * MiB);
      process.kill(-child.pid!, 'SIGKILL');
      await child;
      await noTransferOn(w.src, s(n));
      await noTransferOn(w.dst, d(n));
      const [snap] = pairSnaps(await snapshots(w.src, s(n)), fp(n));
      await seen?.(snap!);
      await pair(n, keys);
      expect((await w.site.run(['unlock', w.dest(d(n))])).code).to.equal(0);
      return snap!;
    };

    if (on('killed initialize')) it('an initialize killed mid-stream: the next initialize takes over what it left (resumes it where zfs can), never "already exists"', async () => {
      await zfs(w.src, 'zfs', 'create', s('ik'));
      await writeRandom(w.src, s('ik'), 'big.bin', 16 * MiB);
      await killedInitialize('ik', '');
      const r = await w.site.run(['initialize', w.dest(d('ik'))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(await treeHash(w.dst, d('ik'))).to.deep.equal(await treeHash(w.src, s('ik')));
      expect(pairSnaps(await snapshots(w.src, s('ik')), fp('ik'))).to.have.length(1);
      const log = await w.site.log(fp('ik'));
      if (w.dst.kind === 'openzfs') expect(log).to.contain('resuming the interrupted initialize');
      ok(await w.site.run(['update', w.dest(d('ik'))]));
    });

    // a zfs send -R killed after the top arrived: the child is half-received (OpenZFS keeps its partial receive) or not there at all.
    // zfs-fuse's zfs send -R holds every snapshot it sends (.send-<pid>-<n>) and a send killed with it keeps them: the next initialize must release them, or that snapshot stays busy for retention
    if (on('killed recursive initialize')) it('a recursive initialize killed mid-stream, after the top arrived: the next initialize brings the child (resumes its partial receive where zfs kept one; zfs-fuse: releases the dead send\'s holds) and takes over, and the next update\'s retention destroys that snapshot', async () => {
      const fuse = w.src.kind === 'fuse';
      await zfs(w.src, 'zfs', 'create', s('ir'));
      await zfs(w.src, 'zfs', 'create', `${s('ir')}/c`);
      await writeRandom(w.src, `${s('ir')}/c`, 'big.bin', 16 * MiB);
      let token = '-';
      const dead = await killedInitialize('ir', 'recursive=yes', async (snap) => {
        if (fuse) expect(Number(await prop(w.src, `${s('ir')}/c@${snap}`, 'userrefs')), 'the killed send\'s hold').to.be.above(0);
        else token = (await w.dst.sh('zfs get -H -o value receive_resume_token "$1" 2>/dev/null || echo absent', [`${d('ir')}/c`])).trim();
      });
      const r = await w.site.run(['initialize', w.dest(d('ir'))]);
      expect(r, r.stderr).to.deep.include({ code: 0, stderr: '' });
      expect(pairSnaps(await snapshots(w.src, s('ir')), fp('ir'))).to.have.length(1);
      expect(await treeHash(w.dst, `${d('ir')}/c`)).to.deep.equal(await treeHash(w.src, `${s('ir')}/c`));
      const log = await w.site.log(fp('ir'));
      if (fuse) expect(log).to.match(/released \d+ holds? that the zfs send of an earlier run \(pid \d+\) left on the source when it died/);
      else if (token.startsWith('1-')) expect(log).to.contain(`resuming the interrupted receive into ${d('ir')}/c`);
      console.log(`      the child after the kill: ${fuse ? 'zfs-fuse' : token.startsWith('1-') ? 'a resumable partial receive' : `receive_resume_token ${token}`}`);
      if (!fuse) expect(await prop(w.dst, `${d('ir')}/c`, 'receive_resume_token'), 'a partial receive left on the child').to.equal('-');
      // only the pair's own hold is left on the snapshot the killed run took
      if (fuse) expect(Number(await prop(w.src, `${s('ir')}/c@${dead}`, 'userrefs'))).to.be.at.most(1);
      else expect(await holdTags(w.src, `${s('ir')}/c@${dead}`)).to.deep.equal([`zettabee.${fp('ir')}`]);
      await writeRandom(w.src, `${s('ir')}/c`, 'more.bin', 64 * 1024);
      const u = await w.site.run(['update', w.dest(d('ir'))]);
      expect(u, u.stderr).to.deep.include({ code: 0, stderr: '' });
      expect(await snapshots(w.src, `${s('ir')}/c`)).to.not.include(dead);
    });

    if (on('crash during -I')) it('a crash during an -I update (a user snapshot in between) leaves no hold behind that blocks retention: the next update recovers and nothing piles up', async () => {
      await zfs(w.src, 'zfs', 'create', s('hl'));
      await writeRandom(w.src, s('hl'), 'a.bin', 64 * 1024);
      await pair('hl');
      ok(await w.site.run(['initialize', w.dest(d('hl'))]));
      await writeRandom(w.src, s('hl'), 'b.bin', 64 * 1024);
      await zfs(w.src, 'zfs', 'snapshot', `${s('hl')}@mine`);
      await writeRandom(w.src, s('hl'), 'big.bin', 12 * MiB);
      await pair('hl', 'bwlimit=4M');
      const child = w.site.spawnDetached!(['update', w.dest(d('hl'))]);
      await untilMoved(w, fp('hl'), child, 4 * MiB);
      process.kill(-child.pid!, 'SIGKILL');
      await child;
      await noTransferOn(w.src, s('hl'));
      await noTransferOn(w.dst, d('hl'));
      await pair('hl');
      expect((await w.site.run(['unlock', w.dest(d('hl'))])).code).to.equal(0);
      const r = await w.site.run(['update', w.dest(d('hl'))]);
      expect(r, r.stderr).to.deep.include({ code: 0, stderr: '' });
      expect(await treeHash(w.dst, d('hl'))).to.deep.equal(await treeHash(w.src, s('hl')));
      expect(pairSnaps(await snapshots(w.src, s('hl')), fp('hl'))).to.have.length(1);
      const held = await holdsOn(w.src, s('hl'));
      // only zettabee's own hold on its base is left; the user's snapshot holds nothing
      expect(held.mine).to.deep.equal(w.src.kind === 'fuse' ? 0 : []);
      for (const [n, h] of Object.entries(held)) if (n !== 'mine') expect(h).to.deep.equal(w.src.kind === 'fuse' ? 1 : [`zettabee.${fp('hl')}`]);
      expect((await w.site.run(['check', w.dest(d('hl'))])).code).to.equal(0);
    });

    if (on('unlock --force')) it('unlock --force while an update works, and a new update at once: the old run stops before destroying or releasing anything; the next update is incremental', async () => {
      await zfs(w.src, 'zfs', 'create', s('uf'));
      await writeRandom(w.src, s('uf'), 'a.bin', 64 * 1024);
      await pair('uf');
      ok(await w.site.run(['initialize', w.dest(d('uf'))]));
      await writeRandom(w.src, s('uf'), 'big.bin', 12 * MiB);
      await pair('uf', 'bwlimit=4M');
      const a = w.site.spawnDetached!(['update', w.dest(d('uf'))]);
      await untilMoved(w, fp('uf'), a, 2 * MiB);
      const u = await w.site.run(['unlock', '--force', w.dest(d('uf'))]);
      expect(u.code, u.stderr).to.equal(0);
      const b = w.site.spawnDetached!(['update', w.dest(d('uf'))]);
      const [ra, rb] = await Promise.all([a, b]);
      // whatever each of the two made of it, the base survived: the next update is incremental and exact
      await pair('uf');
      const next = await w.site.run(['update', w.dest(d('uf'))]);
      expect(next.code, `${next.stderr}\n(first: ${ra.exitCode} ${String(ra.stderr)}; second: ${rb.exitCode} ${String(rb.stderr)})`).to.equal(0);
      const log = await w.site.log(fp('uf'));
      expect(log.slice(log.lastIndexOf(' update START '))).to.match(/incremental from [@#]zettabee\./);
      expect(await treeHash(w.dst, d('uf'))).to.deep.equal(await treeHash(w.src, s('uf')));
      expect(pairSnaps(await snapshots(w.src, s('uf')), fp('uf')).length).to.be.at.least(1);
    });

    if (on('unreachable')) it('a destination unreachable for many runs: exit 1 every time, no snapshot piles up, CRITICAL once clag has passed; reachable again, it recovers', async () => {
      await zfs(w.src, 'zfs', 'create', s('ur'));
      await writeRandom(w.src, s('ur'), 'a.bin', 64 * 1024);
      await pair('ur', 'clag=3s');
      ok(await w.site.run(['initialize', w.dest(d('ur'))]));
      const before = await snapshots(w.src, s('ur'));
      // the same pair, its ssh pointed at a port nobody listens on
      const dead = w.line(s('ur'), d('ur'), 'clag=3s').replace(/sshport=\d+/, 'sshport=9');
      lines.set('ur', dead);
      await w.site.writePairs([...lines.values()]);
      await sleep(3500);
      for (let i = 0; i < 3; i++) {
        await writeRandom(w.src, s('ur'), `x${i}.bin`, 16 * 1024);
        const r = await w.site.run(['update', w.dest(d('ur'))]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.match(/ssh/);
      }
      expect(await snapshots(w.src, s('ur'))).to.deep.equal(before);
      const c = await w.site.run(['check', w.dest(d('ur'))]);
      expect(c.code, c.stdout).to.equal(2);
      expect(c.stdout).to.match(/^ZETTABEE CRITICAL - .*lag .* >= clag/);
      await pair('ur', 'clag=1h');
      ok(await w.site.run(['update', w.dest(d('ur'))]));
      expect(await treeHash(w.dst, d('ur'))).to.deep.equal(await treeHash(w.src, s('ur')));
      expect((await w.site.run(['check', w.dest(d('ur'))])).code).to.equal(0);
    });
  });
}

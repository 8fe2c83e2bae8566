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
import { exists, prop, snapshots, treeHash, writeRandom, writeText, zfs, type ZfsNode } from './nodes.js';
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

/** the faults' tests on a row where zettabee runs on this machine over ssh (it kills zettabee's process group, and points its ssh elsewhere) */
export type Fault = 'half-way' | 'vanished child' | 'killed initialize' | 'crash during -I' | 'unlock --force' | 'unreachable';
export const ALL_FAULTS: readonly Fault[] = ['half-way', 'vanished child', 'killed initialize', 'crash during -I', 'unlock --force', 'unreachable'];

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
      await zfs(w.src, 'zfs', 'destroy', '-r', `${s('vc')}/gone`);
      const r = await w.site.run(['update', w.dest(d('vc'))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.contain(`${d('vc')}/gone has no source any more`);
      expect(r.stderr).to.contain(`zfs destroy -r ${d('vc')}/gone`);
      const c = await w.site.run(['check', w.dest(d('vc'))]);
      expect(c.code, c.stdout).to.equal(1);
      expect(c.stdout).to.contain(`${d('vc')}/gone has no source any more`);
      expect(await exists(w.dst, `${d('vc')}/gone`)).to.equal(true);
      // retired as the warning says
      await zfs(w.dst, 'zfs', 'destroy', '-r', `${d('vc')}/gone`);
      ok(await w.site.run(['update', w.dest(d('vc'))]));
      expect((await w.site.run(['check', w.dest(d('vc'))])).code).to.equal(0);
    });

    if (on('killed initialize')) it('an initialize killed mid-stream: the next initialize takes over what it left (resumes it where zfs can), never "already exists"', async () => {
      await zfs(w.src, 'zfs', 'create', s('ik'));
      await writeRandom(w.src, s('ik'), 'big.bin', 16 * MiB);
      await pair('ik', 'bwlimit=4M');
      const child = w.site.spawnDetached!(['initialize', w.dest(d('ik'))]);
      await untilMoved(w, fp('ik'), child, 5 * MiB);
      process.kill(-child.pid!, 'SIGKILL');
      await child;
      await noTransferOn(w.src, s('ik'));
      await noTransferOn(w.dst, d('ik'));
      await pair('ik');
      expect((await w.site.run(['unlock', w.dest(d('ik'))])).code).to.equal(0);
      const r = await w.site.run(['initialize', w.dest(d('ik'))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(await treeHash(w.dst, d('ik'))).to.deep.equal(await treeHash(w.src, s('ik')));
      expect(pairSnaps(await snapshots(w.src, s('ik')), fp('ik'))).to.have.length(1);
      const log = await w.site.log(fp('ik'));
      if (w.dst.kind === 'openzfs') expect(log).to.contain('resuming the interrupted initialize');
      ok(await w.site.run(['update', w.dest(d('ik'))]));
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

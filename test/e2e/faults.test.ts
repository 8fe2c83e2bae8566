// The fault suite: kill -9 of zettabee's whole process group at random
// points of initialize and update (before the snapshot, mid-stream, during
// the finish), on local, ssh, mbuffer and recursive pairs; and concurrency
// storms. Real zfs-fuse, sshd and mbuffer. Every result is an assertion.
//   ZETTABEE_FAULTS=N     kill points (default 10)
//   ZETTABEE_FAULTS_SEED  repeat a run's choices
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, freePort, type Bed } from '../harness/bed.js';
import { sleep, transferProcs } from './procs.js';
import { execa } from 'execa';
import { LAUNCHER, makeSite, mountpointOf, snapshotsOf, sshKeys, treeHashes, writeRandom, type Site } from './support.js';

const MiB = 1024 * 1024;

/** a small seeded PRNG (mulberry32): the same seed makes the same kill points */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Layout {
  name: string;
  src: (b: Bed, pool: string) => string;
  dst: (b: Bed, pool: string) => string;
  keys: (b: Bed) => Promise<string>;
  recursive?: boolean;
}

const LAYOUTS: Layout[] = [
  { name: 'local', src: (_b, p) => `${p}/loc`, dst: (_b, p) => `${p}/f/loc`, keys: async () => '' },
  { name: 'ssh pull', src: (_b, p) => `127.0.0.1:${p}/pul`, dst: (_b, p) => `${p}/f/pul`, keys: async (b) => sshKeys(b) },
  { name: 'mbuffer push', src: (_b, p) => `${p}/mbu`, dst: (_b, p) => `127.0.0.1:${p}/f/mbu`, keys: async (b) => `${sshKeys(b)},transport=mbuffer,port=${await freePort()}` },
  { name: 'recursive ssh push', src: (_b, p) => `${p}/rec`, dst: (_b, p) => `127.0.0.1:${p}/f/rec`, keys: async (b) => `${sshKeys(b)},recursive=yes`, recursive: true },
];

const ds = (spec: string) => spec.slice(spec.indexOf(':') + 1);
const host = (spec: string) => (spec.includes(':') ? spec.slice(0, spec.indexOf(':')) : 'localhost');

describe('e2e: fault suite (kill -9 at random points, concurrency storms; real zfs-fuse, sshd, mbuffer)', function () {
  this.timeout(600_000);
  let bed: Bed;
  let srcPool: string;
  let dstPool: string;
  let site: Site;
  const seed = Number(process.env.ZETTABEE_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const points = Number(process.env.ZETTABEE_FAULTS ?? 10);
  const lines: string[] = [];
  const pairs: Array<{ layout: Layout; s: string; d: string; fp: string; keys: string }> = [];

  before(async function () {
    this.timeout(20 * 60_000);
    bed = await getBed();
    srcPool = await bed.createPool('fltsrc', 768);
    dstPool = await bed.createPool('fltdst', 768);
    await bed.run(['zfs', 'create', `${dstPool}/f`]);
    site = makeSite(bed);
    for (const l of LAYOUTS) {
      const s = l.src(bed, srcPool);
      const d = l.dst(bed, dstPool);
      await bed.run(['zfs', 'create', ds(s)]);
      if (l.recursive) {
        await bed.run(['zfs', 'create', `${ds(s)}/a`]);
        await bed.run(['zfs', 'create', `${ds(s)}/b`]);
      }
      const keys = await l.keys(bed);
      pairs.push({ layout: l, s, d, fp: fingerprint(host(s), ds(s), host(d), ds(d)), keys });
      lines.push(`${s}  ${d}  ${keys}`);
    }
    site.writePairs(lines);
    console.log(`      fault suite: ${points} kill points, seed ${seed} (ZETTABEE_FAULTS_SEED=${seed} repeats them)`);
  });

  /** a run in a process group of its own, so that kill -9 takes every process of it */
  const spawnRun = (args: string[]) =>
    execa(LAUNCHER, ['-c', site.pairsFile, '--settings', site.settingsFile, ...args], { reject: false, detached: true, timeout: 300_000, env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' } });
  const killGroup = (pid: number) => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* it had ended */
    }
  };

  /** a dataset of the pair's source (or a child of it), and its destination counterpart, on this machine */
  const where = (p: (typeof pairs)[number], child = '') => ({ s: `${ds(p.s)}${child}`, d: `${ds(p.d)}${child}` });

  async function write(p: (typeof pairs)[number], bytes: number, name: string): Promise<void> {
    const { s } = where(p);
    writeRandom(`${await mountpointOf(bed, s)}/${name}`, bytes);
    if (p.layout.recursive) writeRandom(`${await mountpointOf(bed, `${s}/a`)}/${name}`, Math.floor(bytes / 2));
  }

  async function identical(p: (typeof pairs)[number]): Promise<void> {
    for (const child of p.layout.recursive ? ['', '/a', '/b'] : ['']) {
      const { s, d } = where(p, child);
      // a received file system that zettabee left unmounted is mounted to compare it
      await bed.run(['sh', '-c', 'zfs get -H -o value mounted "$1" | grep -q yes || zfs mount "$1"', 'sh', d]);
      expect(treeHashes(await mountpointOf(bed, d)), `${p.layout.name}${child}`).to.deep.equal(treeHashes(await mountpointOf(bed, s)));
    }
  }

  const pairSnaps = (list: readonly string[], fp: string) => list.filter((x) => x.startsWith(`zettabee.${fp}.`));

  it('initialize every pair (the suite\'s starting point)', async () => {
    for (const p of pairs) {
      await write(p, 256 * 1024, 'seed.bin');
      const r = await site.run(['initialize', ds(p.d)]);
      expect(r, `${p.layout.name}: ${r.stderr}`).to.deep.include({ code: 0, stderr: '' });
      await identical(p);
    }
  });

  it('kill -9 of the whole run at random points: the next update recovers incrementally with identical data, at most 2 pair snapshots stay on the source, no process or hold leaks, and check is never OK while the destination is behind', async () => {
    const rnd = prng(seed);
    const outcomes: string[] = [];
    for (let k = 0; k < points; k++) {
      // every layout in turn; the kill lands anywhere in the first second, which
      // on this bed spans the snapshot, the stream and the finish of an update
      const p = pairs[k % pairs.length]!;
      await write(p, Math.floor((1 + rnd() * 8) * MiB), `k${k}.bin`);
      const delay = Math.floor(rnd() * 1000);
      const child = spawnRun(['update', ds(p.d)]);
      let exited = false;
      void child.finally(() => (exited = true));
      await sleep(delay);
      const killed = !exited;
      if (killed) killGroup(child.pid!);
      await child;
      outcomes.push(`${p.layout.name}@${delay}ms${killed ? '' : ' (had ended)'}`);
      // nothing of the transfer is left running
      const deadline = Date.now() + 20_000;
      while (transferProcs([where(p).s, where(p).d]).length && Date.now() < deadline) await sleep(100);
      expect(transferProcs([where(p).s, where(p).d]), `${p.layout.name}: processes after the kill at ${delay} ms`).to.deep.equal([]);
      const src = await snapshotsOf(bed, where(p).s);
      const dst = await snapshotsOf(bed, where(p).d);
      expect(pairSnaps(src, p.fp).length, `${p.layout.name}: pair snapshots on the source after the kill at ${delay} ms`).to.be.at.most(2);
      const behind = pairSnaps(src, p.fp).some((x) => !dst.includes(x));
      if (behind) {
        const c = await site.run(['check', ds(p.d)]);
        expect(c.code, `check after the kill at ${delay} ms with the destination behind: ${c.stdout}`).to.not.equal(0);
      }
      await site.run(['unlock', ds(p.d)]);
      const r = await site.run(['update', ds(p.d)]);
      expect(r.code, `${p.layout.name}: the update after the kill at ${delay} ms: ${r.stderr}`).to.equal(0);
      const log = readFileSync(join(site.paths.log, `${p.fp}.log`), 'utf8');
      expect(log.slice(log.lastIndexOf(' update START ')), 'never a full resend').to.match(/incremental from [@#]zettabee\./);
      await identical(p);
      expect(pairSnaps(await snapshotsOf(bed, where(p).s), p.fp), `${p.layout.name}: pair snapshots on the source after recovery; log:\n${log.slice(-6000)}`).to.have.length(1);
      // holds: one per pair snapshot at most (zettabee's own), nothing leaked by a dead send
      for (const x of await snapshotsOf(bed, where(p).s)) {
        const refs = Number((await bed.run(['zfs', 'get', '-H', '-p', '-o', 'value', 'userrefs', `${where(p).s}@${x}`])).trim());
        expect(refs, `${p.layout.name}: holds on ${x}`).to.be.at.most(1);
      }
      expect((await site.run(['check', ds(p.d)])).code, 'check after recovery').to.equal(0);
    }
    console.log(`      kill points: ${outcomes.join(', ')}`);
  });

  it('kill -9 of initializes at random points: the next initialize takes over (or the pair is already initialized), and the data arrive', async () => {
    const rnd = prng(seed + 1);
    for (let k = 0; k < Math.max(2, Math.floor(points / 3)); k++) {
      const name = `ini${k}`;
      const s = `${srcPool}/${name}`;
      const d = `${dstPool}/f/${name}`;
      await bed.run(['zfs', 'create', s]);
      writeRandom(`${await mountpointOf(bed, s)}/data.bin`, Math.floor((1 + rnd() * 6) * MiB));
      site.writePairs([...lines, `${s}  ${d}`]);
      const delay = Math.floor(rnd() * 1200);
      const child = spawnRun(['initialize', d]);
      await sleep(delay);
      killGroup(child.pid!);
      await child;
      await site.run(['unlock', d]);
      const again = await site.run(['initialize', d]);
      if (again.code !== 0) expect(again.stderr, `initialize after the kill at ${delay} ms`).to.match(/already initialized for this pair/);
      // a kill between the receive and the finish's last step leaves it received but unmounted (receives use -u)
      await bed.run(['sh', '-c', 'zfs get -H -o value mounted "$1" | grep -q yes || zfs mount "$1"', 'sh', d]);
      expect(treeHashes(await mountpointOf(bed, d))).to.deep.equal(treeHashes(await mountpointOf(bed, s)));
      const fp = fingerprint('localhost', s, 'localhost', d);
      expect(pairSnaps(await snapshotsOf(bed, s), fp)).to.have.length(1);
      const up = await site.run(['update', d]);
      expect(up.code, up.stderr).to.equal(0);
    }
    site.writePairs(lines);
  });

  it('a storm of 10 updates of one pair at once: exactly one works, the nine others exit 75 (busy) and change nothing', async () => {
    const p = pairs.find((x) => x.layout.name === 'ssh pull')!;
    await write(p, 8 * MiB, 'storm.bin');
    // a rate limit keeps the one that works busy while the others start
    site.writePairs(lines.map((l) => (l.startsWith(p.s) ? `${l},bwlimit=4M` : l)));
    const runs = await Promise.all(Array.from({ length: 10 }, () => site.run(['update', ds(p.d)])));
    site.writePairs(lines);
    const codes = runs.map((r) => r.code).sort((a, b) => a - b);
    expect(codes, runs.map((r) => r.stderr).join('\n')).to.deep.equal([0, 75, 75, 75, 75, 75, 75, 75, 75, 75]);
    await identical(p);
  });

  it('update --all --jobs 2 racing single-pair updates: no pair is worked on twice at once; every run ends done or busy', async () => {
    for (const p of pairs) await write(p, 3 * MiB, 'race.bin');
    site.writePairs(lines.map((l) => `${l},bwlimit=8M`.replace(/^(\S+\s+\S+)\s+,/, '$1  ')));
    const from = new Map(pairs.map((p) => [p.fp, readFileSync(join(site.paths.log, `${p.fp}.log`), 'utf8').split('\n').length - 1]));
    const all = site.run(['update', '--jobs', '2']);
    await sleep(150);
    const singles = await Promise.all(pairs.map((p) => site.run(['update', ds(p.d)])));
    const a = await all;
    site.writePairs(lines);
    for (const r of [a, ...singles]) expect([0, 75], r.stderr).to.include(r.code);
    for (const p of pairs) {
      // per pair, no second START before the first one's END
      // the race's own lines: earlier kill points left STARTs without an END
      const log = readFileSync(join(site.paths.log, `${p.fp}.log`), 'utf8').split('\n').slice(from.get(p.fp));
      let open = 0;
      for (const l of log) {
        if (/ update START /.test(l)) open++;
        if (/ update (END|FAILED|failed)|update: not started/.test(l)) open = Math.max(0, open - 1);
        expect(open, `${p.layout.name}: two runs at once:\n${log.slice(-40).join('\n')}`).to.be.at.most(1);
      }
    }
    // and afterwards every pair is exact
    for (const p of pairs) {
      const r = await site.run(['update', ds(p.d)]);
      expect(r.code, r.stderr).to.equal(0);
      await identical(p);
    }
  });
});

// The replication matrix: the same tests of initialize, update, retention,
// holds, recursive pairs, a modified destination, a guid conflict, kill -9
// recovery and purge, on zfs-fuse, on OpenZFS 2.1 and 2.3 (real kernels in
// QEMU guests, reached over ssh; and with zettabee inside the guest, for
// transport=local), and across versions: zfs-fuse to OpenZFS, 2.1 to 2.3 and
// 2.3 to 2.1. The real launcher, real ssh, real zfs everywhere.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackages } from '../../harness/bed.js';
import { lockLeftovers, notifySocket, processes, waitFor, whileFrozen } from '../procs.js';
import type { Result } from '../support.js';
import { exists, guids, holdTags, mountpoint, prop, remount, snapshots, treeHash, writeRandom, writeText, zfs, type ZfsNode } from './nodes.js';
import { noTransferOn, untilMoved } from './hardening.js';
import { makeWorld, type World, type WorldName } from './worlds.js';

const MiB = 1024 * 1024;
const PAIR_SNAP = /^zettabee\.[0-9a-f]{32}\.\d{14}UTC(-\d+)?$/;

function ok(r: Result): void {
  expect(r, `stderr: ${r.stderr}`).to.deep.include({ code: 0, stdout: '', stderr: '' });
}

function pairSnaps(list: readonly string[], fp: string): string[] {
  return list.filter((s) => s.startsWith(`zettabee.${fp}.`));
}

/** the user holds' tags of a snapshot, or on zfs-fuse the count */
async function held(node: ZfsNode, snap: string, fp: string): Promise<boolean> {
  const h = await holdTags(node, snap);
  return typeof h === 'number' ? h > 0 : h.includes(`zettabee.${fp}`);
}

const STAMP = /\.\d{14}UTC(-\d+)?/g;

/** the plan a dry run printed (its lines below the header, without the size guess that only a dry run makes), stamps made equal */
function printedPlan(r: Result, action: string, dest: string): string[] {
  expect(r, `stderr: ${r.stderr}`).to.deep.include({ code: 0, stderr: '' });
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).to.equal(`${action} ${dest} (dry run, nothing done) would:`);
  return lines
    .slice(1)
    .map((l) => l.replace(/^ {2}/, '').replace(STAMP, '.STAMP'))
    .filter((l) => !l.startsWith('the stream would carry about'));
}

/** the plan the last run logged ("plan:" lines), stamps made equal */
function loggedPlan(log: string): string[] {
  const lines = log.trimEnd().split('\n');
  const at = lines.map((l, i) => (/ plan: /.test(l) ? i : -1)).filter((i) => i >= 0);
  expect(at, 'a run logs its plan').to.not.have.length(0);
  let first = at[at.length - 1]!;
  while (at.includes(first - 1)) first--;
  return lines.slice(first, at[at.length - 1]! + 1).map((l) => l.slice(l.indexOf(' plan: ') + 7).replace(STAMP, '.STAMP'));
}

/** the rows that get every test; the others (zettabee in a guest, across versions) the first five */
const FULL: WorldName[] = ['zfs-fuse', 'OpenZFS 2.1', 'OpenZFS 2.3'];

/**
 * Rows that skip the recursive pair, to keep the suite's time: zettabee
 * inside the guest (node under TCG: a minute a test) shows the local
 * transport with plain pairs, and across versions the recursive stream
 * goes from the newer release to the older one (2.3 to 2.1, where a
 * stream's features can be too new) but not back.
 */
const NO_RECURSIVE: WorldName[] = ['OpenZFS 2.3, zettabee in the guest', 'OpenZFS 2.1 to 2.3'];

type Late = 'dry-run' | 'written' | 'kill' | 'stop' | 'daemon' | 'guid' | 'purge';
/**
 * The last seven tests exercise zettabee's own logic, which 2.1 and 2.3
 * serve alike: each OpenZFS row runs some (as the fault tests do), to keep
 * the suite's time (the guests' emulated CPU). 2.3 gets the resume after
 * kill -9 (its receive -s is the newer code), the daemon's life as the
 * unit runs it, the guid conflict and purge; 2.1 the dry run, the
 * written-to destination and the daemon stopped mid-stream (its partial
 * receive discarded). zfs-fuse runs all but the daemon's life, which
 * test/e2e/daemon.test.ts covers there.
 */
const LATE: Partial<Record<WorldName, readonly Late[]>> = {
  'OpenZFS 2.1': ['dry-run', 'written', 'stop'],
  'OpenZFS 2.3': ['kill', 'daemon', 'guid', 'purge'],
  'zfs-fuse': ['dry-run', 'written', 'kill', 'stop', 'guid', 'purge'],
};

/** the matrix's tests for each of these rows */
export function defineMatrix(names: readonly WorldName[]): void {
  for (const name of names) {
    const full = FULL.includes(name);
    const lateTitles: Record<Late, string> = { 'dry-run': 'dry run', written: 'modified destination', kill: 'kill -9', stop: 'daemon stopped mid-stream', daemon: 'the daemon as the unit runs it', guid: 'guid conflict', purge: 'purge' };
    /** the late tests this row runs */
    const lates = full ? (LATE[name] ?? (Object.keys(lateTitles) as Late[])) : [];
    const late = (t: Late) => lates.includes(t);
    const topics = ['initialize, update, retention, holds', ...(NO_RECURSIVE.includes(name) ? [] : ['recursive']), ...(full ? ['-I'] : []), ...lates.map((t) => lateTitles[t])];
    describe(`e2e matrix [${name}]: ${topics.join(', ')}`, function () {
      this.timeout(300_000);
      let w: World;
      const s = () => `${w.srcPool}/${w.tag}`;
      const d = () => `${w.dstPool}/bk/${w.tag}`;
      const rs = () => `${w.srcPool}/${w.tag}r`;
      const rd = () => `${w.dstPool}/bk/${w.tag}r`;
      const fp = () => w.fp(s(), d());

      before(async function () {
        this.timeout(40 * 60_000); // a bare machine builds the guest images first
        w = await makeWorld(name);
        await zfs(w.src, 'zfs', 'create', s());
        await writeRandom(w.src, s(), 'big.bin', 2 * MiB);
        await writeText(w.src, s(), 'hello.txt', 'hello\n');
        await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes')]);
      });

      let dryInit: string[] = [];
      if (full) it('initialize --dry-run: prints the plan (snapshot, send | receive, finish) on stdout; nothing changes on either side', async () => {
        const r = await w.site.run(['initialize', '--dry-run', w.dest(d())]);
        dryInit = printedPlan(r, 'initialize', w.dest(d()));
        expect(dryInit.join('\n')).to.match(new RegExp(`^snapshot ${s()}@zettabee\\.${fp()}\\.STAMP on `, 'm'));
        expect(dryInit.join('\n')).to.match(/^stream .*zfs send .*\| .*zfs (receive|recv) /m);
        expect(await snapshots(w.src, s())).to.deep.equal([]);
        expect(await exists(w.dst, d())).to.equal(false);
        const st = await w.site.run(['status', w.dest(d())]);
        expect(st.stdout).to.match(/Uninitialized/);
      });

      it('initialize: silent, exit 0; identical data; a read-only destination with the bookkeeping properties; the base held on both sides', async () => {
        ok(await w.site.run(['initialize', w.dest(d())]));
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
        const snaps = await snapshots(w.src, s());
        expect(snaps).to.have.length(1);
        expect(snaps[0]).to.match(PAIR_SNAP);
        expect(snaps[0]).to.contain(fp());
        expect(await snapshots(w.dst, d())).to.deep.equal(snaps);
        // zfs-fuse shows a mounted read-only file system as readonly=off (temporary)
        if (w.dst.kind === 'openzfs') expect(await prop(w.dst, d(), 'readonly')).to.equal('on');
        // and it is: a write fails
        const m = await mountpoint(w.dst, d());
        const wrote = await w.dst.sh('touch "$1/intruder" 2>&1 && echo wrote || true', [m]);
        expect(wrote).to.match(/Read-only file system/);
        expect(await prop(w.dst, d(), 'zettabee:fingerprint')).to.equal(fp());
        expect(await prop(w.dst, d(), `zettabee:${fp()}:lastsnap`)).to.equal(snaps[0]);
        expect(await prop(w.src, s(), `zettabee:${fp()}:lastsnap`)).to.equal(snaps[0]);
        expect(await held(w.src, `${s()}@${snaps[0]}`, fp())).to.equal(true);
        expect(await held(w.dst, `${d()}@${snaps[0]}`, fp())).to.equal(true);
      });

      if (full) it('initialize carried out the very plan its dry run printed (the "plan:" lines of the log)', async () => {
        expect(dryInit).to.not.have.length(0);
        expect(loggedPlan(await w.site.log(fp()))).to.deep.equal(dryInit);
      });

      // the rows that get every test also check the refusal and -I; the others (slow guests) only the data paths
    if (full) it('initialize again: refused, exit 1, names update', async () => {
        const r = await w.site.run(['initialize', w.dest(d())]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.match(/already initialized/);
        expect(r.stderr).to.contain('zettabee update');
      });

      it('update twice: incremental, identical data; one pair snapshot on the source, keep+1 on the destination; the hold moves to the new base', async () => {
        const before = await snapshots(w.dst, d());
        for (let i = 0; i < 2; i++) {
          await writeRandom(w.src, s(), `change-${i}.bin`, 512 * 1024);
          // the second with -d: the log says when the new snapshot was recorded
          ok(await w.site.run([...(i === 1 ? ['-d'] : []), 'update', w.dest(d())]));
        }
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
        const src = await snapshots(w.src, s());
        const dst = await snapshots(w.dst, d());
        if (w.hostRunner) {
          // over ssh the stream passes through zettabee: recorded on its receipt, by the stream's first record, which names the source's snapshot
          const guid = (await zfs(w.src, 'zfs', 'get', '-Hp', '-o', 'value', 'guid', `${s()}@${src[0]}`)).trim();
          expect(await w.site.log(fp())).to.contain(`@${src[0]} recorded on its receipt: zfs receive exited 0 on a stream of guid ${guid} from `);
        }
        expect(pairSnaps(src, fp())).to.have.length(1);
        expect(dst).to.have.length(2);
        expect(dst[1]).to.equal(src[0]);
        expect(dst).to.not.include(before[0]);
        expect(await held(w.src, `${s()}@${src[0]}`, fp())).to.equal(true);
        expect(await held(w.dst, `${d()}@${dst[1]}`, fp())).to.equal(true);
        expect(await held(w.dst, `${d()}@${dst[0]}`, fp())).to.equal(false);
        expect(await w.site.log(fp())).to.match(/ update START .* incremental from @zettabee\./);
      });

      if (full) it("a user's snapshot between updates arrives too (-I) and is never destroyed on the source", async () => {
        await writeRandom(w.src, s(), 'mine.bin', 64 * 1024);
        await zfs(w.src, 'zfs', 'snapshot', `${s()}@mine`);
        await writeRandom(w.src, s(), 'after.bin', 64 * 1024);
        ok(await w.site.run(['update', w.dest(d())]));
        expect(await snapshots(w.src, s())).to.include('mine');
        expect(await snapshots(w.dst, d())).to.include('mine');
        expect((await guids(w.dst, d())).mine).to.equal((await guids(w.src, s())).mine);
        ok(await w.site.run(['update', w.dest(d())]));
        expect(await snapshots(w.src, s())).to.include('mine');
      });

      if (!NO_RECURSIVE.includes(name)) it('recursive pair: the parent and its children arrive; a child added on the source arrives with the next update', async () => {
        await zfs(w.src, 'zfs', 'create', rs());
        await zfs(w.src, 'zfs', 'create', `${rs()}/a`);
        await writeRandom(w.src, `${rs()}/a`, 'a.bin', 256 * 1024);
        await writeText(w.src, rs(), 'top.txt', 'top\n');
        ok(await w.site.run(['initialize', w.dest(rd())]));
        expect(await treeHash(w.dst, rd())).to.deep.equal(await treeHash(w.src, rs()));
        expect(await treeHash(w.dst, `${rd()}/a`)).to.deep.equal(await treeHash(w.src, `${rs()}/a`));
        await zfs(w.src, 'zfs', 'create', `${rs()}/b`);
        await writeRandom(w.src, `${rs()}/b`, 'b.bin', 128 * 1024);
        await writeRandom(w.src, `${rs()}/a`, 'a2.bin', 64 * 1024);
        ok(await w.site.run(['update', w.dest(rd())]));
        expect(await exists(w.dst, `${rd()}/b`)).to.equal(true);
        expect(await treeHash(w.dst, `${rd()}/b`)).to.deep.equal(await treeHash(w.src, `${rs()}/b`));
        expect(await treeHash(w.dst, `${rd()}/a`)).to.deep.equal(await treeHash(w.src, `${rs()}/a`));
        const rfp = w.fp(rs(), rd());
        expect(pairSnaps(await snapshots(w.src, `${rs()}/a`), rfp)).to.have.length(1);
        if (w.dst.kind === 'openzfs') expect(await prop(w.dst, `${rd()}/b`, 'readonly')).to.equal('on');
      });

      if (!full) return;

      if (late('dry-run')) it('update --dry-run (plain and recursive pair): the plan on stdout, nothing changed; the next update logs and carries out that plan', async () => {
        await writeRandom(w.src, s(), 'planned.bin', 128 * 1024);
        for (const [src, dst] of [[s(), d()], [rs(), rd()]] as const) {
          const pfp = w.fp(src, dst);
          const before = { src: await snapshots(w.src, src), dst: await snapshots(w.dst, dst), last: await prop(w.dst, dst, `zettabee:${pfp}:lastsnap`) };
          const r = await w.site.run(['update', '-n', w.dest(dst)]);
          const plan = printedPlan(r, 'update', w.dest(dst));
          expect(plan.join('\n')).to.match(/^stream .*zfs send .*-i/m);
          if (src === rs()) expect(plan.join('\n')).to.match(/^stream .*zfs send -R/m);
          expect({ src: await snapshots(w.src, src), dst: await snapshots(w.dst, dst), last: await prop(w.dst, dst, `zettabee:${pfp}:lastsnap`) }).to.deep.equal(before);
          ok(await w.site.run(['update', w.dest(dst)]));
          expect(loggedPlan(await w.site.log(pfp))).to.deep.equal(plan);
        }
      });

      if (late('written')) it('a destination written to: refused (exit 1, Inconsistent, nothing destroyed); rollback=yes discards the change and updates', async () => {
        const before = await snapshots(w.dst, d());
        await zfs(w.dst, 'zfs', 'set', 'readonly=off', d());
        const m = await mountpoint(w.dst, d());
        // zfs-fuse keeps a mounted file system read-only until it is mounted again
        await remount(w.dst, d());
        await w.dst.sh('echo changed > "$1/intruder.txt" && sync', [m]);
        await writeRandom(w.src, s(), 'refused.bin', 64 * 1024);
        const r = await w.site.run(['update', w.dest(d())]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.contain('was changed after its last snapshot');
        if (w.dst.kind === 'openzfs') expect(r.stderr, 'OpenZFS says what changed').to.match(/intruder\.txt/);
        expect(await snapshots(w.dst, d())).to.deep.equal(before);
        const st = await w.site.run(['status', w.dest(d())]);
        expect(st.stdout).to.match(/Inconsistent/);
        await w.site.writePairs([w.line(s(), d(), 'keep=1,rollback=yes'), w.line(rs(), rd(), 'recursive=yes')]);
        const again = await w.site.run(['update', w.dest(d())]);
        expect(again.code, again.stderr).to.equal(0);
        // read-only again before anything reads it (atime would count as a change; zfs-fuse needs a new mount for it)
        await zfs(w.dst, 'zfs', 'set', 'readonly=on', d());
        await remount(w.dst, d());
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
        await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes')]);
      });

      if (late('kill')) it('kill -9 of the whole run mid-stream: nothing left on either side; the next update recovers incrementally (on OpenZFS it resumes), identical data, at most 2 pair snapshots', async function () {
        const size = 24 * MiB;
        await writeRandom(w.src, s(), 'killed.bin', size);
        // bwlimit (mbuffer -r on the sending side) makes the stream last seconds on any machine
        await w.site.writePairs([w.line(s(), d(), 'keep=1,bwlimit=4M'), w.line(rs(), rd(), 'recursive=yes')]);
        const child = w.site.spawnDetached!(['update', w.dest(d())]);
        const seen = await untilMoved(w, fp(), child, size / 3);
        process.kill(-child.pid!, 'SIGKILL');
        await child;
        await noTransferOn(w.src, s());
        await noTransferOn(w.dst, d());
        await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes')]);
        const u = await w.site.run(['unlock', w.dest(d())]);
        expect(u.code, u.stderr).to.equal(0);
        const next = await w.site.run(['update', w.dest(d())]);
        expect(next.code, next.stderr).to.equal(0);
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
        expect(pairSnaps(await snapshots(w.src, s()), fp()).length).to.be.at.most(2);
        const log = await w.site.log(fp());
        // everything after the unlock: the recovering update (a resume logs before its START)
        const recovery = log.slice(log.lastIndexOf('unlock: removed the stale lock'));
        if (w.dst.kind === 'openzfs') {
          expect(recovery).to.contain('resuming the interrupted receive');
          const m = /resuming the interrupted receive[\s\S]*?stream done: ([\d.]+) (KiB|MiB) in/.exec(recovery);
          expect(m, recovery).to.not.equal(null);
          const resumed = Number(m![1]) * (m![2] === 'MiB' ? MiB : 1024);
          console.log(`      killed at ${(seen / MiB).toFixed(1)} of ${size / MiB} MiB; the resume moved ${(resumed / MiB).toFixed(1)} MiB`);
          expect(resumed).to.be.below(size * 0.8);
        } else {
          expect(recovery).to.match(/removing snapshots of interrupted runs: destroyed|incremental from/);
        }
      });

      if (late('stop')) it('the daemon stopped mid-stream (SIGTERM, past --grace): exit 0; no lock, process, unsent snapshot or partial receive left; the next update carries the data', async function () {
        const size = 12 * MiB;
        await writeRandom(w.src, s(), 'stopped.bin', size);
        const before = { src: await snapshots(w.src, s()), dst: await snapshots(w.dst, d()) };
        await w.site.writePairs([w.line(s(), d(), 'keep=1,bwlimit=2M')]);
        const daemon = w.site.spawnDetached!(['daemon', '--grace', '1s']);
        await untilMoved(w, fp(), daemon, size / 3);
        process.kill(daemon.pid!, 'SIGTERM');
        const r = await daemon;
        expect(r.exitCode, String(r.stderr)).to.equal(0);
        expect(String(r.stderr)).to.match(/stopping: SIGTERM; 1 running updates get 1s to finish/);
        await noTransferOn(w.src, s());
        await noTransferOn(w.dst, d());
        expect(lockLeftovers(w.site.paths.lock), 'the lock directory').to.deep.equal([]);
        expect(await snapshots(w.src, s()), 'the source: no unsent snapshot').to.deep.equal(before.src);
        expect(await snapshots(w.dst, d())).to.deep.equal(before.dst);
        if (w.dst.kind === 'openzfs') {
          expect(await prop(w.dst, d(), 'receive_resume_token'), 'a partial receive on the destination').to.equal('-');
          expect(await w.site.log(fp())).to.match(/discarded the partial receive of @\S+ on \S+ \(zfs receive -A\): the run was stopped/);
        }
        await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes')]);
        ok(await w.site.run(['update', w.dest(d())]));
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
      });

      if (late('daemon')) it("the daemon as the unit runs it (issue 16's checks): READY=1; a write reaches the destination within the interval; a cron update exits 75; SIGHUP with a broken pairs file keeps it running; the kill file stops it, nothing left", async function () {
        const interval = 4000;
        await ensurePackages(['python3-minimal']);
        await w.site.writePairs([w.line(s(), d(), 'keep=1')]);
        const tmp = mkdtempSync('/tmp/zbm-');
        const sock = await notifySocket(join(tmp, 'notify'));
        const daemon = w.site.spawnDetached!(['daemon'], { NOTIFY_SOCKET: sock.path, ZETTABEE_TEST_DAEMON_INTERVAL_MS: String(interval), TMPDIR: tmp });
        let err = '';
        daemon.stderr!.on('data', (c: Buffer) => (err += c.toString()));
        let exited = false;
        void daemon.finally(() => {
          exited = true;
          sock.close();
        });
        const alive = () => {
          if (exited) throw new Error(`the daemon ended: ${err}`);
        };
        try {
          const ready = await waitFor('READY=1 on the notify socket', 60_000, () => (alive(), sock.notified().find((n) => n.includes('READY=1'))));
          expect(ready).to.contain(`MAINPID=${daemon.pid}`);
          // check 5: cron's update of the daemon's pair exits 75, quietly
          const cron = await w.site.run(['update', w.dest(d())]);
          expect(cron).to.deep.include({ code: 75, stdout: '', stderr: '' });
          // check 2: SIGHUP with a broken pairs file: the mistake named, the old configuration kept (and updates go on: below)
          await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(`${s()}x`, `${d()}x`, 'nokey=1')]);
          process.kill(daemon.pid!, 'SIGHUP');
          await waitFor('the reload to be refused', 30_000, () => (alive(), err.includes('the configuration stays as it was')));
          expect(err).to.match(new RegExp(`zettabee: error: ${w.site.pairsFile}:2:\\d+: unknown key 'nokey'`));
          // check 1: a write reaches the destination within an interval and the update that starts after it
          await writeRandom(w.src, s(), 'daemon.bin', MiB);
          const t0 = Date.now();
          /** an update that started after the write has ended */
          const carried = async () => {
            const lines = (await w.site.log(fp())).split('\n');
            const start = lines.findIndex((l) => / update START /.test(l) && Date.parse(l.slice(0, l.indexOf(' '))) >= t0);
            return start >= 0 && lines.slice(start).some((l) => / update END /.test(l));
          };
          await waitFor('an update started after the write', 120_000, async () => (alive(), carried()), 250);
          const took = Date.now() - t0;
          expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
          console.log(`      the write was on the destination after ${(took / 1000).toFixed(1)} s (interval ${interval / 1000} s)`);
          // the warm path: after a clean update of its own the daemon plans the next without listing; -I carries a user's snapshot
          const WARM = 'planned from the last update (no listing)';
          const logFrom = async (at: number) => (await w.site.log(fp())).slice(at);
          const ended = async (at: number, n: number) => ((await logFrom(at)).match(/ update END /g) ?? []).length >= n;
          let at = (await w.site.log(fp())).length;
          await zfs(w.src, 'zfs', 'snapshot', `${s()}@users-own`);
          await waitFor('two more updates', 60_000, async () => (alive(), ended(at, 2)), 250);
          expect((await logFrom(at)).split('\n').filter((l) => l.includes(' update START ')).at(-1), 'the last update').to.contain(WARM);
          expect(await snapshots(w.dst, d()), 'the user\'s snapshot, carried').to.include('users-own');
          // a miss: the destination written to meanwhile; the receive refuses the planned stream and the same run lists both sides and refuses as cron does.
          // The write is made while the daemon is stopped with no transfer under way (under load one update follows
          // another at once, so there is no quiet moment between two): the next receive to start meets it and refuses
          // at once, and it is a warm one. The log is read from the last update's START on (it may be under way)
          const m = await mountpoint(w.dst, d());
          await whileFrozen(daemon.pid!, [s(), d()], async () => {
            const logNow = await w.site.log(fp());
            at = Math.max(0, logNow.lastIndexOf('\n', logNow.lastIndexOf(' update START ')) + 1);
            await zfs(w.dst, 'zfs', 'set', 'readonly=off', d());
            await w.dst.sh('echo changed > "$1/intruder.txt" && sync', [m]);
          });
          let kept: string[] = [];
          try {
            await waitFor('the refusal', 60_000, async () => (alive(), / update FAILED /.test(await logFrom(at))), 250);
            const failed = await logFrom(at);
            const first = failed.slice(0, failed.indexOf(' update FAILED '));
            expect(first, 'the warm attempt').to.contain(WARM);
            expect(first).to.match(/planned without listing, but the receive refused it: .*; listing both sides and planning again/);
            expect(first).to.match(/removed @zettabee\.\S+ from the source: it never reached the destination/);
            expect(failed).to.contain('was changed after its last snapshot');
            // nothing destroyed on the destination (only a receive that goes through, and the finish after it, change it):
            // the base and keep=1 older one, and the user's snapshot
            const after = await snapshots(w.dst, d());
            kept = pairSnaps(after, fp());
            expect(kept, 'pair snapshots on the destination after the refusal').to.have.length(2);
            expect(after, 'the user\'s snapshot on the destination').to.include('users-own');
          } finally {
            const base = kept.at(-1) ?? pairSnaps(await snapshots(w.dst, d()), fp()).at(-1)!;
            await w.dst.sh('zfs rollback "$1@$2" && zfs set readonly=on "$1"', [d(), base]);
          }
          // after the refusal (a retry may have been under way at the rollback): the first update that goes through
          // lists both sides, and the next after it plans from it again
          const runs = async () => {
            const lines = (await logFrom(at)).split('\n').filter((l) => / update (START|END|FAILED) /.test(l));
            const through = lines.findIndex((l, i) => / update END /.test(l) && i > lines.findIndex((x) => / update FAILED /.test(x)));
            const warmAfter = through >= 0 ? lines.slice(through).findIndex((l, i, a) => / update START /.test(l) && l.includes(WARM) && a.slice(i).some((x) => / update END /.test(x))) : -1;
            return { lines, through, warmAfter };
          };
          const after = await waitFor('an update after the rollback, then a warm one', 90_000, async () => {
            alive();
            const r = await runs();
            return r.warmAfter >= 0 && r;
          }, 250);
          const firstThrough = after.lines.slice(0, after.through).filter((l) => / update START /.test(l)).at(-1);
          expect(firstThrough, 'the first update through after the refusal').to.not.contain(WARM);
          expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
          // check 4: the kill file stops it
          writeFileSync(`${w.site.pairsFile}.kill`, '');
          const r = await daemon;
          expect(r.exitCode, err).to.equal(0);
          expect(err).to.match(/stopping: the kill file .*\.kill appeared/);
          expect(sock.notified().some((x) => x.includes('STOPPING=1'))).to.equal(true);
          expect(existsSync(`${w.site.pairsFile}.kill`), 'the kill file').to.equal(false);
          expect(lockLeftovers(w.site.paths.lock), 'the lock directory').to.deep.equal([]);
          await noTransferOn(w.src, s());
          await noTransferOn(w.dst, d());
          expect(processes().filter((p) => p.argv.join(' ').includes(tmp)).map((p) => p.argv.join(' ')), 'processes of the daemon (its ssh masters) left').to.deep.equal([]);
          const onDst = await snapshots(w.dst, d());
          expect(pairSnaps(await snapshots(w.src, s()), fp()).filter((x) => !onDst.includes(x)), 'unsent snapshots').to.deep.equal([]);
          // retention and bookmarks as the warm updates planned them from the predicted lists (read now: nothing in flight):
          // one pair snapshot on the source, keep=1 more on the destination, a bookmark for each of those
          const pairOnDst = pairSnaps(onDst, fp());
          expect(pairSnaps(await snapshots(w.src, s()), fp()), 'pair snapshots on the source').to.deep.equal(pairOnDst.slice(-1));
          expect(pairOnDst, 'pair snapshots on the destination').to.have.length(2);
          const marks = (await zfs(w.src, 'zfs', 'list', '-H', '-o', 'name', '-t', 'bookmark', '-d', '1', s())).split('\n').filter(Boolean).map((n) => n.slice(n.indexOf('#') + 1));
          expect(marks.filter((m) => m.includes(fp())).sort(), 'the pair\'s bookmarks on the source').to.deep.equal([...pairOnDst].sort());
          const last = (await w.site.log(fp())).split('\n').filter((l) => / update (START|END) /.test(l));
          const lastEnd = last.map((l) => / update END /.test(l)).lastIndexOf(true);
          expect(last.slice(0, lastEnd).filter((l) => / update START /.test(l)).at(-1), 'the last update that ended').to.contain(WARM);
        } finally {
          if (!exited) process.kill(daemon.pid!, 'SIGTERM');
          await daemon;
          for (const [node, ds] of [[w.src, s()], [w.dst, d()]] as const) await node.sh('zfs destroy "$1@users-own" 2>/dev/null || true', [ds]);
          rmSync(tmp, { recursive: true, force: true });
          await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes')]);
        }
      });

      if (late('guid')) it('a guid conflict: a destination snapshot re-made under the pair\'s name is no common snapshot; refused, both sides listed with guids, nothing destroyed', async () => {
        // a pair of its own: it cannot be updated afterwards
        const gs = `${w.srcPool}/${w.tag}g`;
        const gd = `${w.dstPool}/bk/${w.tag}g`;
        const gfp = w.fp(gs, gd);
        await zfs(w.src, 'zfs', 'create', gs);
        await writeRandom(w.src, gs, 'g.bin', 128 * 1024);
        await w.site.writePairs([w.line(s(), d(), 'keep=1'), w.line(rs(), rd(), 'recursive=yes'), w.line(gs, gd)]);
        ok(await w.site.run(['initialize', w.dest(gd)]));
        const [snap] = await snapshots(w.dst, gd);
        await zfs(w.dst, 'zfs', 'release', `zettabee.${gfp}`, `${gd}@${snap}`);
        await zfs(w.dst, 'zfs', 'destroy', `${gd}@${snap}`);
        await zfs(w.dst, 'zfs', 'snapshot', `${gd}@${snap}`);
        const fake = (await guids(w.dst, gd))[snap!]!;
        expect(fake).to.not.equal((await guids(w.src, gs))[snap!]);
        const r = await w.site.run(['update', w.dest(gd)]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.match(/no snapshot in common \(compared by guid\)/);
        const v = await w.site.run(['-v', 'update', w.dest(gd)]);
        expect(v.stderr + v.stdout).to.contain(fake);
        expect(await snapshots(w.dst, gd)).to.deep.equal([snap]);
        expect(pairSnaps(await snapshots(w.src, gs), gfp)).to.have.length(1);
        expect((await w.site.run(['status', w.dest(gd)])).stdout).to.match(/Inconsistent/);
      });

      if (late('purge')) it('purge: the source\'s pair snapshots, holds and properties go; the destination stays as it is', async () => {
        const dst = await snapshots(w.dst, d());
        const src = await snapshots(w.src, s());
        const dry = await w.site.run(['purge', '--dry-run', w.dest(d())]);
        expect(dry, dry.stderr).to.deep.include({ code: 0, stderr: '' });
        expect(dry.stdout).to.match(new RegExp(`^ {2}destroy 1 snapshot of this pair on the source ${s()} `, 'm'));
        expect(await snapshots(w.src, s())).to.deep.equal(src);
        const r = await w.site.run(['purge', w.dest(d()), '--yes']);
        expect(r.code, r.stderr).to.equal(0);
        expect(pairSnaps(await snapshots(w.src, s()), fp())).to.deep.equal([]);
        expect(await snapshots(w.src, s())).to.include('mine');
        expect(await prop(w.src, s(), `zettabee:${fp()}:lastsnap`)).to.equal('-');
        expect(await snapshots(w.dst, d())).to.deep.equal(dst);
        expect(await treeHash(w.dst, d())).to.deep.equal(await treeHash(w.src, s()));
      });
    });
  }
}

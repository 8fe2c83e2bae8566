// zettabee daemon end to end: the real launcher started as the systemd unit
// starts it (NOTIFY_SOCKET set, read here by a real datagram socket that
// python3 binds), real zfs-fuse pools, a real sshd for the pull pair, the
// real send_nsca and the bed's real nsca daemon.
//
// The cycles are shortened with ZETTABEE_TEST_DAEMON_INTERVAL_MS (a test's
// hook, not for operators: interval= takes 15s at least), so that the file
// sees many cycles within a few seconds.
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { ensurePackages, getBed, type Bed } from '../harness/bed.js';
import { freezeSend, lockLeftovers, noTransferLeft, notifySocket, processes, sleep, sshMasters, thaw, underPairLock, waitFor } from './procs.js';
import { LAUNCHER, makeSite, mountpointOf, must, propOf, snapshotsOf, sshKeys, writeRandom, type Site } from './support.js';

const MiB = 1024 * 1024;
const CYCLE_MS = 1500;

interface Running {
  child: ResultPromise;
  /** stderr so far */
  err(): string;
  exited(): boolean;
  /** the datagrams systemd would have received, one a line (repr) */
  notified(): string[];
}

describe('e2e: zettabee daemon (real zfs-fuse, sshd, nsca, a NOTIFY_SOCKET read by python3)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;
  let tmp: string;
  let sendLog: string;
  const lines = () => [`${src}/a  ${dst}/a`, `127.0.0.1:${src}/b  ${dst}/b  ${sshKeys(bed)}`];
  const fpA = () => fingerprint('localhost', `${src}/a`, 'localhost', `${dst}/a`);
  /** a pair's log (a: local, b: the ssh pull), '' before its first line */
  const logOf = (n: 'a' | 'b' = 'a') => {
    const file = join(site.paths.log, `${fingerprint(n === 'b' ? '127.0.0.1' : 'localhost', `${src}/${n}`, 'localhost', `${dst}/${n}`)}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  /** how many updates of the pair have ended */
  const ends = (n: 'a' | 'b' = 'a') => (logOf(n).match(/update END/g) ?? []).length;

  before(async function () {
    this.timeout(600_000); // apt-get on a bare machine
    await ensurePackages(['python3-minimal', 'systemd']);
    bed = await getBed();
    src = await bed.createPool('dmnsrc', 256);
    dst = await bed.createPool('dmndst', 256);
    for (const n of ['a', 'b']) await bed.run(['zfs', 'create', `${src}/${n}`]);
    // send_nsca as installed, behind a wrapper that counts its runs and the results of each
    const dir = join(bed.workdir, `daemon-${Date.now()}`);
    mkdirSync(dir);
    sendLog = join(dir, 'send_nsca.runs');
    const wrapper = join(dir, 'send_nsca');
    writeFileSync(wrapper, `#!/bin/sh\nin=$(cat)\nprintf '%s' "$in" | tr -cd '\\027' | wc -c >> ${sendLog}\nprintf '%s' "$in" | exec /usr/sbin/send_nsca "$@"\n`);
    chmodSync(wrapper, 0o755);
    site = makeSite(bed, `\n[nagios]\nsend_nsca = ${wrapper}\nconfig = ${bed.nsca.sendConfig}\nserver = ${bed.nsca.host}\nport = ${bed.nsca.port}\n`);
    // short: the ssh control sockets live below it (a socket path has at most 107 bytes)
    tmp = mkdtempSync('/tmp/zbd-');
    site.writePairs(lines());
    for (const n of ['a', 'b']) must(await site.run(['initialize', `${dst}/${n}`]), 0);
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** every pair snapshot left on the source is on the destination too: none was left unsent */
  async function noUnsentSnapshot(n: string): Promise<void> {
    const onDst = await snapshotsOf(bed, `${dst}/${n}`);
    expect((await snapshotsOf(bed, `${src}/${n}`)).filter((s) => !onDst.includes(s)), `snapshots of ${src}/${n} not on the destination`).to.deep.equal([]);
  }

  /** start the daemon as the unit does: NOTIFY_SOCKET set, read by python3 */
  async function start(args: string[] = [], env: Record<string, string> = {}): Promise<Running> {
    site.writePairs(lines());
    const sock = await notifySocket(join(site.dir, `notify-${Date.now()}.sock`));
    const child = execa(LAUNCHER, ['-c', site.pairsFile, '--settings', site.settingsFile, '--nagios', 'daemon', '--jobs', '2', ...args], {
      reject: false,
      timeout: 120_000,
      env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', NOTIFY_SOCKET: sock.path, ZETTABEE_TEST_DAEMON_INTERVAL_MS: String(CYCLE_MS), TMPDIR: tmp, ...env },
    });
    let err = '';
    let done = false;
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    void child.finally(() => {
      done = true;
      sock.close();
    });
    return { child, err: () => err, exited: () => done, notified: sock.notified };
  }

  /** after the daemon ended: no lock, no pid or schedule file, no ssh process, nothing in its TMPDIR */
  function nothingLeft(): void {
    expect(lockLeftovers(site.paths.lock), 'the lock directory').to.deep.equal([]);
    expect(processes().filter((p) => p.argv.join(' ').includes(tmp)).map((p) => p.argv.join(' ')), 'processes using the daemon\'s TMPDIR').to.deep.equal([]);
    expect(readdirSync(tmp), 'the daemon\'s TMPDIR').to.deep.equal([]);
  }

  const referenced = async (ds: string) => Number((await bed.run(['zfs', 'get', '-Hp', '-o', 'value', 'referenced', ds])).trim());

  describe('one daemon, started as the unit starts it', () => {
    let d: Running;
    after(async () => {
      if (d && !d.exited()) {
        d.child.kill('SIGTERM');
        await d.child;
      }
    });

    it('reports READY=1 with its pid; writes to both sources reach the destinations within seconds; one send_nsca per cycle carries both results', async () => {
      bed.nsca.clear();
      writeFileSync(sendLog, '');
      const before = { a: await referenced(`${dst}/a`), b: await referenced(`${dst}/b`) };
      // a watchdog of 2 s, as WatchdogSec=2s would set: WATCHDOG=1 every second.
      // Cycles of 5 s: results wait for the other pair's run at most one
      // interval, and under load the ssh pair's run can outlast a short one
      d = await start([], { WATCHDOG_USEC: '2000000', ZETTABEE_TEST_DAEMON_INTERVAL_MS: '5000' });
      const ready = await waitFor('READY=1 on the notify socket', 20_000, () => {
        if (d.exited()) throw new Error(`the daemon ended: ${d.err()}`);
        return d.notified().find((n) => n.includes('READY=1'));
      });
      expect(ready).to.contain(`MAINPID=${d.child.pid}`);
      expect(ready).to.match(/STATUS=2 pairs, /);
      const t0 = Date.now();
      writeRandom(`${await mountpointOf(bed, `${src}/a`)}/one.bin`, MiB);
      writeRandom(`${await mountpointOf(bed, `${src}/b`)}/one.bin`, MiB);
      for (const n of ['a', 'b'] as const) {
        const ds = `${dst}/${n}`;
        for (;;) {
          if ((await referenced(ds)) >= before[n] + 0.9 * MiB) break;
          expect(Date.now() - t0, `${ds} to follow its source; stderr: ${d.err()}`).to.be.below(20_000);
          await sleep(100);
        }
      }
      // the results: one send_nsca run per cycle, each with both pairs once both ran
      await waitFor('results at nsca', 10_000, () => bed.nsca.readCommands().length >= 2);
      const runs = readFileSync(sendLog, 'utf8').split('\n').filter(Boolean).map(Number);
      expect(runs.length, 'send_nsca runs').to.be.at.least(1);
      expect(runs, 'results per send_nsca run').to.include(2);
      expect(bed.nsca.readCommands().join('\n')).to.match(new RegExp(`;zettabee ${dst}/a;0;ZETTABEE OK`));
      expect(d.err()).to.match(/zettabee: daemon: started \(pid \d+\): 2 pairs of .*, 2 at a time/);
      expect(d.err()).not.to.match(/error|warning/);
      // WatchdogSec=2s: a WATCHDOG=1 every second
      await waitFor('two watchdog pings', 5000, () => d.notified().filter((n) => n.includes('WATCHDOG=1')).length >= 2);
    });

    it('a cron update of its pair exits 75 quietly; -v says the daemon has it; status shows the next run; purge is refused', async () => {
      const r = await site.run(['update']);
      expect(r).to.deep.include({ code: 75, stdout: '', stderr: '' });
      const v = await site.run(['-v', 'update', `${dst}/a`]);
      must(v, 75);
      expect(v.stderr).to.contain(`busy: the zettabee daemon (pid ${d.child.pid}) updates this pair`);
      const s = await site.run(['status']);
      must(s, 0);
      for (const l of s.stdout.split('\n')) expect(l).to.match(/ next (in \d+:\d\d:\d\d|now|running)$/);
      const j = JSON.parse((await site.run(['status', '--json'])).stdout) as Array<{ daemon?: { next: string } }>;
      expect(j.map((p) => Number.isFinite(Date.parse(p.daemon!.next)))).to.deep.equal([true, true]);
      // purge would only make the daemon's next update fail: refused, nothing touched (the
      // daemon goes on updating meanwhile: what purge removes, and the daemon never does, stays)
      const pg = await site.run(['purge', '--yes', `${dst}/a`]);
      expect(pg.code, pg.stderr).to.equal(1);
      expect(pg.stderr).to.contain(`the zettabee daemon (pid ${d.child.pid}) updates this pair; nothing was purged`).and.contain('zettabee stop');
      expect(await propOf(bed, `${dst}/a`, 'zettabee:fingerprint')).to.equal(fpA());
      expect(existsSync(join(site.paths.state, `${fpA()}.status`)), 'the status file').to.equal(true);
      expect((await snapshotsOf(bed, `${src}/a`)).filter((x) => x.startsWith(`zettabee.${fpA()}.`))).to.not.have.length(0);
    });

    it('SIGHUP with a broken pairs file, or one without pairs: it says what is wrong (file:line), keeps running and updating; a fixed file is taken', async () => {
      const refusals = () => d.err().split('the configuration stays as it was').length - 1;
      site.writePairs([...lines(), `${src}/c  ${dst}/c  nokey=1`]);
      d.child.kill('SIGHUP');
      await waitFor('the reload to be refused', 10_000, () => refusals() === 1);
      expect(d.err()).to.contain(`zettabee: error: ${site.pairsFile}:3:39: unknown key 'nokey'`);
      expect(d.err()).to.contain(`zettabee: error: daemon: reload: 1 mistake in ${site.pairsFile}\n`);
      // a file cut short (only a comment left) is refused too: it would stop every update
      site.writePairs(['# cut short']);
      d.child.kill('SIGHUP');
      await waitFor('the reload of a file without pairs to be refused', 10_000, () => refusals() === 2);
      expect(d.err()).to.contain(`zettabee: error: daemon: reload: ${site.pairsFile} has no pairs\nzettabee: hint: to stop every update, stop the daemon (zettabee stop)\n`);
      const n = ends();
      await waitFor('another update of a after the broken reloads', 15_000, () => !d.exited() && ends() > n);
      site.writePairs(lines());
      d.child.kill('SIGHUP');
      await waitFor('the reload', 10_000, () => d.err().includes('reloaded'));
      expect(d.notified().some((x) => x.includes('RELOADING=1'))).to.equal(true);
      expect(d.exited()).to.equal(false);
    });

    it('failover while it runs: the daemon goes the new way (a write on the new source reaches the old one); failover back, and it goes on as before', async () => {
      const errAt = d.err().length;
      // busy (75) only while the daemon's update of a holds the lock: then again
      const failover = (what: string) =>
        waitFor(what, 20_000, async () => {
          const r = await site.run(['failover', `${dst}/a`]);
          return r.code === 75 ? false : (must(r, 0), true);
        }, 200);
      await failover('failover');
      // zfs-fuse: the new source may need mounting again to take writes (as in failover.test.ts)
      if ((await propOf(bed, `${dst}/a`, 'mounted')) !== 'yes') await bed.run(['zfs', 'mount', `${dst}/a`]);
      const was = await referenced(`${src}/a`);
      writeRandom(`${await mountpointOf(bed, `${dst}/a`)}/from-the-new-source.bin`, 256 * 1024);
      // by the space it takes: a stat of the file before it arrived would leave zfs-fuse's FUSE mount a stale entry
      const t0 = Date.now();
      for (;;) {
        if ((await referenced(`${src}/a`)) >= was + 200 * 1024) break;
        expect(Date.now() - t0, `the write on the new source to reach the old one; stderr: ${d.err()}`).to.be.below(20_000);
        await sleep(100);
      }
      expect(logOf()).to.match(/plan: the pair runs reversed \(failover at /);
      await failover('failover back');
      const n = ends();
      await waitFor('an update after failing back', 15_000, () => !d.exited() && ends() > n);
      const starts = logOf().split('\n').filter((l) => l.includes(' update START '));
      expect(starts.at(-1), 'the last update goes the first way again').to.contain(`localhost:${src}/a -> localhost:${dst}/a `);
      // the failover wrote the status record: the daemon's first update the new way listed both sides
      // (waited for: the log is written asynchronously, and may lag on a loaded machine)
      const firstReversed = await waitFor('the START line of the first update the new way', 10_000, () =>
        logOf().split('\n').find((l) => l.includes(' update START ') && l.includes(`localhost:${dst}/a -> localhost:${src}/a `)),
      );
      expect(firstReversed, 'the first update the new way').not.to.contain('planned from the last update');
      expect(d.err().slice(errAt), 'what the daemon said meanwhile').not.to.match(/error|warning/);
    });

    /** the START lines of pair a's updates from `at` (an offset into its log) on */
    const startsFrom = (at: number) => logOf().slice(at).split('\n').filter((l) => l.includes(' update START '));
    const WARM = 'planned from the last update (no listing)';

    it('the warm path: after a clean update of its own the next one plans without listing either side; a snapshot a user took meanwhile is carried (send -I); one pair snapshot stays on the source', async () => {
      const errAt = d.err().length;
      const at = logOf().length;
      const n = ends();
      await waitFor('two more updates of a', 20_000, () => !d.exited() && ends() >= n + 2);
      const starts = startsFrom(at);
      expect(starts.at(-1), 'the last update').to.contain(WARM);
      writeRandom(`${await mountpointOf(bed, `${src}/a`)}/users.bin`, 64 * 1024);
      await bed.run(['zfs', 'snapshot', `${src}/a@users-own`]);
      await waitFor(`@users-own on ${dst}/a`, 20_000, async () => !d.exited() && (await snapshotsOf(bed, `${dst}/a`)).includes('users-own'));
      const m = ends();
      await waitFor('one more update of a', 20_000, () => !d.exited() && ends() > m);
      // read while no update runs (one may start any moment): the test holds the pair's lock
      const [onSource, onDestinationAll] = await underPairLock(site.paths.lock, fpA(), async () => [await snapshotsOf(bed, `${src}/a`), await snapshotsOf(bed, `${dst}/a`)]);
      // retention planned from the predicted lists: the newest on the source, the newest and keep=1 older one on the destination
      expect(onSource.filter((x) => x.startsWith('zettabee.')), 'pair snapshots on the source').to.have.length(1);
      const onDestination = onDestinationAll.filter((x) => x.startsWith('zettabee.'));
      expect(onDestination, 'pair snapshots on the destination').to.have.length(2);
      expect(onDestination.at(-1)).to.equal(onSource.filter((x) => x.startsWith('zettabee.'))[0]);
      expect(onSource, 'the user\'s snapshot stays on the source').to.include('users-own');
      expect(startsFrom(at).filter((l) => l.includes(WARM)).length, 'warm updates').to.be.at.least(2);
      expect(d.err().slice(errAt), 'what the daemon said meanwhile').not.to.match(/error|warning/);
    });

    it('the warm path missed: the destination was written to between two updates; its receive refused the planned stream, the unsent snapshot went, the same run listed both sides and refused as cron does (Inconsistent, nothing destroyed); rolled back by hand, the daemon goes on', async () => {
      const ds = `${dst}/a`;
      const n = ends();
      await waitFor('an update of a', 20_000, () => !d.exited() && ends() > n);
      const at = logOf().length;
      await bed.run(['zfs', 'set', 'readonly=off', ds]);
      // zfs-fuse keeps a mounted file system read-only until it is mounted again
      await bed.run(['zfs', 'umount', ds]);
      await bed.run(['zfs', 'mount', ds]);
      const mount = await mountpointOf(bed, ds);
      // what the destination held before the write, read and written while no update runs (the next one is the first to see it)
      const before = await underPairLock(site.paths.lock, fpA(), async () => {
        const b = await snapshotsOf(bed, ds);
        writeFileSync(`${mount}/intruder.txt`, 'written on the destination\n');
        return b;
      });
      const base = before.at(-1)!;
      // the log just after the refusal: the next update may start while the rollback below still runs (a loaded machine)
      let again = 0;
      try {
        const failed = await waitFor('the refusal', 20_000, () => !d.exited() && /update FAILED/.test(logOf().slice(at)) && logOf().slice(at));
        again = at + failed.length;
        const first = failed.slice(0, failed.indexOf('update FAILED'));
        expect(first, 'the warm attempt, in the log').to.contain(WARM);
        expect(first).to.match(/planned without listing, but the receive refused it: .*; listing both sides and planning again/);
        expect(first).to.match(/removed @zettabee\.\S+ from the source: it never reached the destination/);
        expect(failed).to.contain('was changed after its last snapshot');
        expect(await snapshotsOf(bed, ds), 'nothing was destroyed on the destination').to.deep.equal(before);
        expect(d.err()).to.contain('was changed after its last snapshot');
      } finally {
        await bed.run(['zfs', 'rollback', `${ds}@${base}`]);
        await bed.run(['zfs', 'set', 'readonly=on', ds]);
      }
      await waitFor('an update of a after the rollback', 30_000, () => !d.exited() && /update END/.test(logOf().slice(again)));
      const starts = startsFrom(again);
      expect(starts[0], 'the first update after a failure lists both sides').not.to.contain(WARM);
      const m = ends();
      await waitFor('one more update of a', 20_000, () => !d.exited() && ends() > m);
      expect(startsFrom(again).at(-1), 'and the next plans without listing again').to.contain(WARM);
    });

    it('the kill file stops it: exit 0, the kill file removed, no lock, pid file, ssh process or snapshot left over', async () => {
      writeFileSync(`${site.pairsFile}.kill`, '');
      const r = await d.child;
      expect(r.exitCode, d.err()).to.equal(0);
      expect(d.err()).to.match(/stopping: the kill file .*\.kill appeared/);
      expect(existsSync(`${site.pairsFile}.kill`)).to.equal(false);
      expect(d.notified().some((x) => x.includes('STOPPING=1'))).to.equal(true);
      nothingLeft();
      for (const n of ['a', 'b']) await noUnsentSnapshot(n);
    });
  });

  it('the unit passes systemd-analyze verify (its ExecStart pointed at this checkout\'s launcher, as the README does for a checkout)', async () => {
    const unit = readFileSync(new URL('../../../etc/systemd/zettabee.service', import.meta.url), 'utf8');
    expect(unit).to.match(/^Type=notify$/m).and.match(/^Restart=on-failure$/m).and.match(/^WatchdogSec=/m).and.match(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const dir = mkdtempSync(join(site.dir, 'unit-'));
    const file = join(dir, 'zettabee.service');
    writeFileSync(file, unit.replace(/^ExecStart=\/usr\/sbin\/zettabee /m, `ExecStart=${LAUNCHER} `));
    const r = await execa('systemd-analyze', ['verify', '--man=no', file], { reject: false });
    expect({ code: r.exitCode, out: `${r.stdout}${r.stderr}` }).to.deep.equal({ code: 0, out: '' });
    // and it does complain about a mistake: the check is not a no-op
    writeFileSync(file, unit.replace(/^Type=notify$/m, 'Type=notfy'));
    const bad = await execa('systemd-analyze', ['verify', '--man=no', file], { reject: false });
    expect(bad.stderr).to.contain('Failed to parse service type');
  });

  it('a destination that goes down: its pair backs off (1, 2, 4 intervals) without piling up snapshots, the other pair goes on; back up, the ssh connection is reopened and the pair catches up', async () => {
    const d = await start([], { ZETTABEE_TEST_DAEMON_INTERVAL_MS: '1000' });
    try {
      const b0 = ends('b');
      await waitFor('an update of b', 20_000, () => ends('b') > b0);
      await bed.ssh.stop();
      try {
        const kept = await snapshotsOf(bed, `${src}/b`);
        const a0 = ends('a');
        await waitFor('three failures of b in a row', 30_000, () => /update \S+\/b failed 3 times in a row; next attempt in [34]s/.test(d.err()));
        expect(d.err()).to.match(/update \S+\/b failed 2 times in a row; next attempt in [12]s/);
        expect(await snapshotsOf(bed, `${src}/b`), 'no snapshot piled up on the source of b').to.deep.equal(kept);
        expect(ends('a'), 'a went on meanwhile').to.be.above(a0);
      } finally {
        await bed.ssh.start();
      }
      const b1 = ends('b');
      d.child.kill('SIGUSR1');
      await waitFor('b to catch up once sshd is back', 30_000, () => ends('b') > b1);
      // the daemon has an ssh master connection again, in its own control directory
      expect(sshMasters(tmp).length, 'ssh master processes').to.equal(1);
    } finally {
      d.child.kill('SIGTERM');
      expect((await d.child).exitCode, d.err()).to.equal(0);
    }
    nothingLeft();
  });

  /** a site of its own: a source `${src}/${name}` (prepare runs on it first), pairs to `${dst}/<each of dests>`, initialized; and a daemon on it */
  async function ownSite(name: string, dests: readonly string[], prepare?: (s: string) => Promise<void>) {
    const site = makeSite(bed);
    const s = `${src}/${name}`;
    await bed.run(['zfs', 'create', s]);
    await prepare?.(s);
    site.writePairs(dests.map((n) => `${s} ${dst}/${n}`));
    for (const n of dests) must(await site.run(['initialize', `${dst}/${n}`]), 0);
    const fp = (n: string) => fingerprint('localhost', s, 'localhost', `${dst}/${n}`);
    const log = (n: string) => {
      const f = join(site.paths.log, `${fp(n)}.log`);
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    };
    const ends = (n: string) => (log(n).match(/ update END /g) ?? []).length;
    const daemon = (args: readonly string[], intervalMs: number) =>
      execa(LAUNCHER, ['-c', site.pairsFile, '--settings', site.settingsFile, 'daemon', ...args], {
        reject: false,
        timeout: 120_000,
        env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', ZETTABEE_TEST_DAEMON_INTERVAL_MS: String(intervalMs), TMPDIR: tmp },
      });
    return { site, s, fp, log, ends, daemon };
  }

  it('two pairs from one source (fan-out), warm: each send -I carries the other pair\'s newest snapshot, and its retention removes it as a cron run does; no snapshot of the other pair piles up on either destination', async () => {
    const { s, fp, log, ends, daemon } = await ownSite('fan', ['fan1', 'fan2']);
    const child = daemon(['--jobs', '1'], 1000);
    try {
      const m = await mountpointOf(bed, s);
      for (let i = 0; i < 4; i++) {
        writeRandom(`${m}/w${i}.bin`, 64 * 1024);
        const [c1, c2] = [ends('fan1'), ends('fan2')];
        await waitFor('an update of each pair', 30_000, () => child.exitCode === null && ends('fan1') > c1 && ends('fan2') > c2);
      }
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stderr).not.to.match(/error|warning/);
    for (const [n, other] of [['fan1', 'fan2'], ['fan2', 'fan1']] as const) {
      expect(log(n), `${n} planned without listing`).to.contain('planned from the last update (no listing)');
      const onDst = await snapshotsOf(bed, `${dst}/${n}`);
      expect(onDst.filter((x) => x.includes(fp(other))), `snapshots of ${other} on ${dst}/${n}`).to.deep.equal([]);
      expect(onDst.filter((x) => x.includes(fp(n))), `${n}'s own snapshots on its destination`).to.have.length(2);
    }
    const onSrc = await snapshotsOf(bed, s);
    for (const n of ['fan1', 'fan2']) expect(onSrc.filter((x) => x.includes(fp(n))), `${n}'s snapshots on the source`).to.have.length(1);
  });

  it('a source with more than 20 snapshots: every update lists both sides (send -I would walk them all)', async () => {
    const { log, ends, daemon } = await ownSite('many', ['many'], async (s) => {
      for (let i = 0; i < 21; i++) await bed.run(['zfs', 'snapshot', `${s}@users${i}`]);
    });
    const child = daemon([], 500);
    try {
      await waitFor('three updates', 30_000, () => child.exitCode === null && ends('many') >= 3);
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, r.stderr).to.equal(0);
    const starts = log('many').split('\n').filter((l) => l.includes(' update START '));
    expect(starts.length).to.be.at.least(3);
    expect(starts.filter((l) => l.includes('planned from the last update')), 'warm updates').to.deep.equal([]);
  });

  it('a pair whose lock another run holds: skipped, no error; -v says who holds it; updated once the lock is free', async () => {
    const { site: own, fp, ends, daemon } = await ownSite('held', ['held']);
    let child: ReturnType<typeof daemon> | undefined;
    let out = '';
    try {
      // the test holds the pair's lock (action "test") while the daemon starts and meets it
      await underPairLock(own.paths.lock, fp('held'), async () => {
        child = daemon(['-v'], 500);
        child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        await waitFor('a skipped attempt', 30_000, () => child!.exitCode === null && /: skipped, busy: /.test(out));
        expect(out).to.match(new RegExp(`^update ${dst}/held: skipped, busy: pid ${process.pid} on .* has held the lock since .* \\(test\\)$`, 'm'));
        expect(ends('held'), 'updates while the lock was held').to.equal(0);
      });
      await waitFor('an update once the lock is free', 30_000, () => child!.exitCode === null && ends('held') >= 1);
    } finally {
      child?.kill('SIGTERM');
    }
    const r = await child!;
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stderr, 'stderr').not.to.match(/error|warning|busy/);
  });

  describe('stopping', () => {
    it('SIGTERM mid-transfer, past --grace: the transfer is aborted cleanly (exit 0, no lock, unsent snapshot or process left)', async () => {
      writeRandom(`${await mountpointOf(bed, `${src}/a`)}/big.bin`, 24 * MiB);
      const d = await start(['--grace', '1s']);
      const frozen = await freezeSend(`${src}/a`, d.child, d.exited).catch((e: Error) => {
        throw new Error(`${e.message}; stderr: ${d.err()}`);
      });
      try {
        d.child.kill('SIGTERM');
        await waitFor('the grace period to pass', 10_000, () => /aborting [12] updates/.test(d.err()));
      } finally {
        thaw(frozen);
      }
      const r = await d.child;
      expect(r.exitCode, d.err()).to.equal(0);
      expect(d.err()).to.match(/stopping: SIGTERM; [12] running updates get 1s to finish/);
      await noTransferLeft([`${src}/a`, `${dst}/a`]);
      nothingLeft();
      await noUnsentSnapshot('a');
    });

    it('SIGUSR1 runs every pair now; a second daemon on the same lock directory exits 75; zettabee stop stops the first and waits for it', async () => {
      // a ten-minute interval: only the first cycle and SIGUSR1 run the pairs
      const d = await start([], { ZETTABEE_TEST_DAEMON_INTERVAL_MS: '600000' });
      await waitFor('READY=1', 20_000, () => d.notified().some((n) => n.includes('READY=1')));
      await waitFor('the first cycle', 20_000, () => /"running":false/.test(readFileSync(join(site.paths.lock, 'zettabee-daemon.json'), 'utf8')) && !/"running":true/.test(readFileSync(join(site.paths.lock, 'zettabee-daemon.json'), 'utf8')));
      const n = ends();
      d.child.kill('SIGUSR1');
      await waitFor('an update after SIGUSR1', 15_000, () => ends() > n);
      const second = await site.run(['daemon']);
      must(second, 75);
      expect(second.stderr).to.contain(`a daemon already runs with the lock directory ${site.paths.lock} (pid ${d.child.pid})`);
      const t0 = Date.now();
      must(await site.run(['stop']), 0);
      // stop returns once the daemon is gone; its exit reaches this process a moment later
      await waitFor('the daemon to be reaped', 2000, d.exited);
      expect(Date.now() - t0).to.be.below(30_000);
      expect((await d.child).exitCode, d.err()).to.equal(0);
      nothingLeft();
      const again = await site.run(['stop']);
      must(again, 1);
      expect(again.stderr).to.contain('no zettabee daemon runs');
  });
});
});

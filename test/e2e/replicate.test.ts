// initialize and update as a cron user runs them: the real launcher, real
// zfs-fuse pools, a real sshd on loopback. Data must arrive byte for byte.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { makeSite, mountpointOf, propOf, snapshotsOf, sshKeys, treeHashes, writeRandom, type Site } from './support.js';

const PAIR_SNAP = /^zettabee\.[0-9a-f]{32}\.\d{14}UTC(-\d+)?$/;

describe('e2e: initialize and update (real zfs-fuse, real sshd)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('repsrc', 512);
    dst = await bed.createPool('repdst', 512);
    await bed.run(['zfs', 'create', `${src}/local`]);
    await bed.run(['zfs', 'create', `${src}/pull`]);
    await bed.run(['zfs', 'create', `${src}/push`]);
    await bed.run(['zfs', 'create', `${dst}/backup`]);
    site = makeSite(bed);
    site.writePairs([
      `${src}/local  ${dst}/backup/local  keep=1`,
      `127.0.0.1:${src}/pull  ${dst}/backup/pull  ${sshKeys(bed)}`,
      `${src}/push  127.0.0.1:${dst}/backup/push  ${sshKeys(bed)}`,
    ]);
  });

  for (const [name, label, srcDs, dstDs, shost, dhost] of [
    ['local', 'local', 'local', 'backup/local', 'localhost', 'localhost'],
    ['ssh pull', 'pull', 'pull', 'backup/pull', '127.0.0.1', 'localhost'],
    ['ssh push', 'push', 'push', 'backup/push', 'localhost', '127.0.0.1'],
  ] as const) {
    describe(name, () => {
      const s = () => `${src}/${srcDs}`;
      const d = () => `${dst}/${dstDs}`;
      const fp = () => fingerprint(shost, s(), dhost, d());

      it('initialize: silent, exit 0, read-only destination with identical files and the bookkeeping properties', async () => {
        const mnt = await mountpointOf(bed, s());
        writeRandom(`${mnt}/big.bin`, 3 * 1024 * 1024);
        writeFileSync(`${mnt}/hello.txt`, 'hello\n');
        const r = await site.run(['initialize', label]);
        expect(r, r.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
        expect(treeHashes(await mountpointOf(bed, d()))).to.deep.equal(treeHashes(mnt));
        // zfs-fuse reports a mounted read-only file system as "off (temporary)": try to write
        const dmnt = await mountpointOf(bed, d());
        expect(() => writeFileSync(`${dmnt}/intruder`, 'x')).to.throw(/EROFS|read-only/i);
        const snaps = await snapshotsOf(bed, s());
        expect(snaps).to.have.length(1);
        expect(snaps[0]).to.match(PAIR_SNAP);
        expect(snaps[0]).to.contain(fp());
        expect(await snapshotsOf(bed, d())).to.deep.equal(snaps);
        expect(await propOf(bed, d(), 'zettabee:fingerprint')).to.equal(fp());
        expect(await propOf(bed, d(), `zettabee:${fp()}:source`)).to.equal(`${shost}:${s()}`);
        expect(await propOf(bed, d(), `zettabee:${fp()}:destination`)).to.equal(`${dhost}:${d()}`);
        expect(await propOf(bed, d(), `zettabee:${fp()}:lastsnap`)).to.equal(snaps[0]);
        expect(await propOf(bed, s(), `zettabee:${fp()}:lastsnap`)).to.equal(snaps[0]);
      });

      it('initialize again: refused, exit 1, names update', async () => {
        const r = await site.run(['initialize', label]);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(new RegExp(`^zettabee: error: initialize ${label}: .*already initialized`));
        expect(r.stderr).to.contain('zettabee update');
      });

      it('update twice: incremental, identical files, retention keeps one snapshot on the source and keep+1 on the destination', async () => {
        const mnt = await mountpointOf(bed, s());
        for (let i = 0; i < 3; i++) {
          writeRandom(`${mnt}/change-${i}.bin`, 1024 * 1024);
          const r = await site.run(['update', label]);
          expect(r, r.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
        }
        expect(treeHashes(await mountpointOf(bed, d()))).to.deep.equal(treeHashes(mnt));
        const srcSnaps = await snapshotsOf(bed, s());
        const dstSnaps = await snapshotsOf(bed, d());
        expect(srcSnaps).to.have.length(1);
        expect(dstSnaps).to.have.length(2);
        expect(dstSnaps[1]).to.equal(srcSnaps[0]);
        expect(await propOf(bed, d(), `zettabee:${fp()}:lastsnap`)).to.equal(srcSnaps[0]);
      });
    });
  }

  /** sessions sshd started while fn ran (LogLevel VERBOSE: one line per session, multiplexed or not) */
  const sessionsDuring = async (fn: () => Promise<void>): Promise<number> => {
    const count = () => (readFileSync(bed.ssh.log, 'utf8').match(/Starting session: /g) ?? []).length;
    const before = count();
    await fn();
    await new Promise((r) => setTimeout(r, 200)); // sshd writes its log asynchronously
    return count() - before;
  };

  // the destination's guid check runs in the receive's own ssh session, and
  // only after the receive succeeded; the rest of its finish (properties,
  // hold, release, retention) in a session of its own, beside the source's
  describe('ssh push: the guid check in the receive session', () => {
    const s = () => `${src}/push`;
    const d = () => `${dst}/backup/push`;
    const fp = () => fingerprint('localhost', s(), '127.0.0.1', d());

    it('an update opens three sessions: the listing, the stream with the guid check, the rest of the finish', async () => {
      writeRandom(`${await mountpointOf(bed, s())}/sessions.bin`, 1024 * 1024);
      let r: Awaited<ReturnType<Site['run']>> | undefined;
      const sessions = await sessionsDuring(async () => {
        r = await site.run(['update', 'push']);
      });
      expect(r, r?.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
      expect(sessions).to.equal(3);
      // and the finish did its work: lastsnap, the hold on the new base, retention (keep=1: two on the destination)
      const dstSnaps = await snapshotsOf(bed, d());
      expect(dstSnaps).to.have.length(2);
      expect(await propOf(bed, d(), `zettabee:${fp()}:lastsnap`)).to.equal(dstSnaps[1]);
      expect(await propOf(bed, `${d()}@${dstSnaps[1]}`, 'userrefs')).to.equal('1');
      expect(await propOf(bed, `${d()}@${dstSnaps[0]}`, 'userrefs')).to.equal('0');
    });

    it('the new snapshot is recorded on its receipt (the stream\'s first record, zfs receive exited 0), before the guid check that follows in the session; the record is the source\'s snapshot', async () => {
      writeRandom(`${await mountpointOf(bed, s())}/receipt.bin`, 256 * 1024);
      const r = await site.run(['-d', 'update', 'push']);
      expect(r, r.stderr).to.deep.include({ code: 0, stdout: '' });
      const log = readFileSync(join(site.paths.log, `${fp()}.log`), 'utf8').split('\n');
      const made = (await snapshotsOf(bed, d())).at(-1)!;
      const exact = async (ds: string, prop: string) => (await bed.run(['zfs', 'get', '-Hp', '-o', 'value', prop, ds])).trim();
      const guid = await exact(`${s()}@${made}`, 'guid');
      const at = log.findIndex((l) => l.includes(`@${made} recorded on its receipt: zfs receive exited 0 on a stream of guid ${guid}`));
      expect(at, log.slice(-15).join('\n')).to.be.at.least(0);
      // after the stream, before the END of the run
      expect(log.slice(at).some((l) => / update END /.test(l))).to.equal(true);
      const status = JSON.parse(readFileSync(join(site.paths.state, `${fp()}.status`), 'utf8')) as { state: string; lastSnapshot: { name: string; guid: string; creation: number } };
      expect(status.state).to.equal('Synchronized');
      expect(status.lastSnapshot).to.deep.equal({ name: made, guid, creation: Number(await exact(`${s()}@${made}`, 'creation')) });
      expect(await exact(`${d()}@${made}`, 'guid')).to.equal(guid);
    });

    it('a receive that fails (destination modified) runs nothing of the destination batch', async () => {
      const dstBefore = await snapshotsOf(bed, d());
      const base = dstBefore[dstBefore.length - 1]!;
      const lastsnap = await propOf(bed, d(), `zettabee:${fp()}:lastsnap`);
      await bed.run(['zfs', 'set', 'readonly=off', d()]);
      await bed.run(['zfs', 'umount', d()]);
      await bed.run(['zfs', 'mount', d()]);
      writeFileSync(`${await mountpointOf(bed, d())}/intruder.txt`, 'written on the destination\n');
      writeRandom(`${await mountpointOf(bed, s())}/refused.bin`, 64 * 1024);
      try {
        const r = await site.run(['update', 'push']);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.contain('was changed after its last snapshot');
        // retention destroyed nothing, lastsnap and the hold on the base are as they were, readonly was not set
        expect(await snapshotsOf(bed, d())).to.deep.equal(dstBefore);
        expect(await propOf(bed, d(), `zettabee:${fp()}:lastsnap`)).to.equal(lastsnap);
        expect(await propOf(bed, `${d()}@${base}`, 'userrefs')).to.equal('1');
        expect(await propOf(bed, `${d()}@${dstBefore[0]}`, 'userrefs')).to.equal('0');
        expect(await propOf(bed, d(), 'readonly')).to.match(/^off/);
      } finally {
        await bed.run(['zfs', 'rollback', `${d()}@${base}`]);
        await bed.run(['zfs', 'set', 'readonly=on', d()]);
      }
      const again = await site.run(['update', 'push']);
      expect(again, again.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
      expect(treeHashes(await mountpointOf(bed, d()))).to.deep.equal(treeHashes(await mountpointOf(bed, s())));
    });
  });

  // the capability probe is one batch per host and pool; a pair whose two
  // ends are one ssh login and one pool needs it once, not once per end
  describe('both ends one ssh login and one pool: probed once', () => {
    it('its initialize opens one session fewer than that of a pair across two pools of the same login', async () => {
      await bed.run(['zfs', 'create', `${src}/same`]);
      await bed.run(['zfs', 'create', `${src}/across`]);
      for (const ds of ['same', 'across']) writeRandom(`${await mountpointOf(bed, `${src}/${ds}`)}/probed.bin`, 64 * 1024);
      const own = makeSite(bed);
      own.writePairs([`127.0.0.1:${src}/same  127.0.0.1:${src}/same-copy  ${sshKeys(bed)}`, `127.0.0.1:${src}/across  127.0.0.1:${dst}/backup/across  ${sshKeys(bed)}`]);
      const sessions: Record<string, number> = {};
      for (const [label, dest] of [['same', `${src}/same-copy`], ['across', `${dst}/backup/across`]] as const) {
        let r: Awaited<ReturnType<Site['run']>> | undefined;
        sessions[label] = await sessionsDuring(async () => {
          r = await own.run(['initialize', `127.0.0.1:${dest}`]);
        });
        expect(r, r?.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
        expect(treeHashes(await mountpointOf(bed, dest))).to.deep.equal(treeHashes(await mountpointOf(bed, `${src}/${label}`)));
      }
      expect(sessions.same, JSON.stringify(sessions)).to.equal(sessions.across! - 1);
      // and the answer serves both ends later: an update probes nothing and works
      const r = await own.run(['update', `127.0.0.1:${src}/same-copy`]);
      expect(r, r.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    });
  });

  // mocha runs a describe's own tests before its nested describes: these come last
  describe('all pairs', () => {
  it('update of every pair (no DEST) with --jobs 2, silent', async () => {
    const r = await site.run(['update', '--jobs', '2']);
    expect(r, r.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
  });

  it('-v says what was sent', async () => {
    const r = await site.run(['-v', 'update', 'local']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^update \S+\/backup\/local: .* in [\d.]+ s/m);
  });

  it('a local stream goes from zfs send through pv into zfs receive, and pv counts the bytes for the END line', async () => {
    const { readFileSync } = await import('node:fs');
    const fp = fingerprint('localhost', `${src}/local`, 'localhost', `${dst}/backup/local`);
    writeRandom(`${await mountpointOf(bed, `${src}/local`)}/counted.bin`, 2 * 1024 * 1024);
    const r = await site.run(['-d', 'update', 'local']);
    expect(r.code, r.stderr).to.equal(0);
    const log = readFileSync(`${site.paths.log}/${fp}.log`, 'utf8');
    const last = log.slice(log.lastIndexOf(' update START '));
    expect(last).to.match(/ DEBUG \[\d+\] stream: zfs send on localhost \| pv on localhost \| zfs receive on localhost$/m);
    const m = / update END @zettabee\.\S+: ([\d.]+) MiB in /.exec(last);
    expect(m, last).to.not.equal(null);
    expect(Number(m![1])).to.be.within(2, 2.5);
  });

  it('the log tells the story: START and END with bytes, seconds and rate', async () => {
    const { readFileSync } = await import('node:fs');
    const fp = fingerprint('localhost', `${src}/local`, 'localhost', `${dst}/backup/local`);
    const log = readFileSync(`${site.paths.log}/${fp}.log`, 'utf8');
    expect(log).to.match(/ INFO \[\d+\] initialize START .* full send/);
    expect(log).to.match(/ INFO \[\d+\] update START .* incremental from @zettabee\./);
    expect(log).to.match(/ INFO \[\d+\] update END @zettabee\.\S+: [\d.]+ (B|KiB|MiB) in [\d.]+ s \([^)]+\/s\)/);
  });

  it('status shows every pair Synchronized and Idle', async () => {
    const r = await site.run(['status']);

    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n');
    expect(lines).to.have.length(3);
    for (const l of lines) expect(l).to.match(/Synchronized\s+\d+:\d\d:\d\d\s+-\s+Idle \(\d+:\d\d:\d\d\)$/);
  });
});
});

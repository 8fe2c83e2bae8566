import { expect } from 'chai';
import { ActionError } from '../../src/errors.js';
import { CommandError, type RunResult } from '../../src/exec/host.js';
import { describeCapabilities, noZfsCapabilities, probeCapabilities, type Capabilities } from '../../src/zfs/probe.js';
import { OPENZFS_SETS, ReplayHost, record, recordedNames, type FixtureSet } from '../fixtures/zfs/replay.js';

const PROBE = { probeName: 'zettabee-probe-0000' };

function fuseHost(): ReplayHost {
  return ReplayHost.of('zfs-fuse-0.7', ['usage', 'zpool-get-all', 'hold-probe', 'holds-probe', 'recv-u-probe', 'list-p-probe']);
}

function openzfsHost(set: FixtureSet, ids: string[] = ['usage', 'zpool-get-all', 'hold-probe', 'holds-probe']): ReplayHost {
  return ReplayHost.of(set, ids);
}

/** the features a new pool of each recorded OpenZFS has: every one enabled or active */
const FEATURES: Record<(typeof OPENZFS_SETS)[number], number> = { 'openzfs-2.1': 34, 'openzfs-2.3': 44 };

describe('zfs probe: capabilities from replayed output', () => {
  it('reads real zfs-fuse 0.7 output: old send/receive, holds without listing, receive -u found by a real probe', async () => {
    const host = fuseHost();
    const caps = await probeCapabilities(host, 'zbrecA', PROBE);
    expect(caps).to.deep.equal({
      zfsPresent: true,
      poolExists: true,
      holds: true,
      holdsList: false,
      bookmarks: false,
      recvResumable: false,
      recvNoMount: true,
      recvOptions: false,
      recvExclude: false,
      listParsable: false,
      sendCompressed: false,
      sendLargeBlocks: false,
      sendEmbedded: false,
      sendRaw: false,
      sendResume: false,
      sendDryRunParsable: false,
      snapshotMany: false,
      setMany: false,
      diff: false,
      poolVersion: 23,
      featureFlags: [],
      notes: [],
    } satisfies Capabilities);
    // two rounds: usage + pool, then the four probes usage cannot settle
    expect(host.calls.map((a) => a.slice(0, 3).join(' '))).to.deep.equal([
      'zfs -?', 'zpool get all', 'zfs hold zettabee-probe', 'zfs holds -H', 'zfs receive -u', 'zfs list -H',
    ]);
  });

  for (const set of OPENZFS_SETS) {
    const { poolA, prefix } = recordedNames(set);

    it(`reads real ${set} output: everything, with four commands`, async () => {
      const host = openzfsHost(set);
      const caps = await probeCapabilities(host, poolA, PROBE);
      expect(caps).to.deep.include({
        zfsPresent: true,
        poolExists: true,
        holds: true,
        holdsList: true,
        bookmarks: true,
        recvResumable: true,
        recvNoMount: true,
        recvOptions: true,
        recvExclude: true,
        listParsable: true,
        sendCompressed: true,
        sendLargeBlocks: true,
        sendEmbedded: true,
        sendRaw: true,
        sendResume: true,
        sendDryRunParsable: true,
        snapshotMany: true,
        setMany: true,
        diff: true,
        poolVersion: 5000,
        notes: [],
      });
      expect(caps.featureFlags).to.have.length(FEATURES[set]);
      expect(caps.featureFlags).to.include.members(['bookmarks', 'extensible_dataset', 'large_blocks', 'encryption']);
      expect(caps.featureFlags.includes('longname')).to.equal(set === 'openzfs-2.3');
      // receive -u and list -p are in the usage: their real probes are not needed
      expect(host.calls.map((a) => a.slice(0, 2).join(' '))).to.deep.equal(['zfs -?', 'zpool get', 'zfs hold', 'zfs holds']);
    });

    it(`keeps bookmarks and resumable receive off on a pool without those features (the real ${set} table, two features edited to disabled)`, async () => {
      const all = record(set, 'zpool-get-all');
      const stdout = all.stdout
        .split('\n')
        .map((l) => (/feature@(bookmarks|extensible_dataset)\b/.test(l) ? l.replace(/\b(enabled|active)\b/, 'disabled') : l))
        .join('\n');
      expect(stdout).to.not.equal(all.stdout);
      const host = new ReplayHost('h', [record(set, 'usage'), record(set, 'hold-probe'), record(set, 'holds-probe'), { ...all, stdout }]);
      const caps = await probeCapabilities(host, poolA, PROBE);
      expect(caps.bookmarks).to.equal(false);
      expect(caps.recvResumable).to.equal(false);
      expect(caps.sendResume).to.equal(true);
      expect(caps.featureFlags).to.not.include('bookmarks');
      expect(caps.featureFlags).to.have.length(FEATURES[set] - 2);
    });

    it(`reports a missing pool without failing (real ${set} output)`, async () => {
      const nopool = `${prefix}NOPE`;
      const host = openzfsHost(set, ['usage', 'zpool-get-missing-pool']);
      const caps = await probeCapabilities(host, nopool, PROBE);
      expect(host.calls).to.have.length(2);
      expect(caps.zfsPresent).to.equal(true);
      expect(caps.poolExists).to.equal(false);
      // the hold probes need the pool: not run, so not claimed
      expect(caps.holds).to.equal(false);
      expect(caps.holdsList).to.equal(false);
      expect(caps.poolVersion).to.equal(null);
      expect(caps.featureFlags).to.deep.equal([]);
      expect(caps.notes).to.deep.equal([`pool ${nopool} not found`]);
      // what the binary can do is still known
      expect(caps.sendCompressed).to.equal(true);
      expect(caps.bookmarks).to.equal(true);
    });

    it(`reads the real ${set} probes that the usage leaves to ask elsewhere (receive -u, list -p) as working`, async () => {
      // the usage with receive -u and list -p taken out: only the real probes can tell
      const usage = record(set, 'usage');
      const stdout = usage.stdout.replace(/\[-vMnsFhu\]/g, '[-vMnsFh]').replace(/list \[-Hp\]/, 'list [-H]');
      expect(stdout).to.not.equal(usage.stdout);
      const ids = ['zpool-get-all', 'hold-probe', 'holds-probe', 'recv-u-probe', 'list-p-probe'];
      const host = new ReplayHost('h', [{ ...usage, stdout }, ...ids.map((id) => record(set, id))]);
      const caps = await probeCapabilities(host, poolA, PROBE);
      expect(caps.recvNoMount).to.equal(true);
      expect(caps.listParsable).to.equal(true);
      expect(caps.notes).to.deep.equal([]);
      expect(host.calls).to.have.length(6);
    });
  }

  it('yields zfsPresent:false when the binary is missing on a remote host (real bash exit 127)', async () => {
    const nf = record('zfs-fuse-0.7', 'not-found-bash');
    const host = new ReplayHost('remote', [], () => ({ stdout: nf.stdout, stderr: nf.stderr, exitCode: nf.exitCode }));
    const caps = await probeCapabilities(host, 'tank', PROBE);
    expect(caps).to.deep.equal(noZfsCapabilities(['remote: zfs is not installed on this host (or not on its PATH)']));
    expect(host.calls).to.have.length(2);
  });

  it('yields zfsPresent:false when the local binary cannot be spawned (ENOENT)', async () => {
    const host = new ReplayHost('localhost', [], (argv) => new CommandError('localhost', argv, undefined, '', `spawn ${argv[0]} ENOENT`));
    const caps = await probeCapabilities(host, 'tank', PROBE);
    expect(caps.zfsPresent).to.equal(false);
    expect(describeCapabilities(caps)[0]).to.equal('zfs: not found');
  });

  it('fails with an ActionError when the host cannot be reached', async () => {
    const down: RunResult = { stdout: '', stderr: 'ssh: connect to host backup port 22: Connection refused\n', exitCode: 255 };
    const host = new ReplayHost('backup', [], () => down);
    try {
      await probeCapabilities(host, 'tank', PROBE);
      expect.fail('no error');
    } catch (e) {
      expect(e).to.be.instanceOf(ActionError);
      expect((e as ActionError).message).to.match(/^backup: cannot tell what zfs can do/);
      expect((e as ActionError).details[0]).to.contain('Connection refused');
    }
  });

  it('passes other errors (a timeout) through', async () => {
    const host = new ReplayHost('slow', [], (argv) => new CommandError('slow', argv, undefined, '', 'timed out after 10 ms'));
    try {
      await probeCapabilities(host, 'tank', PROBE);
      expect.fail('no error');
    } catch (e) {
      expect(e).to.be.instanceOf(CommandError);
    }
  });

  it('releases at once if the hold probe ever hits an existing snapshot', async () => {
    const ids = ['usage', 'zpool-get-all', 'holds-probe', 'recv-u-probe', 'list-p-probe'];
    const host = new ReplayHost('h', ids.map((id) => record('zfs-fuse-0.7', id)), (argv) =>
      argv[1] === 'hold' || argv[1] === 'release' ? { stdout: '', stderr: '', exitCode: 0 } : new Error(`unexpected ${argv.join(' ')}`));
    const caps = await probeCapabilities(host, 'zbrecA', PROBE);
    expect(caps.holds).to.equal(true);
    expect(host.calls.at(-1)).to.deep.equal(['zfs', 'release', 'zettabee-probe', 'zbrecA@zettabee-probe-0000']);
  });

  it('uses a random probe name by default', async () => {
    const host = new ReplayHost('h', [record('zfs-fuse-0.7', 'usage'), record('zfs-fuse-0.7', 'zpool-get-all')], (argv) => {
      const r = record('zfs-fuse-0.7', argv[1] === 'hold' ? 'hold-probe' : argv[1] === 'holds' ? 'holds-probe' : argv[1] === 'receive' ? 'recv-u-probe' : 'list-p-probe');
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    });
    await probeCapabilities(host, 'zbrecA');
    const hold = host.calls.find((a) => a[1] === 'hold')!;
    expect(hold[3]).to.match(/^zbrecA@zettabee-probe-[0-9a-f]{12}$/);
  });
});

describe('zfs probe: describeCapabilities', () => {
  it('describes real zfs-fuse capabilities in short lines', async () => {
    const lines = describeCapabilities(await probeCapabilities(fuseHost(), 'zbrecA', PROBE));
    expect(lines).to.deep.equal([
      'pool: version 23',
      'send options: none beyond -R -p -i -I',
      'receive options: -u',
      'resumable transfers: no',
      'holds: yes (listing them: no, read userrefs)',
      'bookmarks: no',
      'exact numbers from zfs list -p: no',
    ]);
  });

  for (const set of OPENZFS_SETS) {
    it(`describes real ${set} capabilities`, async () => {
      const lines = describeCapabilities(await probeCapabilities(openzfsHost(set), recordedNames(set).poolA, PROBE));
      expect(lines).to.deep.equal([
        `pool: feature flags, ${FEATURES[set]} enabled`,
        'send options: -c -L -e -w -t -nvP',
        'receive options: -u -s/-A -o -x',
        'resumable transfers: yes',
        'holds: yes',
        'bookmarks: yes',
        'exact numbers from zfs list -p: yes',
      ]);
    });
  }
});

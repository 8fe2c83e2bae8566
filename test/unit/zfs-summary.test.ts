import { expect } from 'chai';
import { noZfsCapabilities, probeCapabilities, summarizeCapabilities } from '../../src/zfs/probe.js';
import { ReplayHost, recordedNames } from '../fixtures/zfs/replay.js';

describe('zfs probe: one-line summary for setup', () => {
  it('zfs-fuse 0.7: a legacy pool with holds and recv -u only', () => {
    const c = { ...noZfsCapabilities(), zfsPresent: true, poolExists: true, poolVersion: 23, holds: true, recvNoMount: true };
    expect(summarizeCapabilities(c)).to.equal(
      'pool version 23; has holds, recv -u; lacks bookmarks, resumable receive, recv -o, recv -x, list -p, send -c, send -L, send -e, send -w',
    );
  });
  for (const [set, features] of [['openzfs-2.1', 34], ['openzfs-2.3', 44]] as const) {
    it(`${set} (probed from its real output): a feature-flag pool with everything`, async () => {
      const host = ReplayHost.of(set, ['usage', 'zpool-get-all', 'hold-probe', 'holds-probe']);
      const c = await probeCapabilities(host, recordedNames(set).poolA, { probeName: 'zettabee-probe-0000' });
      expect(summarizeCapabilities(c)).to.equal(
        `feature-flag pool (${features} features); has holds, bookmarks, resumable receive, recv -u, recv -o, recv -x, list -p, send -c, send -L, send -e, send -w`,
      );
    });
  }
  it('a feature-flag pool without bookmarks and resumable receive (literal capabilities)', () => {
    const c = { ...noZfsCapabilities(), zfsPresent: true, poolExists: true, poolVersion: 5000, featureFlags: ['async_destroy', 'empty_bpobj'], holds: true, recvNoMount: true, listParsable: true };
    expect(summarizeCapabilities(c)).to.equal('feature-flag pool (2 features); has holds, recv -u, list -p; lacks bookmarks, resumable receive, recv -o, recv -x, send -c, send -L, send -e, send -w');
  });
  it('an unknown pool version', () => {
    expect(summarizeCapabilities({ ...noZfsCapabilities(), poolVersion: null })).to.match(/^pool version unknown; lacks holds/);
  });
});

import { expect } from 'chai';
import { noZfsCapabilities, summarizeCapabilities } from '../../src/zfs/probe.js';

describe('zfs probe: one-line summary for setup', () => {
  it('zfs-fuse 0.7: a legacy pool with holds and recv -u only', () => {
    const c = { ...noZfsCapabilities(), zfsPresent: true, poolExists: true, poolVersion: 23, holds: true, recvNoMount: true };
    expect(summarizeCapabilities(c)).to.equal(
      'pool version 23; has holds, recv -u; lacks bookmarks, resumable receive, recv -o, list -p, send -c, send -L, send -e, send -w',
    );
  });
  it('OpenZFS 2.x (recorded feature set): a feature-flag pool with everything', () => {
    const c = {
      ...noZfsCapabilities(), zfsPresent: true, poolExists: true, poolVersion: 5000, featureFlags: ['async_destroy', 'bookmarks', 'extensible_dataset'],
      holds: true, bookmarks: true, recvResumable: true, recvNoMount: true, recvOptions: true, listParsable: true,
      sendCompressed: true, sendLargeBlocks: true, sendEmbedded: true, sendRaw: true,
    };
    expect(summarizeCapabilities(c)).to.equal(
      'feature-flag pool (3 features); has holds, bookmarks, resumable receive, recv -u, recv -o, list -p, send -c, send -L, send -e, send -w',
    );
  });
  it('an unknown pool version', () => {
    expect(summarizeCapabilities({ ...noZfsCapabilities(), poolVersion: null })).to.match(/^pool version unknown; lacks holds/);
  });
});

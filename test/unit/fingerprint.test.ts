import { expect } from 'chai';
import { fingerprint, isFingerprint } from '../../src/domain/fingerprint.js';
import { newSnapshotName, parseSnapshotName, stampOf } from '../../src/domain/snapshot-name.js';

describe('fingerprint (compatible with the original Zettabee)', () => {
  it('is the MD5 of shost:szfs::dhost:dzfs', () => {
    // echo -n 'src:tank/a::dst:pool/tank/a' | md5sum
    expect(fingerprint('src', 'tank/a', 'dst', 'pool/tank/a')).to.equal('062a9ba78a95255454d51de19171ba8c');
  });
  it('spells an omitted host localhost', () => {
    expect(fingerprint(undefined, 'tank/a', undefined, 'b/a')).to.equal(fingerprint('localhost', 'tank/a', 'localhost', 'b/a'));
  });
  it('recognises fingerprints', () => {
    expect(isFingerprint('062a9ba78a95255454d51de19171ba8c')).to.equal(true);
    expect(isFingerprint('d29d62ec')).to.equal(false);
  });
});

describe('pair snapshot names', () => {
  const fp = '062a9ba78a95255454d51de19171ba8c';
  const t = new Date(Date.UTC(2026, 10, 21, 3, 4, 5));
  it('are zettabee.<fp>.<YYYYmmddHHMMSS>UTC', () => {
    expect(stampOf(t)).to.equal('20261121030405UTC');
    expect(newSnapshotName(fp, t)).to.equal(`zettabee.${fp}.20261121030405UTC`);
  });
  it('stay distinct within one second', () => {
    const a = newSnapshotName(fp, t);
    const b = newSnapshotName(fp, t, new Set([a]));
    const c = newSnapshotName(fp, t, new Set([a, b]));
    expect(new Set([a, b, c]).size).to.equal(3);
    expect(parseSnapshotName(b)?.sequence).to.equal(1);
  });
  it('parse the original tool’s local-zone names', () => {
    const p = parseSnapshotName(`zettabee.${fp}.20120102030405PST`);
    expect(p).to.deep.include({ fingerprint: fp, zone: 'PST', sequence: 0 });
  });
  it('ignore other snapshots', () => {
    expect(parseSnapshotName('autosnap_2026-01-01')).to.equal(null);
    expect(parseSnapshotName(`zettabee.${fp}.2026`)).to.equal(null);
  });
  it('round-trip the UTC stamp', () => {
    expect(parseSnapshotName(newSnapshotName(fp, t))!.stamp).to.equal(t.getTime() / 1000);
  });
});

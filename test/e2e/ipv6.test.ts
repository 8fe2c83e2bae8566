// Pairs whose remote end is written as a bracketed IPv6 address, [::1]:pool/fs,
// end to end: the bed's sshd listens on ::1 as well, ssh gets the address
// without brackets and finds the host key under [::1]:<port>, and the
// fingerprint and properties keep the host as written.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, LOOPBACK6, portAccepts, type Bed } from '../harness/bed.js';
import { freePort } from './ports.js';
import { makeSite, mountpointOf, propOf, snapshotsOf, sshKeys, treeHashes, writeRandom, type Site } from './support.js';

describe('e2e: a remote end written [::1] (real sshd on the IPv6 loopback)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;

  before(async function () {
    bed = await getBed();
    if (!(await portAccepts(bed.ssh.port, LOOPBACK6))) {
      throw new Error(`the test bed's sshd does not accept connections on [${LOOPBACK6}]:${bed.ssh.port}: this machine has no IPv6 loopback (see ${bed.ssh.log}); the IPv6 pairs cannot be tested`);
    }
    src = await bed.createPool('v6src', 256);
    dst = await bed.createPool('v6dst', 256);
    for (const ds of [`${src}/pull`, `${src}/push`, `${src}/mb`, `${dst}/backup`]) await bed.run(['zfs', 'create', ds]);
    site = makeSite(bed);
    site.writePairs([
      `[::1]:${src}/pull  ${dst}/backup/pull  ${sshKeys(bed)}`,
      `${src}/push  [::1]:${dst}/backup/push  ${sshKeys(bed)}`,
      `[::1]:${src}/mb  ${dst}/backup/mb  ${sshKeys(bed)},transport=mbuffer,port=${await freePort()}`,
    ]);
  });

  const sshdLogLines = () => readFileSync(bed.ssh.log, 'utf8').split('\n').length;

  for (const [name, dest, s, d, shost, dhost] of [
    ['pull', 'DST/backup/pull', 'pull', 'backup/pull', '[::1]', 'localhost'],
    ['push', '[::1]:DST/backup/push', 'push', 'backup/push', 'localhost', '[::1]'],
  ] as const) {
    it(`${name}: initialize and update over ssh to ::1, identical data, the host kept as written`, async () => {
      const sds = `${src}/${s}`;
      const dds = `${dst}/${d}`;
      const label = dest.replace('DST', dst);
      const mnt = await mountpointOf(bed, sds);
      writeRandom(`${mnt}/first.bin`, 512 * 1024);
      const logFrom = sshdLogLines();
      const init = await site.run(['initialize', label]);
      expect(init, init.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
      writeRandom(`${mnt}/second.bin`, 512 * 1024);
      const up = await site.run(['update', label]);
      expect(up, up.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
      expect(treeHashes(await mountpointOf(bed, dds))).to.deep.equal(treeHashes(mnt));
      // the connections came in over IPv6
      const sshd = readFileSync(bed.ssh.log, 'utf8').split('\n').slice(logFrom - 1).join('\n');
      expect(sshd).to.match(/Accepted publickey for root from ::1 port/);
      expect(sshd).not.to.match(/Accepted publickey for root from 127\.0\.0\.1/);
      // the fingerprint and the properties keep the brackets
      const fp = fingerprint(shost, sds, dhost, dds);
      const fpRun = await site.run(['fingerprint', label]);
      expect(fpRun.stdout).to.equal(fp);
      expect(await propOf(bed, dds, `zettabee:${fp}:source`)).to.equal(`${shost}:${sds}`);
      expect(await propOf(bed, dds, `zettabee:${fp}:destination`)).to.equal(`${dhost}:${dds}`);
      const snaps = await snapshotsOf(bed, sds);
      expect(snaps).to.have.length(1);
      expect(snaps[0]).to.contain(fp);
    });
  }

  it('transport=mbuffer still refuses an IPv6 end (mbuffer cannot take it), naming the key to set', async () => {
    const r = await site.run(['initialize', `${dst}/backup/mb`]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain('mbuffer cannot take the IPv6 address [::1]');
    expect(r.stderr).to.contain('set accept=');
    expect(await snapshotsOf(bed, `${src}/mb`)).to.deep.equal([]);
  });
});

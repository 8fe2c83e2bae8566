// File names that reach ssh as written: a key, a known_hosts file and the
// temporary directory of the control sockets at paths with blanks and '%'
// (ssh splits -o values at blanks and expands %h, %u, %C, ... in them and in
// -i). The real launcher replicates over the bed's sshd with them.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBed, type Bed } from '../harness/bed.js';
import { makeSite, mountpointOf, treeHashes, writeRandom, type Site } from './support.js';

describe('e2e: ssh key, known_hosts and temporary directory at paths with blanks and %', function () {
  let bed: Bed;
  let src: string;
  let dst: string;
  let tmp: string;
  const keyAt = (dir: string): string => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = join(dir, 'id_ed25519');
    copyFileSync(bed.ssh.key, key);
    return key;
  };

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('kpsrc', 256);
    dst = await bed.createPool('kpdst', 256);
    for (const ds of [`${src}/a`, `${src}/b`, `${dst}/backup`]) await bed.run(['zfs', 'create', ds]);
    // short: a socket path has at most 107 bytes, and ssh adds a 40-character hash and a 17-character suffix
    tmp = join(bed.workdir, 't %C%h');
    mkdirSync(tmp, { mode: 0o700 });
  });

  const replicates = async (site: Site, label: string, ds: string): Promise<void> => {
    const mnt = await mountpointOf(bed, `${src}/${ds}`);
    writeRandom(`${mnt}/data.bin`, 256 * 1024);
    const env = { TMPDIR: tmp };
    const init = await site.run(['initialize', label], { env });
    expect(init, init.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    writeRandom(`${mnt}/more.bin`, 256 * 1024);
    const up = await site.run(['update', label], { env });
    expect(up, up.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    expect(treeHashes(await mountpointOf(bed, `${dst}/backup/${ds}`))).to.deep.equal(treeHashes(mnt));
    // the control sockets lived in the odd directory, and are gone with the run
    expect(readdirSync(tmp).filter((n) => n.startsWith('zettabee-ssh-'))).to.deep.equal([]);
  };

  it('a quoted sshkey= in the pairs file, a known_hosts path with blanks and %, TMPDIR likewise', async () => {
    const key = keyAt(join(bed.workdir, 'keys %h %u %% dir'));
    const khDir = join(bed.workdir, 'known hosts %d');
    mkdirSync(khDir, { mode: 0o700 });
    copyFileSync(bed.ssh.knownHosts, join(khDir, 'known_hosts'));
    const site = makeSite(bed);
    // makeSite's settings name the bed's known_hosts; these name the odd copy
    writeFileSync(site.settingsFile, `[paths]\nstate = ${site.paths.state}\nlock = ${site.paths.lock}\nlog = ${site.paths.log}\n[ssh]\nknown_hosts = ${join(khDir, 'known_hosts')}\nconnect_timeout = 5\n`);
    site.writePairs([`127.0.0.1:${src}/a  ${dst}/backup/a  sshport=${bed.ssh.port},sshuser=root,sshkey="${key}"`]);
    await replicates(site, `${dst}/backup/a`, 'a');
  });

  it('an sshkey with blanks and % in [defaults], taken whole', async () => {
    const key = keyAt(join(bed.workdir, 'defaults key %C'));
    const site = makeSite(bed, `[defaults]\nsshkey = ${key}\nsshport = ${bed.ssh.port}\n`);
    site.writePairs([`127.0.0.1:${src}/b  ${dst}/backup/b`]);
    await replicates(site, `${dst}/backup/b`, 'b');
  });
});

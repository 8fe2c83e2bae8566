// setup, fingerprint and logfile against real zfs-fuse pools and a real sshd.
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { getBed, type Bed } from '../harness/bed.js';
import { makeSite, sshKeys, type Site } from './support.js';

describe('e2e: setup, fingerprint, logfile (real zfs-fuse, real sshd)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('setsrc', 256);
    dst = await bed.createPool('setdst', 256);
    await bed.run(['zfs', 'create', `${src}/data`]);
    await bed.run(['zfs', 'create', `${dst}/backup`]);
    site = makeSite(bed);
    site.writePairs([
      '# pull over ssh, a local pair, and one whose source is missing',
      `127.0.0.1:${src}/data   ${dst}/backup/data   ${sshKeys(bed)},wlag=1h,clag=2h`,
      `${src}/data  ${dst}/backup/local`,
    ]);
  });

  it('creates the directories, checks every pair and exits 0', async () => {
    // a private TMPDIR: other runs on this machine may hold control directories in /tmp right now
    // (short: the ssh control socket inside must fit a unix socket path)
    const tmp = mkdtempSync('/tmp/zbt-');
    const r = await site.run(['setup'], { env: { TMPDIR: tmp } });
    expect(r.stderr).to.equal('');
    expect(r.code, r.stdout).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.every((l) => l.startsWith('ok ')), r.stdout).to.equal(true);
    expect(r.stdout).to.match(/ssh to source host root@127\.0\.0\.1 port \d+ \(BatchMode, strict host key\)/);
    expect(r.stdout).to.match(new RegExp(`zfs on source host .*\\(.*\\)`));
    expect(r.stdout).to.contain(`source ${src}/data exists`);
    expect(r.stdout).to.contain(`destination parent ${dst}/backup exists (${dst}/backup/data will be created by initialize)`);
    // only the local pair's stream can go straight from process to process with pv counting
    expect(r.stdout.match(/pv on this host \(optional\).*local streams go straight from zfs send to zfs receive; pv counts the bytes/g)).to.have.length(1);
    // the shared ssh connection is closed and its private directory removed
    const { readdirSync } = await import('node:fs');
    const left = readdirSync(tmp);
    rmSync(tmp, { recursive: true, force: true });
    expect(left).to.deep.equal([]);
    const masters = await bed.run(['sh', '-c', `pgrep -af '[C]ontrolPath=${tmp}/' || true`]);
    expect(masters.trim()).to.equal('');
    for (const p of Object.values(site.paths)) {
      const st = statSync(p);
      expect(st.isDirectory()).to.equal(true);
      expect(st.mode & 0o777).to.equal(0o750);
    }
  });

  it('logs each check to the pair log file, with time, fingerprint, level and pid', async () => {
    const { readFileSync } = await import('node:fs');
    const { fingerprint } = await import('../../src/domain/fingerprint.js');
    const fp = fingerprint('127.0.0.1', `${src}/data`, 'localhost', `${dst}/backup/data`);
    const log = readFileSync(`${site.paths.log}/${fp}.log`, 'utf8');
    expect(log).to.match(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d{4}) ${fp} INFO \\[\\d+\\] setup: ok: source ${src}/data exists$`, 'm'));
    expect(log).to.contain('setup: ok: ssh to source host root@127.0.0.1');
  });

  it('-v shows what each host can do; -d names the failing command', async () => {
    const v = await site.run(['-v', 'setup', 'data']);
    expect(v.code).to.equal(0);
    expect(v.stdout).to.match(/^ {8}pool: version 23$/m);
    expect(v.stdout).to.match(/^ {8}resumable transfers: no$/m);
    const other = makeSite(bed);
    other.writePairs([`${src}/nothere  ${dst}/backup/n`]);
    const d = await other.run(['-d', 'setup']);
    expect(d.code).to.equal(1);
    expect(d.stdout).to.contain(`; command: zfs list -H -o name ${src}/nothere on localhost)`);
  });

  it('changes no ZFS data', async () => {
    const list = await bed.run(['zfs', 'list', '-H', '-o', 'name', '-r', '-t', 'all', src, dst]);
    expect(list.trim().split('\n').sort()).to.deep.equal([dst, `${dst}/backup`, src, `${src}/data`].sort());
  });

  it('checks one pair by DEST and reports a missing source and parent with hints, exit 1', async () => {
    site.writePairs([`${src}/nothere  ${dst}/missing/x`]);
    const r = await site.run(['setup', 'x']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(new RegExp(`FAILED  ${dst}/missing/x: source ${src}/nothere exists \\(.*does not exist.*\\)`));
    expect(r.stdout).to.match(new RegExp(`FAILED  ${dst}/missing/x: destination parent ${dst}/missing exists`));
    expect(r.stdout).to.contain(`hint: create it first: zfs create -p ${dst}/missing`);
    expect(r.stderr).to.match(/^zettabee: error: setup x: 2 checks failed\n/);
  });

  it('exits 1 with a FAILED ssh line when sshd is stopped, and 0 again when it is back', async () => {
    site.writePairs([`127.0.0.1:${src}/data   ${dst}/backup/data   ${sshKeys(bed)}`]);
    await bed.ssh.stop();
    try {
      const r = await site.run(['setup']);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/FAILED  .*ssh to source host root@127\.0\.0\.1 port \d+ .*Connection refused/);
      expect(r.stdout).to.match(/SKIPPED .*zfs on source host/);
      expect(r.stdout).to.contain('hint: is sshd running on');
      expect(r.stderr).to.match(/^zettabee: error: setup: 1 check failed, 2 skipped\n/);
    } finally {
      await bed.ssh.start();
    }
    expect((await site.run(['setup'])).code).to.equal(0);
  });

  it('fails the ssh check on an unknown host key (strict host key checking)', async () => {
    const other = makeSite(bed);
    // an empty known_hosts file: the host key is unknown
    other.writePairs([`127.0.0.1:${src}/data   ${dst}/backup/data   ${sshKeys(bed)}`]);
    const { writeFileSync } = await import('node:fs');
    const kh = `${other.dir}/known_hosts`;
    writeFileSync(kh, '');
    writeFileSync(other.settingsFile, `[paths]\nstate = ${other.paths.state}\nlock = ${other.paths.lock}\nlog = ${other.paths.log}\n[ssh]\nknown_hosts = ${kh}\n`);
    const r = await other.run(['setup']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/FAILED .*ssh to source host/);
    expect(r.stdout).to.contain('host key');
  });

  it('checks mbuffer on both ends of an mbuffer pair, and send_nsca when Nagios is configured', async () => {
    const withNagios = makeSite(bed, `[nagios]\nserver = 127.0.0.1\nport = ${bed.nsca.port}\nconfig = ${bed.nsca.sendConfig}\n`);
    withNagios.writePairs([`127.0.0.1:${src}/data   ${dst}/backup/mb   ${sshKeys(bed)},transport=mbuffer,port=45001`]);
    const r = await withNagios.run(['setup']);
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.match(/ok      .*mbuffer on source host root@127\.0\.0\.1/);
    expect(r.stdout).to.match(/ok      .*mbuffer on destination host localhost/);
    expect(r.stdout).to.contain(`ok      nagios: send_nsca config ${bed.nsca.sendConfig} is readable`);

    const broken = makeSite(bed, `[nagios]\nserver = 127.0.0.1\nconfig = /nonexistent/send_nsca.cfg\n`);
    broken.writePairs([`${src}/data  ${dst}/backup/local`]);
    const b = await broken.run(['setup']);
    expect(b.code).to.equal(1);
    expect(b.stdout).to.contain('FAILED  nagios: send_nsca config /nonexistent/send_nsca.cfg is readable');
  });

  it('prints fingerprints and log file paths', async () => {
    site.writePairs([`127.0.0.1:${src}/data   ${dst}/backup/data   ${sshKeys(bed)}`, `${src}/data  ${dst}/backup/local`]);
    const all = await site.run(['fingerprint']);
    expect(all.code).to.equal(0);
    const { fingerprint } = await import('../../src/domain/fingerprint.js');
    const fp1 = fingerprint('127.0.0.1', `${src}/data`, 'localhost', `${dst}/backup/data`);
    expect(all.stdout).to.equal(`${fp1}  127.0.0.1:${src}/data  ${dst}/backup/data\n${fingerprint(undefined, `${src}/data`, undefined, `${dst}/backup/local`)}  ${src}/data  ${dst}/backup/local`);
    const one = await site.run(['fingerprint', 'data']);
    expect(one.stdout).to.equal(fp1);
    const log = await site.run(['logfile', `${dst}/backup/data`]);
    expect(log.stdout).to.equal(`${site.paths.log}/${fp1}.log`);
  });
});

// The Debian package's life on this machine, with the real apt and dpkg:
// build two versions (npm run deb's build, one with a version override),
// lintian, install the older, run the installed zettabee (--version, man,
// setup and initialize against the test bed, configured by editing
// /etc/zettabee as an admin would), upgrade, remove (configuration and
// state stay), purge (they go; ZFS stays exactly as it was).
//
// It installs into the real system, so it refuses to start where zettabee
// is installed already (or its files are there) rather than replace or
// purge someone's installation, and its after hook purges what it
// installed even when a step failed.
import { expect } from 'chai';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPLETION, ENTRIES, GENERATED, LAUNCHER, LIB_DIR, RUN_DIR, STATE_DIRS, SYMLINKS } from '../../deb/layout.js';
import { ensurePackages, getBed, type Bed } from '../harness/bed.js';
import { mountpointOf, runLauncher, sshKeys, treeHashes, writeRandom } from './support.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD = join(ROOT, 'dist/deb/build.js');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const OLD = `${PKG.version}~e2e1`;
const CFG = '/etc/zettabee/zettabee.cfg';
const INI = '/etc/zettabee/zettabee.ini';
const CONFFILES = ENTRIES.filter((e) => e.conffile).map((e) => e.path);
/** what the package puts on the machine, and what it and zettabee create there */
const FOOTPRINT = [...ENTRIES.map((e) => e.path), ...Object.values(GENERATED), ...Object.keys(SYMLINKS), LIB_DIR, '/etc/zettabee', ...STATE_DIRS, RUN_DIR];
/**
 * What lintian (pedantic) says, and why it stays:
 * - initial-upload-closes-no-bugs (W): the first Debian revision of a
 *   package should close its ITP bug in the Debian archive; this package is
 *   not uploaded to Debian, so there is none to close.
 * - manual-page-for-system-command (P, pedantic): /usr/sbin commands get
 *   section 8 pages; zettabee(1) keeps its section, which the units, the
 *   other man page, the README and every branch in flight cite.
 */
const LINTIAN_EXPLAINED = ['W: zettabee: initial-upload-closes-no-bugs [usr/share/doc/zettabee/changelog.Debian.gz:1]', 'P: zettabee: manual-page-for-system-command [usr/sbin/zettabee]'];

interface Run {
  code: number;
  out: string;
}

async function sh(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const r = await execa(file, args, {
    reject: false,
    stdin: 'ignore',
    all: true,
    timeout: opts.timeoutMs ?? 300_000,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  return { code: r.exitCode ?? -1, out: String(r.all ?? '') };
}

/** apt-get, waiting for a dpkg lock that another test process (installing QEMU) may hold */
const aptGet = (args: string[], cwd?: string) => sh('apt-get', ['-o', 'DPkg::Lock::Timeout=300', '-y', ...args], cwd ? { cwd } : {});

/** dpkg's idea of the package: 'installed', 'config-files', ... or 'not-installed' */
async function packageState(): Promise<string> {
  const r = await sh('dpkg-query', ['-W', '-f=${db:Status-Status} ${Version}', 'zettabee']);
  return r.code === 0 ? r.out.trim() : 'not-installed';
}

const zettabee = (args: string[], env: Record<string, string> = {}) => runLauncher(args, { launcher: LAUNCHER, env });

describe('e2e: the Debian package: build, lintian, install, run, upgrade, remove, purge (real apt, real zfs-fuse, real sshd)', function () {
  this.timeout(600_000);
  let bed: Bed;
  let src: string;
  let dst: string;
  let debs: { old: string; current: string };
  let fp: string;
  let zfsBefore: string;
  let hashesBefore: Record<string, string>;
  /** set once the machine is known to hold no zettabee of its own: only then may after() purge */
  let ours = false;
  let failed: string | undefined;

  before(async function () {
    const state = await packageState();
    if (state !== 'not-installed') throw new Error(`the zettabee package is on this machine already (${state}): this test installs and purges it, and will not replace or purge an installation it did not make`);
    const there = FOOTPRINT.filter((p) => existsSync(p));
    if (there.length) throw new Error(`zettabee's files are on this machine already (${there.join(', ')}): this test installs and purges the package, which would overwrite or remove them`);
    ours = true;
    bed = await getBed();
    src = await bed.createPool('debsrc', 256);
    dst = await bed.createPool('debdst', 256);
    await bed.run(['zfs', 'create', `${src}/data`]);
    await bed.run(['zfs', 'create', `${dst}/backup`]);
    const mnt = await mountpointOf(bed, `${src}/data`);
    writeRandom(`${mnt}/big.bin`, 1024 * 1024);
    writeFileSync(`${mnt}/hello.txt`, 'hello\n');
    // the admin's own snapshot and property, which nothing may touch
    await bed.run(['zfs', 'snapshot', `${src}/data@mine`]);
    await bed.run(['zfs', 'set', 'org.example:note=mine', `${src}/data`]);
    const out = mkdtempSync(join(bed.workdir, 'deb-'));
    const build = async (extra: string[]) => {
      const r = await sh(process.execPath, [BUILD, '--out', out, ...extra]);
      if (r.code !== 0) throw new Error(`node dist/deb/build.js --out ${out} ${extra.join(' ')} failed (${r.code}): ${r.out}`);
      return r.out.trim();
    };
    debs = { old: await build(['--version', OLD]), current: await build([]) };
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && !failed) failed = this.currentTest.title;
  });
  const step = () => {
    if (failed) throw new Error(`not run: it needs the step before, which failed: ${failed}`);
  };

  after(async function () {
    if (!ours) return;
    if ((await packageState()) !== 'not-installed') {
      const r = await aptGet(['purge', 'zettabee']);
      if (r.code !== 0) await sh('dpkg', ['--purge', 'zettabee']);
    }
  });

  it('builds zettabee_<version>_all.deb with the control fields, conffiles and files of deb/layout.ts', async () => {
    expect(debs.current.endsWith(`/zettabee_${PKG.version}-1_all.deb`), debs.current).to.equal(true);
    expect(debs.old.endsWith(`/zettabee_${OLD}-1_all.deb`), debs.old).to.equal(true);
    const field = async (f: string) => (await sh('dpkg-deb', ['-f', debs.current, f])).out.trim();
    expect(await field('Architecture')).to.equal('all');
    expect(await field('Depends')).to.equal('nodejs (>= 20.19)');
    expect(await field('Recommends')).to.equal('pv, mbuffer, openssh-client');
    expect(await field('Suggests')).to.equal('nsca-client, zfsutils-linux');
    const conffiles = await sh('dpkg-deb', ['-I', debs.current, 'conffiles']);
    expect(conffiles.out.trim().split('\n')).to.deep.equal(CONFFILES);
    const list = (await sh('dpkg-deb', ['-c', debs.current])).out;
    for (const p of [...ENTRIES.map((e) => e.path), ...Object.values(GENERATED), `${LIB_DIR}/cli.js`]) expect(list).to.match(new RegExp(` \\.${p.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(list).to.match(/^-rwxr-xr-x root\/root .* \.\/usr\/sbin\/zettabee$/m);
    expect(list).to.not.match(/node_modules/);
  });

  it('lintian: no errors, and only the warnings explained above', async () => {
    step();
    await ensurePackages(['lintian']);
    const r = await sh('lintian', ['--pedantic', '--info', debs.current]);
    const tags = r.out.split('\n').filter((l) => /^[EWIPX]: /.test(l));
    expect(tags.filter((t) => t.startsWith('E: ')), r.out).to.deep.equal([]);
    expect(tags, r.out).to.deep.equal(LINTIAN_EXPLAINED);
  });

  it('apt-get install: zettabee --version, man -w, the directories, and configuration that does nothing yet', async () => {
    step();
    const r = await aptGet(['install', '--no-install-recommends', `./${debs.old.split('/').pop()}`], join(debs.old, '..'));
    expect(r.code, r.out).to.equal(0);
    expect(await packageState()).to.equal(`installed ${OLD}-1`);
    expect(await zettabee(['--version'])).to.deep.include({ code: 0, stdout: OLD });
    expect((await sh('man', ['-w', 'zettabee'])).out.trim()).to.equal('/usr/share/man/man1/zettabee.1.gz');
    expect((await sh('man', ['-w', 'zettabee.cfg'])).out.trim()).to.equal('/usr/share/man/man5/zettabee.cfg.5.gz');
    // the alias: man follows the link to the page that describes both files
    expect((await sh('man', ['-w', 'zettabee.ini'])).out.trim()).to.equal('/usr/share/man/man5/zettabee.cfg.5.gz');
    for (const d of STATE_DIRS) {
      const st = statSync(d);
      expect({ dir: st.isDirectory(), mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid }, d).to.deep.equal({ dir: true, mode: '750', uid: 0, gid: 0 });
    }
    // not enabled: no timer is wanted by anything
    expect((await sh('sh', ['-c', 'ls /etc/systemd/system/*.wants/ 2>/dev/null | grep zettabee || true'])).out).to.equal('');
    // the pairs and settings files as installed: no pairs, nothing set, nothing run
    expect(await zettabee(['fingerprint'])).to.deep.include({ code: 0, stdout: '', stderr: '' });
    const update = await zettabee(['update']);
    expect(update.code).to.equal(2);
    expect(update.stderr).to.contain(`${CFG} has no pairs`);
    // bash completion, as bash-completion would load it
    const completion = await sh('bash', ['-c', `source ${COMPLETION}; COMP_WORDS=(zettabee se); COMP_CWORD=1; _zettabee_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    expect(completion.out.split('\n')).to.include('setup');
  });

  it('zettabee setup and initialize against the test bed, configured by editing /etc/zettabee', async () => {
    step();
    writeFileSync(CFG, `${readFileSync(CFG, 'utf8')}\n# the test bed\n${src}/data  ${dst}/backup/local\n127.0.0.1:${src}/data  ${dst}/backup/pull  ${sshKeys(bed)}\n`);
    const ini = readFileSync(INI, 'utf8');
    const edited = ini.replace(/^; known_hosts\s*=.*$/m, `known_hosts = ${bed.ssh.knownHosts}`);
    expect(edited).to.not.equal(ini);
    writeFileSync(INI, edited);
    const tmp = mkdtempSync('/tmp/zbt-');
    const setup = await zettabee(['setup'], { TMPDIR: tmp });
    expect(setup.stderr).to.equal('');
    expect(setup.code, setup.stdout).to.equal(0);
    const lines = setup.stdout.trim().split('\n');
    expect(lines.every((l) => l.startsWith('ok ')), setup.stdout).to.equal(true);
    expect(setup.stdout).to.contain(`source ${src}/data exists`);
    expect(setup.stdout).to.match(/ssh to source host root@127\.0\.0\.1 port \d+/);
    const init = await zettabee(['initialize', 'local'], { TMPDIR: tmp });
    expect(init, init.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    expect(treeHashes(await mountpointOf(bed, `${dst}/backup/local`))).to.deep.equal(treeHashes(await mountpointOf(bed, `${src}/data`)));
    const fps = await zettabee(['fingerprint']);
    fp = fps.stdout.split('\n').find((l) => l.endsWith(` ${dst}/backup/local`))!.split(' ')[0]!;
    expect(fp).to.match(/^[0-9a-f]{32}$/);
    expect(existsSync(`/var/lib/zettabee/${fp}.status`)).to.equal(true);
    expect(readFileSync(`/var/log/zettabee/${fp}.log`, 'utf8')).to.contain('setup: ok: source');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('upgrades to the current build with apt-get install: the edited conffiles and the state stay, and it replicates', async () => {
    step();
    const cfg = readFileSync(CFG, 'utf8');
    const ini = readFileSync(INI, 'utf8');
    const r = await aptGet(['install', '--no-install-recommends', `./${debs.current.split('/').pop()}`], join(debs.current, '..'));
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(new RegExp(`Unpacking zettabee \\(${PKG.version}-1\\) over \\(${OLD.replace(/[.]/g, '\\.')}-1\\)`));
    expect(await packageState()).to.equal(`installed ${PKG.version}-1`);
    expect(await zettabee(['--version'])).to.deep.include({ code: 0, stdout: PKG.version });
    expect(readFileSync(CFG, 'utf8')).to.equal(cfg);
    expect(readFileSync(INI, 'utf8')).to.equal(ini);
    expect(existsSync(`/var/lib/zettabee/${fp}.status`)).to.equal(true);
    writeFileSync(`${await mountpointOf(bed, `${src}/data`)}/after-upgrade.txt`, 'new\n');
    const update = await zettabee(['update', 'local']);
    expect(update, update.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    expect(treeHashes(await mountpointOf(bed, `${dst}/backup/local`))).to.deep.equal(treeHashes(await mountpointOf(bed, `${src}/data`)));
    const status = await zettabee(['status', 'local']);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.contain(`${dst}/backup/local`);
  });

  /**
   * every dataset and snapshot with its exact guid (zfs-fuse's zfs list has
   * no -p, zfs get has) and holds (userrefs: zfs-fuse's zfs holds needs
   * pyzfs), and every local user property
   */
  const zfsState = async (): Promise<string> => {
    const names = (await bed.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'all', '-r', src, dst])).split('\n').filter(Boolean);
    const ids = await bed.run(['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'type,guid,userrefs', ...names]);
    const props = (await bed.run(['zfs', 'get', '-H', '-o', 'name,property,value', '-s', 'local', 'all', ...names])).split('\n').filter((l) => l.split('\t')[1]?.includes(':'));
    return [ids, ...props].join('\n');
  };

  it('apt-get remove: the program goes; the conffiles, state and logs stay', async () => {
    step();
    zfsBefore = await zfsState();
    expect(zfsBefore).to.contain(`${src}/data@mine\tguid\t`).and.contain('org.example:note').and.contain(`zettabee:${fp}`).and.match(/\tguid\t\d{6,}$/m).and.match(/@zettabee\.\S+\tuserrefs\t1$/m);
    hashesBefore = treeHashes(await mountpointOf(bed, `${dst}/backup/local`));
    const cfg = readFileSync(CFG, 'utf8');
    const r = await aptGet(['remove', 'zettabee']);
    expect(r.code, r.out).to.equal(0);
    expect(await packageState()).to.equal(`config-files ${PKG.version}-1`);
    for (const p of [LAUNCHER, LIB_DIR, COMPLETION, '/usr/share/man/man1/zettabee.1.gz', '/lib/systemd/system/zettabee-update.service']) expect(existsSync(p), p).to.equal(false);
    for (const p of CONFFILES) expect(existsSync(p), p).to.equal(true);
    expect(readFileSync(CFG, 'utf8')).to.equal(cfg);
    expect(existsSync(`/var/lib/zettabee/${fp}.status`)).to.equal(true);
    expect(existsSync(`/var/log/zettabee/${fp}.log`)).to.equal(true);
  });

  it('apt-get purge: the conffiles, state, logs and lock directory go; every dataset, snapshot, property and hold stays', async () => {
    step();
    const r = await aptGet(['purge', 'zettabee']);
    expect(r.code, r.out).to.equal(0);
    expect(await packageState()).to.equal('not-installed');
    expect(FOOTPRINT.filter((p) => existsSync(p))).to.deep.equal([]);
    expect(await zfsState()).to.equal(zfsBefore);
    expect(treeHashes(await mountpointOf(bed, `${dst}/backup/local`))).to.deep.equal(hashesBefore);
  });
});

/**
 * Builds (or finds in the cache) a bootable image of Debian bookworm with
 * real OpenZFS: 2.1 from bookworm/contrib or 2.3 from bookworm-backports/contrib,
 * built by DKMS for Debian's cloud kernel. Everything comes from Debian's
 * packages on the mirror this machine's apt already uses, plus this
 * machine's own node binary (Debian's nodejs is too old for zettabee), so
 * that zettabee can run inside a guest.
 *
 * The cache lives outside the checkout (ZETTABEE_GUEST_CACHE, default
 * /var/cache/zettabee-test/openzfs) and is keyed by package versions: a new
 * kernel or zfs upload on the mirror builds a new image, an unchanged mirror
 * reuses the old one. Without the mirror the newest image of the flavour is
 * used as it is. The module build (DKMS, minutes) is cached on its own, so
 * only a kernel or zfs update pays for it.
 *
 * Each step has a name; a failing step rejects with that name, its log file
 * and the log's tail, so the test run fails saying what broke.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import { BUILD_BASE, BUILD_MODULES, BUILD_ROOTFS, GUEST_INIT, GUEST_START_ZFS, INITRD_INIT, SSHD_CONFIG } from './scripts.js';
import { hostRun, log, sh, stepError, tail } from './util.js';

export type Flavour = '2.1' | '2.3';
export const FLAVOURS: readonly Flavour[] = ['2.1', '2.3'];

/** bump when the recipe changes: it is part of every cache key */
const RECIPE = 3;
const SUITE = 'bookworm';

export interface Versions {
  /** kernel ABI, e.g. 6.1.0-57-cloud-amd64 */
  kabi: string;
  /** the kernel package's version */
  kver: string;
  /** zfs-dkms / zfsutils-linux version */
  zfs: string;
  /** the apt release the zfs packages come from */
  release: string;
}

export interface Image {
  flavour: Flavour;
  dir: string;
  versions: Versions;
  /** the guests' root key (the image authorizes its public half) */
  clientKey: string;
  /** the guests' host key, public half, "ssh-ed25519 AAAA..." */
  hostKey: string;
}

export function cacheRoot(): string {
  return process.env.ZETTABEE_GUEST_CACHE || '/var/cache/zettabee-test/openzfs';
}

const HOST_TOOLS: ReadonlyArray<[string, string]> = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['qemu-img', 'qemu-utils'],
  ['debootstrap', 'debootstrap'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['cpio', 'cpio'],
  ['zstd', 'zstd'],
  ['unshare', 'util-linux'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
}

/** the host packages qemu, debootstrap and the image build need; installed with apt when missing */
export async function ensureHostTools(): Promise<void> {
  const missing = new Set<string>();
  for (const [cmd, pkg] of HOST_TOOLS) if (!onPath(cmd)) missing.add(pkg);
  if (!fs.existsSync('/bin/busybox') || !(await hostRun('dpkg-query', ['-W', '-f=${Status}', 'busybox-static']).then((o) => o.includes('ok installed'), () => false))) missing.add('busybox-static');
  if (!fs.existsSync('/usr/share/keyrings/debian-archive-keyring.gpg')) missing.add('debian-archive-keyring');
  if (!fs.existsSync('/usr/share/qemu/qboot.rom')) missing.add('qemu-system-data');
  if (missing.size === 0) return;
  const pkgs = [...missing];
  log(`installing host packages for the OpenZFS guests: ${pkgs.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => hostRun('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, timeoutMs: 15 * 60_000 });
  try {
    await install();
  } catch {
    await hostRun('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-q'], { env, timeoutMs: 10 * 60_000 });
    await install();
  }
}

/** the Debian mirrors this machine's apt uses (deb822 .sources or sources.list) */
export function mirrors(): { main: string; security: string } {
  const uris: string[] = [];
  const dir = '/etc/apt/sources.list.d';
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    if (f.endsWith('.sources')) for (const m of text.matchAll(/^URIs:\s*(.+)$/gm)) uris.push(...m[1]!.trim().split(/\s+/));
    if (f.endsWith('.list')) for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)) uris.push(m[1]!);
  }
  if (fs.existsSync('/etc/apt/sources.list')) {
    for (const m of fs.readFileSync('/etc/apt/sources.list', 'utf8').matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)) uris.push(m[1]!);
  }
  const env = { main: process.env.ZETTABEE_GUEST_MIRROR, security: process.env.ZETTABEE_GUEST_SECURITY_MIRROR };
  const main = env.main || uris.find((u) => !/-security/.test(u) && /debian/.test(u)) || 'http://deb.debian.org/debian';
  const security = env.security || uris.find((u) => /-security/.test(u)) || 'http://deb.debian.org/debian-security';
  return { main: main.replace(/\/$/, ''), security: security.replace(/\/$/, '') };
}

// ---------------------------------------------------------------------------
// versions, through a private apt state (the host's apt configuration is not touched)

function aptArgs(root: string): string[] {
  const d = path.join(root, 'apt');
  return [
    '-o', `Dir::Etc::SourceList=${d}/sources.list`,
    '-o', `Dir::Etc::SourceParts=${d}/none`,
    '-o', `Dir::Etc::Preferences=${d}/none/preferences`,
    '-o', `Dir::Etc::PreferencesParts=${d}/none`,
    '-o', `Dir::State::Lists=${d}/lists`,
    '-o', `Dir::Cache=${d}/cache`,
    '-o', 'Dir::State::status=/dev/null',
    '-o', 'APT::Architecture=amd64',
    '-o', 'Debug::NoLocking=1',
  ];
}

function releaseOf(flavour: Flavour): string {
  return flavour === '2.1' ? SUITE : `${SUITE}-backports`;
}

async function resolveVersions(root: string, flavour: Flavour): Promise<Versions> {
  const d = path.join(root, 'apt');
  for (const sub of ['lists/partial', 'cache/archives/partial', 'none']) fs.mkdirSync(path.join(d, sub), { recursive: true });
  const m = mirrors();
  const k = '[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]';
  fs.writeFileSync(
    path.join(d, 'sources.list'),
    [`deb ${k} ${m.main} ${SUITE} main contrib`, `deb ${k} ${m.main} ${SUITE}-updates main contrib`, `deb ${k} ${m.security} ${SUITE}-security main contrib`, `deb ${k} ${m.main} ${SUITE}-backports main contrib`, ''].join('\n'),
  );
  await hostRun('apt-get', [...aptArgs(root), '-q', 'update'], { timeoutMs: 10 * 60_000 });
  const show = (pkg: string) => hostRun('apt-cache', [...aptArgs(root), 'show', '--no-all-versions', pkg]);
  const meta = await show('linux-image-cloud-amd64');
  const kabi = /^Depends:.*?\blinux-image-(\d[^ ,]*-cloud-amd64)/m.exec(meta)?.[1];
  if (!kabi) throw new Error(`no linux-image-*-cloud-amd64 in the Depends of linux-image-cloud-amd64:\n${meta.slice(0, 500)}`);
  const kver = /^Version: (\S+)/m.exec(await show(`linux-image-${kabi}`))?.[1];
  if (!kver) throw new Error(`no version for linux-image-${kabi}`);
  const release = releaseOf(flavour);
  const madison = await hostRun('apt-cache', [...aptArgs(root), 'madison', 'zfs-dkms']);
  // "  zfs-dkms | 2.3.2-2~bpo12+2 | http://... bookworm-backports/contrib amd64 Packages"
  const zfs = madison
    .split('\n')
    .map((l) => l.split('|').map((f) => f.trim()))
    .find((f) => f.length >= 3 && new RegExp(`\\s${release}/contrib\\s`).test(` ${f[2]} `))?.[1];
  if (!zfs) throw new Error(`no zfs-dkms in ${release}/contrib on ${m.main}:\n${madison}`);
  if (!zfs.startsWith(flavour)) throw new Error(`${release}/contrib has zfs-dkms ${zfs}, not ${flavour}.x`);
  return { kabi, kver, zfs, release };
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '_');

// ---------------------------------------------------------------------------

/** one throwaway client key and one host key for every guest of this cache */
async function sshKeys(root: string): Promise<{ client: string; host: string }> {
  const d = path.join(root, 'ssh');
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  const client = path.join(d, 'id_ed25519');
  const host = path.join(d, 'ssh_host_ed25519_key');
  for (const [f, c] of [[client, 'zettabee-test-client'], [host, 'zettabee-test-guest']] as const) {
    if (!fs.existsSync(f) || !fs.existsSync(`${f}.pub`)) {
      fs.rmSync(f, { force: true });
      fs.rmSync(`${f}.pub`, { force: true });
      await hostRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', c, '-f', f]);
    }
  }
  return { client, host };
}

/** run a build script in a private mount namespace, niced (tests may run meanwhile), logged to a file */
async function script(name: string, logFile: string, text: string, args: string[], timeoutMs: number): Promise<void> {
  try {
    await hostRun('nice', ['-n', '10', 'unshare', '--mount', '--propagation', 'private', 'bash', '-euo', 'pipefail', '-c', text, name, ...args], { logFile, timeoutMs });
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n--- ${logFile} (last lines) ---\n${tail(logFile, 3000)}`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(to), { recursive: true });
  await hostRun('cp', ['-a', '--reflink=auto', from, to]);
}

interface BuildCtx {
  root: string;
  flavour: Flavour;
  v: Versions;
  debs: string;
}

/** the base root file system for the kernel: debootstrap plus kernel (about a minute) */
async function ensureBase(c: BuildCtx): Promise<string> {
  const dir = path.join(c.root, 'base', safe(`${c.v.kabi}_${c.v.kver}_r${RECIPE}`));
  if (fs.existsSync(path.join(dir, 'ready'))) return path.join(dir, 'rootfs');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const m = mirrors();
  const t0 = Date.now();
  await stepError('build the base root file system (debootstrap bookworm and the guest kernel)', () =>
    script('build-base', path.join(dir, 'build.log'), BUILD_BASE, [path.join(dir, 'rootfs'), m.main, m.security, c.debs, c.v.kabi, c.v.kver], 20 * 60_000),
  );
  fs.writeFileSync(path.join(dir, 'ready'), '');
  log(`base root file system for ${c.v.kabi} built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return path.join(dir, 'rootfs');
}

/** the zfs modules of the flavour for the guest kernel, as a .deb (DKMS: minutes, once) */
async function ensureModules(c: BuildCtx, base: string): Promise<string> {
  const dir = path.join(c.root, 'modules');
  fs.mkdirSync(dir, { recursive: true });
  const deb = path.join(dir, `zfs-modules-${c.v.kabi}_${safe(c.v.zfs)}_amd64.deb`);
  if (fs.existsSync(deb)) return deb;
  const work = path.join(dir, `build-${safe(c.v.zfs)}`);
  await stepError('copy the base root file system for the module build', () => copyTree(base, path.join(work, 'rootfs')));
  const t0 = Date.now();
  log(`building the OpenZFS ${c.v.zfs} module for ${c.v.kabi} with DKMS (about 3 minutes on 2 cores, once)`);
  await stepError(`build the zfs ${c.v.zfs} kernel module with DKMS`, () =>
    script('build-modules', path.join(dir, `build-${safe(c.v.zfs)}.log`), BUILD_MODULES, [path.join(work, 'rootfs'), c.debs, c.v.kabi, c.v.kver, c.v.zfs, c.v.release, deb], 60 * 60_000),
  );
  fs.rmSync(work, { recursive: true, force: true });
  log(`zfs ${c.v.zfs} module built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return deb;
}

function writeGuestConfig(rootfs: string, keys: { client: string; host: string }): void {
  const w = (rel: string, text: string, mode = 0o644) => {
    const f = path.join(rootfs, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text, { mode });
    fs.chmodSync(f, mode);
  };
  w('etc/hostname', 'zbguest\n');
  w('etc/hosts', '127.0.0.1 localhost\n127.0.1.1 zbguest\n');
  w('etc/fstab', '/dev/vda / ext4 rw,relatime 0 1\n');
  for (const f of fs.readdirSync(path.join(rootfs, 'etc/ssh'))) if (f.startsWith('ssh_host_')) fs.rmSync(path.join(rootfs, 'etc/ssh', f));
  w('etc/ssh/ssh_host_ed25519_key', fs.readFileSync(keys.host, 'utf8'), 0o600);
  w('etc/ssh/ssh_host_ed25519_key.pub', fs.readFileSync(`${keys.host}.pub`, 'utf8'));
  w('etc/ssh/sshd_config.d/zettabee-test.conf', SSHD_CONFIG);
  fs.mkdirSync(path.join(rootfs, 'root/.ssh'), { recursive: true, mode: 0o700 });
  w('root/.ssh/authorized_keys', fs.readFileSync(`${keys.client}.pub`, 'utf8'), 0o600);
  w('sbin/zettabee-init', GUEST_INIT, 0o755);
  w('usr/local/sbin/zettabee-start-zfs', GUEST_START_ZFS, 0o755);
}

async function makeInitrd(rootfs: string, kabi: string, order: string[], out: string): Promise<void> {
  const dir = `${out}.d`;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot', 'modules']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const kernelDir = path.join(rootfs, 'lib/modules', kabi, 'kernel');
  const files = (await hostRun('find', [kernelDir, '-name', '*.ko*'])).split('\n').filter(Boolean);
  for (const m of order) {
    const f = files.find((x) => path.basename(x).replace(/\.ko(\..*)?$/, '') === m);
    if (!f) throw new Error(`initrd: module ${m} not found under ${kernelDir}`);
    const to = path.join(dir, 'modules', `${m}.ko`);
    if (f.endsWith('.xz')) fs.writeFileSync(to, await hostRun('xz', ['-dc', f], { binary: true }));
    else if (f.endsWith('.zst')) fs.writeFileSync(to, await hostRun('zstd', ['-qdc', f], { binary: true }));
    else fs.copyFileSync(f, to);
  }
  fs.writeFileSync(path.join(dir, 'modules/order'), order.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'init'), INITRD_INIT, { mode: 0o755 });
  await hostRun('mknod', ['-m', '600', path.join(dir, 'dev/console'), 'c', '5', '1']);
  await sh(`cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 > "$2"`, [dir, out]);
  fs.rmSync(dir, { recursive: true, force: true });
}

function imageKey(flavour: Flavour, v: Versions, clientPub: string): string {
  const keyHash = createHash('sha256').update(clientPub).digest('hex').slice(0, 8);
  return safe(`zfs${v.zfs}_k${v.kabi}_${v.kver}_node${process.version}_r${RECIPE}_${keyHash}`) + `_${flavour}`;
}

function readImage(dir: string, flavour: Flavour, keys: { client: string; host: string }): Image {
  const versions = JSON.parse(fs.readFileSync(path.join(dir, 'versions.json'), 'utf8')) as Versions;
  return { flavour, dir, versions, clientKey: keys.client, hostKey: fs.readFileSync(`${keys.host}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ') };
}

async function buildImage(c: BuildCtx, keys: { client: string; host: string }, dir: string): Promise<void> {
  const base = await ensureBase(c);
  const deb = await ensureModules(c, base);
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const rootfs = path.join(tmp, 'rootfs');
  await stepError('copy the base root file system', () => copyTree(base, rootfs));
  await stepError(`install zfsutils-linux ${c.v.zfs} and the module into the image`, () =>
    script('build-rootfs', path.join(tmp, 'build.log'), BUILD_ROOTFS, [rootfs, c.debs, c.v.kabi, c.v.zfs, c.v.release, deb, process.execPath], 20 * 60_000),
  );
  writeGuestConfig(rootfs, keys);
  const order = fs.readFileSync(path.join(tmp, 'initrd-modules'), 'utf8').split('\n').filter(Boolean);
  await stepError('make the kernel and initrd', async () => {
    fs.copyFileSync(path.join(rootfs, 'boot', `vmlinuz-${c.v.kabi}`), path.join(tmp, 'vmlinuz'));
    await makeInitrd(rootfs, c.v.kabi, order, path.join(tmp, 'initrd'));
  });
  await stepError('make the root disk (mkfs.ext4 -d, qemu-img convert)', async () => {
    const mb = Number((await hostRun('du', ['-sm', '--apparent-size', rootfs])).split(/\s+/)[0]) + 1024;
    const raw = path.join(tmp, 'root.raw');
    await hostRun('mkfs.ext4', ['-q', '-L', 'zbroot', '-E', 'root_owner=0:0', '-O', '^has_journal', '-d', rootfs, raw, `${mb}M`], { timeoutMs: 10 * 60_000 });
    await hostRun('qemu-img', ['convert', '-O', 'qcow2', raw, path.join(tmp, 'root.qcow2')], { timeoutMs: 10 * 60_000 });
    fs.rmSync(raw);
  });
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.writeFileSync(path.join(tmp, 'versions.json'), JSON.stringify(c.v, null, 2) + '\n');
  fs.writeFileSync(path.join(tmp, 'ready'), new Date().toISOString() + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

/** newest ready image of the flavour, for a machine that cannot reach the mirror */
function newestCached(root: string, flavour: Flavour): string | undefined {
  const d = path.join(root, 'images');
  if (!fs.existsSync(d)) return undefined;
  return fs
    .readdirSync(d)
    .filter((n) => n.endsWith(`_${flavour}`) && fs.existsSync(path.join(d, n, 'ready')))
    .map((n) => path.join(d, n))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/**
 * The image for the flavour: from the cache when the mirror still has the
 * same kernel and zfs (and node is the same), otherwise built now (about 4
 * minutes with DKMS, 1 with the module cached). One build at a time per cache.
 */
export async function ensureImage(flavour: Flavour): Promise<Image> {
  const root = cacheRoot();
  fs.mkdirSync(root, { recursive: true });
  await stepError('install the host packages (qemu, debootstrap, busybox-static)', ensureHostTools);
  const keys = await stepError('make the guests\' ssh keys', () => sshKeys(root));
  let v: Versions;
  try {
    // one apt update at a time on the private apt state
    const unlock = await lockfile.lock(root, { lockfilePath: path.join(root, '.apt.lock'), stale: 60_000, update: 10_000, retries: { retries: 300, minTimeout: 1000, maxTimeout: 1000 } });
    try {
      v = await resolveVersions(root, flavour);
    } finally {
      await unlock();
    }
  } catch (e) {
    const cached = newestCached(root, flavour);
    if (!cached) throw new Error(`OpenZFS ${flavour} image: step failed: resolve package versions on the Debian mirror (${mirrors().main}), and no cached image: ${e instanceof Error ? e.message : String(e)}`);
    log(`cannot reach the mirror (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); using the cached image ${cached}`);
    return readImage(cached, flavour, keys);
  }
  const dir = path.join(root, 'images', imageKey(flavour, v, fs.readFileSync(`${keys.client}.pub`, 'utf8')));
  if (fs.existsSync(path.join(dir, 'ready'))) return readImage(dir, flavour, keys);
  fs.mkdirSync(path.join(root, 'images'), { recursive: true });
  const release = await lockfile.lock(root, { lockfilePath: path.join(root, '.build.lock'), stale: 60_000, update: 10_000, retries: { retries: 400, minTimeout: 3000, maxTimeout: 3000 } });
  try {
    if (!fs.existsSync(path.join(dir, 'ready'))) {
      const t0 = Date.now();
      log(`building the OpenZFS ${flavour} guest image: zfs ${v.zfs} from ${v.release}, kernel ${v.kabi} ${v.kver}`);
      const debs = path.join(root, 'debs');
      fs.mkdirSync(path.join(debs, 'partial'), { recursive: true });
      await buildImage({ root, flavour, v, debs }, keys, dir);
      log(`OpenZFS ${flavour} image ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${dir}`);
    }
  } finally {
    await release();
  }
  return readImage(dir, flavour, keys);
}

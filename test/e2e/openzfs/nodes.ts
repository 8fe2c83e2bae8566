// The two kinds of ZFS machine the replication tests run against, behind one
// face: this machine's zfs-fuse (the fast tier) and an OpenZFS guest (the
// truth). Every look at the data goes through a shell on the machine that
// holds it, so a test body reads the same for both; and the places zettabee
// runs from: this machine, or inside a guest (transport=local on OpenZFS).
import { createHash, randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { appendFileSync, readFileSync } from 'node:fs';
import { getBed, type Bed } from '../../harness/bed.js';
import { getGuests, type GuestBed } from '../../harness/openzfs/bed.js';
import { ZFS_MOUNT_RETRY, type DATA_DISKS, type Guest } from '../../harness/openzfs/guest.js';
import { LAUNCHER, makeSite, sshKeys, type Result } from '../support.js';

export interface ZfsNode {
  /** 'zfs-fuse', 'OpenZFS 2.1', 'OpenZFS 2.3' */
  readonly label: string;
  readonly kind: 'fuse' | 'openzfs';
  /** the guest, for an OpenZFS node */
  readonly guest?: Guest;
  /** run a sh script on the node with $1.. = args; rejects unless it exits 0 */
  sh(script: string, args?: readonly string[], input?: string | Buffer): Promise<string>;
  /** a new pool of this run (a per-run prefix), `size` MiB where the node needs a size */
  createPool(suffix: string, opts?: { small?: boolean }): Promise<string>;
}

/**
 * Under load OpenZFS now and then makes a file system but cannot mount it
 * ("mountpoint or dataset is busy ... filesystem successfully created, but
 * not mounted", seen in a full run on 2.3): a `zfs create` is then mounted
 * again, for up to 10 s. Any other failure stands.
 */
const ZFS_CREATE = `${ZFS_MOUNT_RETRY}; err=$("$@" 2>&1) && exit 0; case $err in *"successfully created, but not mounted"*) for ds; do :; done; zfs_mount_retry "$ds" && exit 0;; esac; printf '%s\\n' "$err" >&2; exit 1`;

export async function zfs(node: ZfsNode, ...argv: string[]): Promise<string> {
  return node.sh(argv[0] === 'zfs' && argv[1] === 'create' && !argv.includes('-V') ? ZFS_CREATE : 'exec "$@"', argv);
}

export async function mountpoint(node: ZfsNode, ds: string): Promise<string> {
  return (await zfs(node, 'zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds)).trim();
}

/** `bytes` of random data into a new file of the dataset's mounted file system */
export async function writeRandom(node: ZfsNode, ds: string, file: string, bytes: number): Promise<void> {
  await node.sh('m=$(zfs get -H -o value mountpoint "$1") && head -c "$3" /dev/urandom > "$m/$2" && sync', [ds, file, String(bytes)]);
}

export async function writeText(node: ZfsNode, ds: string, file: string, text: string): Promise<void> {
  await node.sh('m=$(zfs get -H -o value mountpoint "$1") && mkdir -p "$(dirname "$m/$2")" && cat > "$m/$2"', [ds, file], text);
}

/**
 * unmount the dataset and mount it again, so that a change of readonly
 * takes effect (zfs-fuse keeps a mounted file system as it was). Under load
 * zfs-fuse's mount right after its umount can fail: it is tried for up to
 * 10 s. Rejects unless the dataset is mounted at the end: a write meant for
 * it must never land in the bare directory below.
 */
export async function remount(node: ZfsNode, ds: string): Promise<void> {
  await node.sh(
    `${ZFS_MOUNT_RETRY}; zfs umount "$1" || exit 1; zfs_mount_retry "$1" || { zfs mount "$1"; exit 1; }`,
    [ds],
  );
}

/**
 * sha256 of every regular file under the dataset's mountpoint, by path; an
 * unmounted dataset is mounted first (zettabee receives with -u where zfs can)
 */
export async function treeHash(node: ZfsNode, ds: string): Promise<Record<string, string>> {
  const out = await node.sh(
    // one zfs and two other processes: in a guest each costs tens of ms of emulated CPU
    'v=$(zfs get -H -o value mountpoint,mounted "$1") || exit; IFS="\n"; set -- "$1" $v; unset IFS; [ -n "$2" ] || exit 1; [ "$3" = yes ] || zfs mount "$1" || exit 1; cd "$2" && find . -type f ! -path "./.zfs/*" -exec sha256sum {} +',
    [ds],
  );
  const r: Record<string, string> = {};
  for (const l of out.split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64})\s+\.\/(.*)$/.exec(l);
    if (m) r[m[2]!] = m[1]!;
  }
  return r;
}

/** short snapshot names of a dataset, oldest first */
export async function snapshots(node: ZfsNode, ds: string): Promise<string[]> {
  const out = await zfs(node, 'zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-s', 'createtxg', '-d', '1', ds);
  return out.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('@') + 1));
}

/** snapshot short name -> guid (exact: zfs get -Hp works on both kinds) */
export async function guids(node: ZfsNode, ds: string): Promise<Record<string, string>> {
  const out = await zfs(node, 'zfs', 'get', '-H', '-p', '-o', 'name,value', '-d', '1', 'guid', ds);
  const m: Record<string, string> = {};
  for (const l of out.split('\n').filter(Boolean)) {
    const [name, value] = l.split('\t');
    if (name!.includes('@')) m[name!.slice(name!.indexOf('@') + 1)] = value!;
  }
  return m;
}

export async function prop(node: ZfsNode, ds: string, p: string): Promise<string> {
  return (await zfs(node, 'zfs', 'get', '-H', '-p', '-o', 'value', p, ds)).trim();
}

export async function exists(node: ZfsNode, ds: string): Promise<boolean> {
  return node.sh('zfs list -H -o name "$1" >/dev/null 2>&1 && echo yes || echo no', [ds]).then((o) => o.trim() === 'yes');
}

/** the user holds on a snapshot, by tag: `zfs holds` where it works, else only the count (zfs-fuse) */
export async function holdTags(node: ZfsNode, snap: string): Promise<string[] | number> {
  if (node.kind === 'fuse') return Number(await prop(node, snap, 'userrefs'));
  const out = await zfs(node, 'zfs', 'holds', '-H', snap);
  return out.split('\n').filter(Boolean).map((l) => l.split('\t')[1]!);
}

// ---------------------------------------------------------------------------

class FuseNode implements ZfsNode {
  readonly label = 'zfs-fuse';
  readonly kind = 'fuse' as const;
  constructor(readonly bed: Bed) {}
  async sh(script: string, args: readonly string[] = [], input?: string | Buffer): Promise<string> {
    const r = await execa('sh', ['-c', script, 'sh', ...args], { reject: false, timeout: 120_000, ...(input !== undefined ? { input } : {}), env: { LC_ALL: 'C' } });
    if (r.exitCode !== 0) throw new Error(`on zfs-fuse: ${script} ${args.join(' ')}: exit ${r.exitCode}: ${String(r.stderr).trim()}`);
    return String(r.stdout);
  }
  createPool(suffix: string, opts: { small?: boolean } = {}): Promise<string> {
    return this.bed.createPool(suffix, opts.small ? 64 : 512);
  }
}

/** the whole virtual disk this test process may use in each guest (test/run.ts gives each OpenZFS process its own) */
const DISK = (process.env.ZETTABEE_TEST_DISK ?? 'vdb') as (typeof DATA_DISKS)[number];

class GuestNode implements ZfsNode {
  readonly kind = 'openzfs' as const;
  private diskUsed = false;
  constructor(
    readonly guest: Guest,
    private readonly prefix: string,
  ) {}
  get label(): string {
    return `OpenZFS ${this.guest.flavour}`;
  }
  sh(script: string, args: readonly string[] = [], input?: string | Buffer): Promise<string> {
    return this.guest.sh(script, args, input !== undefined ? { input } : {});
  }
  createPool(suffix: string, opts: { small?: boolean } = {}): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    // the first pool gets this process's whole virtual disk; the rest (and small ones) file vdevs in the guest
    if (!opts.small && !this.diskUsed) {
      this.diskUsed = true;
      return this.guest.createPool(name, DISK);
    }
    return this.guest.createFilePool(name, opts.small ? 64 : 512);
  }
}

let fuseNode: Promise<{ bed: Bed; fuse: ZfsNode }> | undefined;

/** the zfs-fuse bed as a node */
export function getFuse(): Promise<{ bed: Bed; fuse: ZfsNode }> {
  fuseNode ??= getBed().then((bed) => ({ bed, fuse: new FuseNode(bed) }));
  return fuseNode;
}

export interface Nodes {
  bed: Bed;
  guests: GuestBed;
  fuse: ZfsNode;
  oz21: ZfsNode;
  oz23: ZfsNode;
}

let nodes: Promise<Nodes> | undefined;

/** the zfs-fuse bed and both guests; the guests' host keys join the bed's known_hosts (the sites use it) */
export function getNodes(): Promise<Nodes> {
  nodes ??= (async () => {
    const [{ bed, fuse }, guests] = await Promise.all([getFuse(), getGuests()]);
    if (!readFileSync(bed.ssh.knownHosts, 'utf8').includes(guests.knownHosts.trim())) appendFileSync(bed.ssh.knownHosts, guests.knownHosts);
    return { bed, guests, fuse, oz21: new GuestNode(guests['2.1'], guests.prefix), oz23: new GuestNode(guests['2.3'], guests.prefix) };
  })();
  return nodes;
}

// ---------------------------------------------------------------------------
// where zettabee runs

export interface TestSite {
  /** where it runs: 'this machine' or the guest's name */
  readonly where: string;
  readonly paths: { state: string; lock: string; log: string };
  writePairs(lines: string[]): Promise<void>;
  run(args: string[], opts?: { timeoutMs?: number }): Promise<Result>;
  /** the pair's log file */
  log(fp: string): Promise<string>;
  /** start a run in a process group of its own, without waiting (this machine only: kill -9 tests), with more environment */
  spawnDetached?(args: string[], env?: Record<string, string>): ResultPromise;
  /** the pairs file (this machine only: the daemon's kill file is beside it) */
  pairsFile?: string;
}

/** zettabee on this machine, as cron runs it (support.ts makeSite) */
export function hostSite(bed: Bed): TestSite & { site: ReturnType<typeof makeSite> } {
  const site = makeSite(bed);
  return {
    site,
    where: 'this machine',
    paths: site.paths,
    writePairs: async (lines) => site.writePairs(lines),
    run: (args, opts) => site.run(args, opts?.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    log: async (fp) => readFileSync(`${site.paths.log}/${fp}.log`, 'utf8'),
    pairsFile: site.pairsFile,
    spawnDetached: (args, env = {}) =>
      execa(LAUNCHER, ['-c', site.pairsFile, '--settings', site.settingsFile, ...args], { reject: false, detached: true, timeout: 300_000, env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', ...env } }),
  };
}

/** zettabee inside a guest: this checkout's bundle and launcher, node copied into the image */
export async function guestSite(guest: Guest): Promise<TestSite> {
  const launcher = await guest.installZettabee(new URL('../../../../', import.meta.url).pathname);
  const dir = `/root/site-${randomBytes(4).toString('hex')}`;
  const paths = { state: `${dir}/state`, lock: `${dir}/lock`, log: `${dir}/log` };
  await guest.sh('mkdir -p "$1" && cat > "$1/zettabee.ini" && : > "$1/zettabee.cfg"', [dir], { input: `[paths]\nstate = ${paths.state}\nlock = ${paths.lock}\nlog = ${paths.log}\n` });
  return {
    where: guest.name,
    paths,
    writePairs: async (lines) => {
      await guest.sh('cat > "$1/zettabee.cfg"', [dir], { input: lines.join('\n') + '\n' });
    },
    run: async (args, opts) => {
      const r = await guest.exec([launcher, '-c', `${dir}/zettabee.cfg`, '--settings', `${dir}/zettabee.ini`, ...args], { timeoutMs: opts?.timeoutMs ?? 180_000 });
      return { code: r.code, stdout: r.stdout.replace(/\n$/, ''), stderr: r.stderr.replace(/\n$/, '') };
    },
    log: (fp) => guest.sh('cat "$1"', [`${paths.log}/${fp}.log`]),
  };
}

/** a stable short tag for names in a test (datasets must differ between worlds sharing a pool) */
export function tag(text: string): string {
  return createHash('md5').update(text).digest('hex').slice(0, 6);
}

export { sshKeys };

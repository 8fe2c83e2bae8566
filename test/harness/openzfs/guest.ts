/**
 * OpenZFS guests for the tests: QEMU under TCG (nested KVM does not work on
 * these machines), each booted from the image's saved state onto a fresh
 * copy-on-write overlay and fresh virtual data disks, so every run starts
 * clean and a boot takes seconds. Each guest is reachable over ssh as root
 * at its own loopback address (127.0.0.2, 127.0.0.3, ...) on one port that
 * all guests share, so a pairs-file line can name two guests with one
 * `sshport`. The guest reaches this machine's 127.0.0.1 as 10.0.2.2.
 *
 * The saved state is taken before zfs is loaded (see GUEST_START_ZFS): after
 * each start the guest gets host randomness, the right clock, its own host
 * name and host id, and only then loads zfs, so two guests never hand out
 * the same guids (checked in startGuests).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import { quoteArgv } from '../../../src/exec/quote.js';
import { ensureImage, type Flavour, type Image } from './image.js';
import { Qmp } from './qmp.js';
import { hostExec, hostRun, log, sleep, stepError, tail } from './util.js';

/** the machine's shape: the saved state only restores onto the same one */
const MEM_MIB = 1024;
// One plain qemu64 vCPU: under TCG a guest's cost is CPU, and the suite's
// three processes share this machine's 2 cores with the guests. Measured
// here (the same commands: zfs list, snapshot/hold/release/destroy, a
// 16 MiB write, hash and send|recv, ssh sessions), qemu64 with 1 vCPU took
// 18 % less of the machine's CPU than -cpu max with 2, at the same wall
// time: glibc and the zfs module take plain SSE paths that TCG runs
// cheaply, and one vCPU has no cross-CPU synchronisation to emulate.
// The guest kernel's Spectre mitigations (retpolines) cost nothing
// measurable either: with mitigations=off on the kernel command line a
// zfs list took 115 ms against 102 to 119 ms, /bin/true 25 to 32 ms
// against 25 to 29 (2026-12-03, quiet), so the command line keeps them.
// ZETTABEE_GUEST_CPU and ZETTABEE_GUEST_SMP override them (a new saved
// state is made for each shape).
const SMP = Number(process.env.ZETTABEE_GUEST_SMP ?? 1);
const CPU = process.env.ZETTABEE_GUEST_CPU ?? 'qemu64';
/** virtual data disks, /dev/vdb onwards (sparse qcow2: only what is written costs) */
export const DATA_DISKS = ['vdb', 'vdc', 'vdd', 'vde'] as const;
const DISK_SIZE = '2G';

export interface GuestSpec {
  name: string;
  flavour: Flavour;
  /** the loopback address its ssh is forwarded from */
  address: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function stateTag(qemuVersion: string): string {
  return createHash('md5').update([qemuVersion, CPU, SMP, MEM_MIB, DATA_DISKS.length, DISK_SIZE].join('|')).digest('hex').slice(0, 12);
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s*Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

function qemuArgs(image: Image, dir: string, address: string, port: number): string[] {
  const a = [
    '-name', `zettabee-test-${path.basename(dir)}`,
    '-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', 'tcg,thread=multi',
    '-cpu', CPU, '-smp', String(SMP), '-m', String(MEM_MIB), '-display', 'none',
    '-bios', '/usr/share/qemu/qboot.rom',
    '-kernel', path.join(image.dir, 'vmlinuz'), '-initrd', path.join(image.dir, 'initrd'),
    '-append', 'console=ttyS0 root=/dev/vda rw quiet loglevel=4 tsc=reliable',
    '-drive', `file=${dir}/root.qcow2,if=none,id=root,format=qcow2,cache=unsafe,discard=unmap`,
    '-device', 'virtio-blk-pci,drive=root,serial=zb-root',
  ];
  DATA_DISKS.forEach((_, i) => {
    a.push('-drive', `file=${dir}/data${i + 1}.qcow2,if=none,id=data${i + 1},format=qcow2,cache=unsafe,discard=unmap`, '-device', `virtio-blk-pci,drive=data${i + 1},serial=zb-data${i + 1}`);
  });
  a.push(
    '-nic', `user,model=virtio-net-pci,hostfwd=tcp:${address}:${port}-:22`,
    '-device', 'virtio-rng-pci',
    '-serial', `file:${dir}/console.log`, '-monitor', 'none',
    '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`,
    '-pidfile', `${dir}/qemu.pid`, '-daemonize',
  );
  return a;
}

async function makeDisks(dir: string, rootBacking: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await hostRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', rootBacking, path.join(dir, 'root.qcow2')]);
  for (let i = 1; i <= DATA_DISKS.length; i++) await hostRun('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, `data${i}.qcow2`), DISK_SIZE]);
}

/**
 * A shell function: zfs_mount_retry DS mounts DS, trying for up to 10 s (a
 * mount right after a create or an umount can fail under load), and fails
 * unless DS is mounted at the end. Plain sh: zfs-fuse's tests use it too.
 */
export const ZFS_MOUNT_RETRY =
  'zfs_mount_retry() { i=0; until zfs mount "$1" 2>/dev/null || [ "$(zfs get -H -o value mounted "$1")" = yes ]; do [ $i -lt 20 ] || return 1; sleep 0.5; i=$((i+1)); done; }';

/**
 * A shell function: zpool_create POOL ARGS... runs `zpool create ARGS...`.
 * Now and then under load OpenZFS 2.1 makes the pool but fails to mount it,
 * "mountpoint or dataset is busy" (seen twice in full runs): then the pool
 * is mounted again, for up to 10 s. Any other failure stands.
 */
export const ZPOOL_CREATE = [
  ZFS_MOUNT_RETRY,
  'zpool_create() { p=$1; shift; err=$(zpool create "$@" 2>&1) && return 0',
  'case $err in *"dataset is busy"*) ;; *) echo "$err" >&2; return 1;; esac',
  'zpool list -H -o name "$p" >/dev/null 2>&1 || { echo "$err" >&2; return 1; }',
  'zfs_mount_retry "$p" || { echo "$err" >&2; return 1; }; }',
].join('; ');

/**
 * sshd restarted, in every guest after every boot or restore, so that a new
 * connection costs the emulated CPU half as much: without re-exec (-r: the
 * listener forks, the child does not load sshd and its libraries again) and
 * with curve25519 key exchange only (the client's default, sntrup761, costs
 * more). A login took 0.48 s of the guest's CPU, 0.25 s this way, and every
 * zettabee run makes one or two (its own ssh master per host). Sessions that
 * are open (this one) are not the listener's and stay.
 * chacha20-poly1305 comes first (the image's sshd_config offers AES-GCM
 * only, chosen when the guests had -cpu max and AES-NI): on the plain
 * qemu64 vCPU, 32 MiB from this machine through ssh cost the guest 1.9 s
 * of CPU with it against 2.9 s with aes128-gcm (login included, 2026-12-03).
 */
const SSHD_LEAN = [
  'p=$(cat /run/sshd.pid) && kill "$p"',
  'i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done',
  'i=0; until /usr/sbin/sshd -r -E /run/sshd.log -o KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org -o Ciphers=chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com; do [ $i -lt 40 ] || exit 1; sleep 0.05; i=$((i+1)); done',
  // sshd forks into the background before it listens: wait for port 22, or the next login is reset
  'i=0; until grep -q ":0016 00000000:0000 0A" /proc/net/tcp; do [ $i -lt 100 ] || exit 1; sleep 0.05; i=$((i+1)); done',
].join('; ');

/**
 * root's login shell dash instead of bash: sshd runs every command of every
 * session (ours, and zettabee's) through it, and bash costs the guest 41 ms
 * of emulated CPU to start (it reads ~/.bashrc under sshd), dash 20 (pacct,
 * 2026-12-03): a run's 1,500 sessions or so per guest. zettabee's remote
 * commands are POSIX sh; the zfs-fuse tests log in to this machine's bash.
 * A session's shell is fixed at its login, so this runs before the first
 * master connection (startZfs).
 */
const ROOT_SHELL_DASH = 'usermod -s /bin/sh root';

export class Guest {
  readonly zfsVersion: string = '';

  constructor(
    readonly spec: GuestSpec,
    readonly image: Image,
    readonly dir: string,
    readonly sshPort: number,
    /** ssh ControlPath directory: short, unix sockets are limited to 107 bytes */
    private readonly controlDir: string,
  ) {}

  /** a guest another process started (test/run.ts); this one never stops it */
  static attach(spec: GuestSpec, image: Image, dir: string, sshPort: number, controlDir: string, zfsVersion: string): Guest {
    const g = new Guest(spec, image, dir, sshPort, controlDir);
    (g as { zfsVersion: string }).zfsVersion = zfsVersion;
    return g;
  }

  get name(): string {
    return this.spec.name;
  }
  get flavour(): Flavour {
    return this.spec.flavour;
  }
  get address(): string {
    return this.spec.address;
  }
  get sshConfig(): string {
    return path.join(this.dir, 'ssh_config');
  }
  /** the known_hosts line for this guest as zettabee reaches it */
  get knownHostsLine(): string {
    return `[${this.address}]:${this.sshPort} ${this.image.hostKey}`;
  }
  /** the ssh key that logs in as root */
  get key(): string {
    return this.image.clientKey;
  }
  /** a pairs-file host prefix and the keys that reach this guest */
  endpoint(ds: string): string {
    return `${this.address}:${ds}`;
  }
  get sshKeys(): string {
    return `sshport=${this.sshPort},sshkey=${this.key},sshuser=root`;
  }
  /** the CPU time its QEMU process has used so far (the suite's bottleneck: every guest command is emulated) */
  cpuSeconds(): number | undefined {
    const pid = this.pid;
    if (!pid) return undefined;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return undefined;
    }
  }
  private get pid(): number | undefined {
    return readPid(path.join(this.dir, 'qemu.pid'));
  }

  writeSshConfig(): void {
    fs.writeFileSync(path.join(this.dir, 'known_hosts'), `${this.knownHostsLine}\n`);
    fs.writeFileSync(
      this.sshConfig,
      [
        `Host ${this.name}`,
        `  HostName ${this.address}`,
        `  Port ${this.sshPort}`,
        '  User root',
        `  IdentityFile ${this.key}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${path.join(this.dir, 'known_hosts')}`,
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  LogLevel ERROR',
        '  ControlMaster auto',
        `  ControlPath ${this.controlDir}/%C`,
        '  ControlPersist 300',
        '  ConnectTimeout 10',
        '  ServerAliveInterval 5',
        '  ServerAliveCountMax 6',
        '',
      ].join('\n'),
    );
  }

  /** run argv in the guest (each word quoted for its shell); resolves whatever the exit code */
  async exec(argv: readonly string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await hostExec('ssh', ['-F', this.sshConfig, this.name, quoteArgv(argv)], { ...(opts.input !== undefined ? { input: opts.input } : {}), timeoutMs: opts.timeoutMs ?? 120_000 });
    return { code: r.code ?? 255, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  /**
   * run a sh script in the guest with arguments; rejects naming the guest
   * unless it exits 0. `ownLogin`: a login of its own, not the shared master
   * connection (which it does not open either)
   */
  async sh(script: string, args: readonly string[] = [], opts: { input?: string | Buffer; timeoutMs?: number; ownLogin?: boolean } = {}): Promise<string> {
    try {
      return await hostRun('ssh', ['-F', this.sshConfig, ...(opts.ownLogin ? ['-o', 'ControlMaster=no', '-o', 'ControlPath=none'] : []), this.name, quoteArgv(['sh', '-c', script, 'sh', ...args])], {
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        timeoutMs: opts.timeoutMs ?? 120_000,
      });
    } catch (e) {
      throw new Error(`on guest ${this.name} (OpenZFS ${this.flavour}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** a zfs or zpool command in the guest; rejects unless it exits 0 */
  zfs(...argv: string[]): Promise<string> {
    return this.sh('exec "$@"', argv);
  }

  /**
   * a QMP session for fn: one at a time, and never kept, since QEMU serves
   * one client per socket and several test processes may share a guest
   */
  async withQmp<T>(fn: (q: Qmp) => Promise<T>): Promise<T> {
    const q = await Qmp.connect(path.join(this.dir, 'qmp.sock'));
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }

  /** forward this machine's hostAddress:hostPort to the guest's guestPort (mbuffer into the guest) */
  async forward(hostPort: number, guestPort = hostPort, hostAddress = '127.0.0.1'): Promise<void> {
    const out = await this.withQmp((q) => q.hmp(`hostfwd_add tcp:${hostAddress}:${hostPort}-:${guestPort}`));
    if (out.trim()) throw new Error(`hostfwd_add on ${this.name}: ${out.trim()}`);
  }

  async unforward(hostPort: number, hostAddress = '127.0.0.1'): Promise<void> {
    await this.withQmp((q) => q.hmp(`hostfwd_remove tcp:${hostAddress}:${hostPort}`));
  }

  /** a pool on a whole virtual disk, mounted under /pools */
  async createPool(name: string, disk: (typeof DATA_DISKS)[number]): Promise<string> {
    await stepError(`create pool ${name} on /dev/${disk} in ${this.name}`, () => this.sh(`${ZPOOL_CREATE}; zpool_create "$1" -f -o ashift=12 -O "mountpoint=/pools/$1" "$1" "/dev/$2"`, [name, disk]));
    return name;
  }

  /** a small pool on a file inside the guest (for tests that fill a pool) */
  async createFilePool(name: string, sizeMiB: number): Promise<string> {
    await stepError(`create file pool ${name} in ${this.name}`, () =>
      this.sh(`${ZPOOL_CREATE}; truncate -s "$2"M "/var/tmp/$1.img" && zpool_create "$1" -f -o ashift=12 -O "mountpoint=/pools/$1" "$1" "/var/tmp/$1.img"`, [name, String(sizeMiB)]),
    );
    return name;
  }

  async waitBooted(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await hostRun('ssh', ['-F', this.sshConfig, '-o', 'ControlMaster=no', '-o', 'ConnectTimeout=5', this.name, 'test -e /run/zettabee-booted'], { timeoutMs: 15_000 }).then(
        () => true,
        () => false,
      );
      if (r) return;
      if (!alive(this.pid)) throw new Error(`qemu of ${this.name} exited; console:\n${tail(path.join(this.dir, 'console.log'))}`);
      if (Date.now() > deadline) throw new Error(`no ssh to ${this.name} within ${timeoutMs / 1000} s; console:\n${tail(path.join(this.dir, 'console.log'))}`);
      await sleep(250);
    }
  }

  /** randomness, clock, host name and id, then zfs (GUEST_START_ZFS) */
  async startZfs(): Promise<void> {
    const hostid = createHash('md5').update(`${this.name}-${randomBytes(4).toString('hex')}`).digest('hex').slice(0, 8);
    const epoch = (Date.now() / 1000).toFixed(3);
    await stepError(`load zfs in ${this.name}`, () => this.sh(`zettabee-start-zfs "$@" && ${ROOT_SHELL_DASH} && (${SSHD_LEAN})`, [randomBytes(64).toString('hex'), epoch, this.name, hostid], { ownLogin: true }));
    (this as { zfsVersion: string }).zfsVersion = (await this.zfs('zfs', 'version')).split('\n')[0]!.trim();
  }

  /** copy this checkout's launcher and bundle to /opt/zettabee (zettabee inside the guest) */
  async installZettabee(checkout: string): Promise<string> {
    const tar = await hostRun('tar', ['-C', checkout, '-cf', '-', 'package.json', 'bin/zettabee', 'dist/bundle'], { binary: true });
    await this.sh('rm -rf /opt/zettabee && mkdir -p /opt/zettabee && tar -C /opt/zettabee -xf -', [], { input: tar });
    return '/opt/zettabee/bin/zettabee';
  }

  async down(): Promise<void> {
    await hostRun('ssh', ['-F', this.sshConfig, '-O', 'exit', this.name], { timeoutMs: 5000 }).catch(() => undefined);
    const pid = this.pid;
    if (alive(pid)) {
      // the disks are throwaway (cache=unsafe): SIGKILL is instant
      process.kill(pid!, 'SIGKILL');
      for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function launch(image: Image, dir: string, address: string, port: number, incoming?: string): Promise<void> {
  const args = qemuArgs(image, dir, address, port);
  if (incoming) args.push('-incoming', `exec:zstd -qdc ${incoming}`);
  await hostRun('qemu-system-x86_64', args, { timeoutMs: 60_000 });
  if (!alive(readPid(path.join(dir, 'qemu.pid')))) throw new Error(`qemu exited at once; console:\n${tail(path.join(dir, 'console.log'))}`);
}

async function statusOf(q: Qmp): Promise<string> {
  return ((await q.execute('query-status')) as { status: string }).status;
}

/**
 * The image's saved state (RAM and devices right after boot, zfs not
 * loaded): made once per image and machine shape, by booting cold and
 * migrating to a file. Its root overlay is kept with it.
 */
async function ensureWarmState(image: Image, runRoot: string, controlDir: string): Promise<string> {
  const qemuVersion = (await hostRun('qemu-system-x86_64', ['--version'])).split('\n')[0]!;
  const warm = path.join(image.dir, `warm-${stateTag(qemuVersion)}`);
  if (fs.existsSync(path.join(warm, 'state.zst'))) return warm;
  const release = await lockfile.lock(image.dir, { lockfilePath: path.join(image.dir, '.warm.lock'), stale: 60_000, update: 10_000, retries: { retries: 100, minTimeout: 2000, maxTimeout: 2000 } });
  try {
    if (fs.existsSync(path.join(warm, 'state.zst'))) return warm;
    const dir = path.join(runRoot, `warm-${image.flavour}`);
    fs.rmSync(dir, { recursive: true, force: true });
    await makeDisks(dir, path.join(image.dir, 'root.qcow2'));
    const port = await freeCommonPort(['127.0.0.1']);
    const g = new Guest({ name: `warm${image.flavour.replace('.', '')}`, flavour: image.flavour, address: '127.0.0.1' }, image, dir, port, controlDir);
    g.writeSshConfig();
    const t0 = Date.now();
    await launch(image, dir, '127.0.0.1', port);
    await g.waitBooted(600_000);
    await hostRun('ssh', ['-F', g.sshConfig, '-O', 'exit', g.name], { timeoutMs: 5000 }).catch(() => undefined);
    log(`OpenZFS ${image.flavour}: cold boot to ssh in ${((Date.now() - t0) / 1000).toFixed(1)} s; saving the state`);
    await sleep(1000);
    const tmp = `${warm}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    await g.withQmp(async (q) => {
      await q.execute('stop');
      await q.execute('migrate', { uri: `exec:zstd -q -1 -T2 > ${tmp}/state.zst` });
      for (let i = 0; ; i++) {
        const st = ((await q.execute('query-migrate')) as { status?: string }).status;
        if (st === 'completed') break;
        if (st === 'failed' || i > 1200) throw new Error(`saving the VM state failed (migration status ${st})`);
        await sleep(250);
      }
      await q.execute('quit').catch(() => undefined);
    });
    const pid = readPid(path.join(dir, 'qemu.pid'));
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    fs.renameSync(path.join(dir, 'root.qcow2'), path.join(tmp, 'root.qcow2'));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(warm, { recursive: true, force: true });
    fs.renameSync(tmp, warm);
    return warm;
  } finally {
    await release();
  }
}

function bindable(port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
}

/** a TCP port free on every one of these addresses */
export async function freeCommonPort(addresses: readonly string[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (const a of addresses) if (!(await bindable(p, a))) ok = false;
    if (ok) return p;
  }
  throw new Error(`no TCP port free on ${addresses.join(', ')}`);
}

async function bootOne(spec: GuestSpec, image: Image, runRoot: string, controlDir: string, port: number): Promise<Guest> {
  const warm = await stepError(`save the booted state of the OpenZFS ${spec.flavour} image`, () => ensureWarmState(image, runRoot, controlDir));
  const dir = path.join(runRoot, spec.name);
  fs.rmSync(dir, { recursive: true, force: true });
  const g = new Guest(spec, image, dir, port, controlDir);
  const t0 = Date.now();
  try {
    await stepError(`start guest ${spec.name} (OpenZFS ${spec.flavour}) from the saved state`, async () => {
      await makeDisks(dir, path.join(warm, 'root.qcow2'));
      g.writeSshConfig();
      await launch(image, dir, spec.address, port, path.join(warm, 'state.zst'));
      await g.withQmp(async (q) => {
        for (let i = 0; ; i++) {
          const st = await statusOf(q);
          if (st === 'running') break;
          if (st === 'paused' || st === 'prelaunch') {
            const m = ((await q.execute('query-migrate')) as { status?: string }).status;
            if (m === undefined || m === 'completed' || m === 'none') {
              await q.execute('cont');
              continue;
            }
          }
          if (i > 1200) throw new Error(`the guest did not come out of the saved state (status ${st})`);
          await sleep(100);
        }
      });
      await g.waitBooted(120_000);
    });
    await g.startZfs();
  } catch (e) {
    // not yet among the started ones that startGuests stops: stop it here
    await g.down().catch(() => undefined);
    throw e;
  }
  log(`guest ${spec.name}: ${g.zfsVersion} at ${spec.address}:${port} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return g;
}

/** the pool guids of each guest must differ: the guid trap (see the file comment) */
async function checkGuids(guests: readonly Guest[]): Promise<void> {
  if (guests.length < 2) return;
  const seen = new Map<string, string>();
  for (const g of guests) {
    const out = await g.sh('zpool create -f zbguidprobe /dev/vdd >/dev/null && zpool get -H -p -o value guid zbguidprobe && zpool destroy zbguidprobe');
    const guid = out.trim();
    const other = seen.get(guid);
    if (other) throw new Error(`guests ${other} and ${g.name} created pools with the same guid ${guid}: their zfs was seeded alike`);
    seen.set(guid, g.name);
  }
}

export interface Guests {
  guests: Guest[];
  runRoot: string;
  sshPort: number;
  /** every guest's known_hosts line */
  knownHosts: string;
  down(): Promise<void>;
}

/**
 * Build or reuse the images, then start every guest from its saved state,
 * with one ssh port for all (one address each). Rejects naming the broken
 * step; whatever was started is stopped again.
 */
export async function startGuests(specs: readonly GuestSpec[], runRoot: string): Promise<Guests> {
  fs.mkdirSync(runRoot, { recursive: true });
  const controlDir = path.join(runRoot, 'cm');
  fs.mkdirSync(controlDir, { recursive: true, mode: 0o700 });
  const images = new Map<Flavour, Image>();
  // one build at a time: two DKMS builds on 2 cores only slow each other down
  for (const f of new Set(specs.map((s) => s.flavour))) images.set(f, await ensureImage(f));
  const started: Guest[] = [];
  const down = async () => {
    await Promise.all(started.map((g) => g.down().catch(() => undefined)));
  };
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freeCommonPort(specs.map((s) => s.address));
    try {
      // one at a time too: a restore is CPU-bound and takes only seconds
      for (const s of specs) started.push(await bootOne(s, images.get(s.flavour)!, runRoot, controlDir, port));
      await stepError('check that the guests hand out distinct guids', () => checkGuids(started));
      return { guests: started, runRoot, sshPort: port, knownHosts: started.map((g) => g.knownHostsLine).join('\n') + '\n', down };
    } catch (e) {
      lastError = e;
      await down();
      started.length = 0;
      if (!/host forwarding|Could not set up/i.test(e instanceof Error ? e.message : '')) break;
    }
  }
  // nothing of a failed start stays behind, not even the directory
  fs.rmSync(runRoot, { recursive: true, force: true });
  throw lastError;
}

// npm run bench: zettabee against the raw pipe and syncoid, side by side in
// one run, on throwaway zfs-fuse pools and a loopback sshd (the test bed).
// One line per figure of issue 6: the ratio, the absolute medians, and
// whether the target is met. Not part of `npm test` (it takes minutes).
//
//   BENCH_RUNS=n   timed runs per contender (default 5; the median is reported)
//   BENCH_ONLY=1,3 run only these figures (for profiling)
//   BENCH_TRACE=1  print every program zettabee started in figures 3 and 4 (strace timeline)
//   BENCH_LAG_SECONDS=s  how long figure 12 (the daemon's lag under a steady writer) runs (default 600)
//   BENCH_CYCLES=n       how many updates figure 13 (the daemon's memory) runs (default 2000)
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackages, freePort, getBed, teardownBed, type Bed } from '../test/harness/bed.js';
import { LAUNCHER, makeSite, sshKeys, type Site } from '../test/e2e/support.js';
import { fingerprint } from '../src/domain/fingerprint.js';
import { BenchDaemon, footprintOver, watchLag } from './daemon.js';
import { bash, countExecs, describeExecs, fmtRate, fmtS, log, median, q, secs, sideBySide, sleep, timed, type ExecCount, type SpawnOptions, type Timed } from './lib.js';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5) || 5);
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter(Boolean).map(Number));
const want = (n: number): boolean => ONLY.size === 0 || ONLY.has(n);
const TRACE = process.env.BENCH_TRACE === '1';
const MiB = 1024 * 1024;
const FLOOR = fileURLToPath(new URL('./floor.js', import.meta.url));

// ---------------------------------------------------------------------------
// Results

interface Figure {
  n: number;
  title: string;
  /** the printed line (after "N. title: ") */
  text: string;
  /** null: no target, or not measured */
  met: boolean | null;
  /** further lines: phases, process counts, raw samples */
  details: string[];
}

const figures: Figure[] = [];

function report(f: Figure): void {
  figures.push(f);
  process.stdout.write(`${figureLine(f)}\n`);
  for (const d of f.details) process.stdout.write(`     ${d}\n`);
}

function figureLine(f: Figure): string {
  const verdict = f.met === null ? '' : f.met ? '  [target met]' : '  [TARGET MISSED]';
  return `${f.n}. ${f.title}: ${f.text}${verdict}`;
}

// ---------------------------------------------------------------------------
// The bed, pools and zfs helpers

let bed: Bed;
let SRC = '';
let DST = '';
let cipher = '';
/** median wall time of `node -e 0`: what any Node program pays before its first line runs */
let nodeStart = 0;
let zbVersion = 0;

const zfs = (...args: string[]): Promise<string> => bed.run(['zfs', ...args], { timeout: 300_000 });

async function exists(ds: string): Promise<boolean> {
  return (await execa('zfs', ['list', '-H', '-o', 'name', ds], { reject: false })).exitCode === 0;
}

async function mountpoint(ds: string): Promise<string> {
  return (await zfs('get', '-H', '-o', 'value', 'mountpoint', ds)).trim();
}

/** destroy a file system and everything below it; zfs-fuse wants it unmounted first and may answer "busy" for a while */
async function destroyTree(ds: string): Promise<void> {
  if (!(await exists(ds))) return;
  // zettabee holds its pair snapshots (tag zettabee.<fp>): release them first
  const snaps = (await zfs('list', '-H', '-o', 'name', '-t', 'snapshot', '-r', ds)).split('\n').filter(Boolean);
  for (const snap of snaps) {
    const short = snap.slice(snap.indexOf('@') + 1);
    if (short.startsWith('zettabee.')) await execa('zfs', ['release', `zettabee.${short.split('.')[1]}`, snap], { reject: false });
  }
  const fss = (await zfs('list', '-H', '-o', 'name', '-t', 'filesystem', '-r', ds)).split('\n').filter(Boolean);
  for (const f of fss.sort((a, b) => b.split('/').length - a.split('/').length)) {
    await execa('zfs', ['umount', '-f', f], { reject: false });
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await execa('zfs', ['destroy', '-r', ds], { reject: false });
    if (r.exitCode === 0 || !(await exists(ds))) return;
    if (Date.now() > deadline) throw new Error(`cannot destroy ${ds}: ${r.stderr}`);
    await sleep(300);
  }
}

async function snapshotsOf(ds: string): Promise<string[]> {
  const out = await zfs('list', '-H', '-o', 'name', '-t', 'snapshot', '-d', '1', ds);
  return out.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('@') + 1));
}

/** remove the pair snapshots zettabee left on a source (so the next initialize starts from the same state) */
async function dropPairSnapshots(ds: string): Promise<void> {
  for (const s of await snapshotsOf(ds)) {
    if (!s.startsWith('zettabee.')) continue;
    await execa('zfs', ['release', `zettabee.${s.split('.')[1]}`, `${ds}@${s}`], { reject: false });
    await zfs('destroy', `${ds}@${s}`);
  }
}

/** write `bytes` of incompressible data to a file of the dataset, in 8 MiB pieces */
async function writeRandom(ds: string, file: string, bytes: number): Promise<void> {
  const path = join(await mountpoint(ds), file);
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, 8 * MiB);
      writeSync(fd, randomBytes(n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

const mountpoints = new Map<string, string>();
/** overwrite one file of a (mounted) dataset with fresh random bytes: the change an update carries */
async function change(ds: string, bytes: number, file = 'change.bin'): Promise<void> {
  let mp = mountpoints.get(ds);
  if (!mp) mountpoints.set(ds, (mp = await mountpoint(ds)));
  writeFileSync(join(mp, file), randomBytes(bytes));
}

function sshArgs(): string[] {
  return bed.ssh.args();
}

/** the cipher ssh negotiates with the bed's sshd by default (what zettabee's ssh uses: it passes no -c) */
async function negotiatedCipher(): Promise<string> {
  const r = await execa('ssh', ['-v', ...sshArgs(), bed.ssh.target, 'true'], { reject: false });
  const m = /kex: client->server cipher: (\S+)/.exec(String(r.stderr));
  if (!m) throw new Error(`cannot tell the ssh cipher from ssh -v:\n${r.stderr}`);
  return m[1]!;
}

function sshdLogCount(re: RegExp): number {
  try {
    return (readFileSync(bed.ssh.log, 'utf8').match(re) ?? []).length;
  } catch {
    return 0;
  }
}
/** connections sshd accepted so far (one per ssh handshake) */
const acceptedConnections = (): number => sshdLogCount(/Accepted publickey/g);
/** sessions sshd started so far (one per command run, multiplexed or not) */
const startedSessions = (): number => sshdLogCount(/Starting session: /g);

/** what one ssh connection and one more session over its open master cost here */
async function sshCosts(): Promise<{ connect: number; session: number }> {
  const dir = join(bed.workdir, `mux-${Date.now()}`);
  mkdirSync(dir, { mode: 0o700 });
  const base = ['ssh', ...sshArgs(), '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(dir, '%C')}`, '-o', 'ControlPersist=30'];
  const connect: number[] = [];
  const session: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    connect.push((await timed([...base, bed.ssh.target, 'true'])).seconds);
    for (let k = 0; k < 2; k++) session.push((await timed([...base, bed.ssh.target, 'true'])).seconds);
    await timed([...base, '-O', 'exit', bed.ssh.target], { okCodes: [0, 255] });
  }
  return { connect: median(connect), session: median(session) };
}

// ---------------------------------------------------------------------------
// zettabee

const ZB_ENV = { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' };

function zbArgv(site: Site, args: readonly string[]): string[] {
  return [LAUNCHER, '-c', site.pairsFile, '--settings', site.settingsFile, ...args];
}

function zb(site: Site, args: readonly string[], opts: SpawnOptions = {}): Promise<Timed> {
  return timed(zbArgv(site, args), { env: ZB_ENV, ...opts });
}

function fpOf(src: string, dst: string, dhost = 'localhost'): string {
  return fingerprint('localhost', src, dhost, dst);
}

interface Phases {
  /** spawn to the START line: node start-up, config, lock, status file, listings, plan */
  boot: number;
  /** START to "snapshot taken" */
  snapshot: number;
  /** "snapshot taken" to "stream done" */
  stream: number;
  /** "stream done" to END: verify, properties, holds, retention */
  finish: number;
  /** END to process exit: ssh master shut down, logs flushed */
  exit: number;
}

function stamp(text: string): number {
  return Date.parse(text.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
}

/** where the time of one zettabee run went, from its pair log (ms timestamps) */
function phasesOf(site: Site, fp: string, t: Timed): Phases | undefined {
  let text: string;
  try {
    text = readFileSync(join(site.paths.log, `${fp}.log`), 'utf8');
  } catch {
    return undefined;
  }
  const mine = text
    .split('\n')
    .map((l) => /^(\S+) \S+ \w+ \[(\d+)\] (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === t.pid)
    .map((m) => ({ t: stamp(m[1]!), msg: m[3]! }));
  const at = (re: RegExp) => mine.find((l) => re.test(l.msg))?.t;
  const start = at(/ START /);
  const taken = at(/^snapshot .* taken$/);
  const done = at(/^stream done/);
  const end = at(/ END /);
  if ([start, taken, done, end].some((x) => x === undefined || Number.isNaN(x))) return undefined;
  return {
    boot: (start! - t.startMs) / 1000,
    snapshot: (taken! - start!) / 1000,
    stream: (done! - taken!) / 1000,
    finish: (end! - done!) / 1000,
    exit: (t.endMs - end!) / 1000,
  };
}

function describePhases(list: readonly (Phases | undefined)[]): string {
  const ok = list.filter((p): p is Phases => p !== undefined);
  if (ok.length === 0) return 'phases: (pair log not readable)';
  const keys: (keyof Phases)[] = ['boot', 'snapshot', 'stream', 'finish', 'exit'];
  return `zettabee phases (median): ${keys.map((k) => `${k} ${fmtS(median(ok.map((p) => p[k])))}`).join(', ')}`;
}

type Run = Timed & { phases?: Phases | undefined };

// ---------------------------------------------------------------------------
// Figures 1, 2 and 8: full initialize against the raw pipe; peak memory

async function fullSends(): Promise<void> {
  const big = `${SRC}/big`;
  const mid = `${SRC}/mid`;
  log('figures 1, 2, 8: writing 256 MiB and 64 MiB of random data');
  await zfs('create', big);
  await writeRandom(big, 'data.bin', 256 * MiB);
  await zfs('snapshot', `${big}@raw`);
  await zfs('create', mid);
  await writeRandom(mid, 'data.bin', 64 * MiB);
  const bytes = Number((await bash(`zfs send ${big}@raw | wc -c`)).stdout.trim());

  const site = makeSite(bed);
  const f1 = `${DST}/f1zb`;
  const f2 = `${DST}/f2zb`;
  const f8 = `${DST}/f8zb`;
  const f9 = `${DST}/f9zb`;
  const mbufferPort = await freePort();
  site.writePairs([`${big} ${f1}`, `${big} 127.0.0.1:${f2} ${sshKeys(bed)}`, `${mid} ${f8}`, `${big} ${f9} transport=mbuffer,port=${mbufferPort}`]);

  const zbInit = async (label: string, src: string, dst: string, fp: string): Promise<Run> => {
    const t = await zb(site, ['initialize', label], { rss: true });
    const phases = phasesOf(site, fp, t);
    await destroyTree(dst);
    await dropPairSnapshots(src);
    return { ...t, phases };
  };
  const rawInit = async (script: string, dst: string): Promise<Run> => {
    const t = await bash(script);
    await destroyTree(dst);
    return t;
  };

  /**
   * The target is about throughput: the stream phase of the run (from the
   * pair log: snapshot taken -> stream done) against the raw pipe moving the
   * same snapshot. The whole command's wall time is shown too; at this size
   * its fixed costs (node start-up above all) decide it, see the bound.
   */
  const fullFigure = (n: number, title: string, z: Run[], r: Run[], extra: string[]): void => {
    const zm = median(secs(z));
    const rm = median(secs(r));
    const streamM = median(z.map((x) => x.phases?.stream ?? NaN).filter(Number.isFinite));
    const streamRatio = rm / streamM;
    const bound = rm / (rm + nodeStart);
    report({
      n,
      title,
      text: `stream throughput ratio ${streamRatio.toFixed(2)} (target >= 0.95): zettabee ${fmtRate(bytes, streamM)} (${fmtS(streamM)}), raw ${fmtRate(bytes, rm)} (${fmtS(rm)}); whole command ${fmtS(zm)} = ${(rm / zm).toFixed(2)} of raw (no Node program can pass ${bound.toFixed(2)} here: \`node -e 0\` alone takes ${fmtS(nodeStart)})`,
      met: streamRatio >= 0.95,
      details: [
        `stream ${(bytes / MiB).toFixed(1)} MiB; ${describePhases(z.map((x) => x.phases))}`,
        ...extra,
        `samples zettabee: ${secs(z).map(fmtS).join(', ')}; raw: ${secs(r).map(fmtS).join(', ')}`,
      ],
    });
  };

  let rss256: number[] = [];
  if (want(1) || want(8)) {
    log('figure 1: initialize 256 MiB, local, against zfs send | zfs recv');
    const [z, r] = await sideBySide(RUNS, [
      () => zbInit(f1, big, f1, fpOf(big, f1)),
      () => rawInit(`zfs send ${big}@raw | zfs recv ${DST}/f1raw`, `${DST}/f1raw`),
    ]);
    rss256 = z!.map((x) => x.peakKiB ?? NaN);
    if (want(1)) fullFigure(1, 'full initialize, 256 MiB, transport=local vs raw `zfs send | zfs recv`', z!, r!, []);
  }

  if (want(2)) {
    log(`figure 2: initialize 256 MiB over ssh to 127.0.0.1, against zfs send | ssh -c ${cipher} zfs recv`);
    const sshRaw = ['ssh', '-c', cipher, ...sshArgs(), bed.ssh.target].map(q).join(' ');
    const label = `127.0.0.1:${f2}`;
    const [z, r] = await sideBySide(RUNS, [
      () => zbInit(label, big, f2, fpOf(big, f2, '127.0.0.1')),
      () => rawInit(`zfs send ${big}@raw | ${sshRaw} zfs recv ${DST}/f2raw`, `${DST}/f2raw`),
    ]);
    fullFigure(2, `full initialize, 256 MiB, transport=ssh to 127.0.0.1 vs raw \`zfs send | ssh -c ${cipher} 127.0.0.1 zfs recv\``, z!, r!, [
      `peak RSS ${(median(z!.map((x) => x.peakKiB ?? NaN)) / 1024).toFixed(1)} MiB`,
    ]);
  }

  if (want(9)) {
    log(`figure 9: initialize 256 MiB over the mbuffer transport (both ends here, port ${mbufferPort}), against zfs send | zfs recv`);
    const [z, r] = await sideBySide(RUNS, [
      () => zbInit(f9, big, f9, fpOf(big, f9)),
      () => rawInit(`zfs send ${big}@raw | zfs recv ${DST}/f9raw`, `${DST}/f9raw`),
    ]);
    fullFigure(9, 'full initialize, 256 MiB, transport=mbuffer (TCP on 127.0.0.1, both ends here) vs raw `zfs send | zfs recv`', z!, r!, []);
  }

  if (want(8)) {
    log('figure 8: peak memory, initialize of 64 MiB against 256 MiB');
    if (rss256.length === 0) {
      for (let i = 0; i < RUNS; i++) rss256.push((await zbInit(f1, big, f1, fpOf(big, f1))).peakKiB ?? NaN);
    }
    const rss64: number[] = [];
    for (let i = 0; i < RUNS; i++) rss64.push((await zbInit(f8, mid, f8, fpOf(mid, f8))).peakKiB ?? NaN);
    const a = median(rss64) / 1024;
    const b = median(rss256) / 1024;
    const growth = b / a - 1;
    report({
      n: 8,
      title: 'peak resident memory of zettabee during a full local initialize (VmHWM)',
      text: `${a.toFixed(1)} MiB at 64 MiB, ${b.toFixed(1)} MiB at 256 MiB: ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}% for 4x the data (target: flat, within 10%)`,
      met: Math.abs(growth) <= 0.1,
      details: [`samples 64 MiB: ${rss64.map((k) => (k / 1024).toFixed(1)).join(', ')} MiB; 256 MiB: ${rss256.map((k) => (k / 1024).toFixed(1)).join(', ')} MiB`],
    });
  }
}

// ---------------------------------------------------------------------------
// Figures 3, 4, 10 and 11: a 1 MiB incremental

/** new datasets on the source, each with 4 MiB of data to start from */
async function startingDatasets(...names: string[]): Promise<void> {
  for (const d of names) {
    await zfs('create', d);
    await writeRandom(d, 'base.bin', 4 * MiB);
  }
}

/** the raw reference's first copy: @r0 sent in full, the copy read-only */
async function rawStart(src: string, dst: string): Promise<void> {
  await zfs('snapshot', `${src}@r0`);
  await bash(`zfs send ${src}@r0 | zfs recv ${dst} && zfs set readonly=on ${dst}`);
}

// ---------------------------------------------------------------------------
// Figure 3: a 1 MiB incremental, both ends local, against syncoid

async function localIncremental(): Promise<void> {
  const dz = `${SRC}/i3z`;
  const ds = `${SRC}/i3s`;
  const dr = `${SRC}/i3r`;
  const df = `${SRC}/i3f`;
  await startingDatasets(dz, ds, dr, df);
  const site = makeSite(bed);
  const tz = `${DST}/f3zb`;
  const ts = `${DST}/f3sy`;
  const tr = `${DST}/f3raw`;
  const tf = `${DST}/f3floor`;
  site.writePairs([`${dz} ${tz}`]);
  await zb(site, ['initialize', tz]);
  const syncoid = ['syncoid', '--quiet', '--no-privilege-elevation', ds, ts];
  await timed(syncoid);
  let lastSyncoid = Date.now();
  let rawN = 0;
  await rawStart(dr, tr);
  await zfs('snapshot', `${df}@floor.0`);
  await bash(`zfs send ${df}@floor.0 | zfs recv ${tf} && zfs set readonly=on ${tf}`);
  const fp = fpOf(dz, tz);

  // syncoid names its snapshots by the second: a second run within the
  // same second collides ("dataset already exists"), so let a second pass
  const syncoidReady = async (): Promise<void> => {
    const wait = lastSyncoid + 1100 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const zbRun = async (): Promise<Run> => {
    await change(dz, MiB);
    const t = await zb(site, ['update', tz]);
    return { ...t, phases: phasesOf(site, fp, t) };
  };
  const syncoidRun = async (): Promise<Run> => {
    await syncoidReady();
    await change(ds, MiB);
    lastSyncoid = Date.now();
    return timed(syncoid);
  };
  const rawScript = (): string => {
    rawN++;
    return `zfs snapshot ${dr}@r${rawN} && zfs send -i ${dr}@r${rawN - 1} ${dr}@r${rawN} | zfs recv ${tr}`;
  };
  const rawRun = async (): Promise<Run> => {
    await change(dr, MiB);
    return bash(rawScript());
  };

  const floorRun = async (): Promise<Run> => {
    await change(df, MiB);
    return timed(['node', FLOOR, df, tf]);
  };

  log('figure 3: 1 MiB incremental, local: zettabee, syncoid, raw, and the Node floor');
  const [z, s, r, fl] = await sideBySide(RUNS, [zbRun, syncoidRun, rawRun, floorRun]);

  log('figure 3: counting the programs each one starts (strace -f, one extra run each)');
  await change(dz, MiB);
  const cz = await countExecs(zbArgv(site, ['update', tz]), join(bed.workdir, 'trace-zb'), { env: ZB_ENV });
  await syncoidReady();
  await change(ds, MiB);
  lastSyncoid = Date.now();
  const cs = await countExecs(syncoid, join(bed.workdir, 'trace-syncoid'));
  await change(dr, MiB);
  const cr = await countExecs(['bash', '-o', 'pipefail', '-c', rawScript()], join(bed.workdir, 'trace-raw'));
  await change(df, MiB);
  const cf = await countExecs(['node', FLOOR, df, tf], join(bed.workdir, 'trace-floor'));

  const zm = median(secs(z!));
  const sm = median(secs(s!));
  const rm = median(secs(r!));
  const fm = median(secs(fl!));
  const ratio = zm / sm;
  const zfsOf = (c: ExecCount) => c.byProgram.get('zfs') ?? 0;
  report({
    n: 3,
    title: '1 MiB incremental update, both ends local, vs syncoid 2.1 (--quiet)',
    text: `zettabee/syncoid ${ratio.toFixed(2)} (target <= 0.50; the Node floor reaches ${(fm / sm).toFixed(2)}); zettabee ${fmtS(zm)}, syncoid ${fmtS(sm)}, floor ${fmtS(fm)}, raw snapshot + send -i | recv ${fmtS(rm)}; zfs processes: zettabee ${zfsOf(cz)}, syncoid ${zfsOf(cs)}, floor ${zfsOf(cf)}, raw ${zfsOf(cr)}`,
    met: ratio <= 0.5,
    details: [
      `zettabee started ${describeExecs(cz)}`,
      `syncoid started ${describeExecs(cs)}`,
      `floor: the least a Node program does for this update (bench/floor.ts: no dependencies, lists both sides, snapshot, send -i | recv fd to fd, guid check, drop the old base) ${fmtS(fm)} = ${(fm / sm).toFixed(2)} of syncoid, started ${describeExecs(cf)}; \`node -e 0\` ${fmtS(nodeStart)}, \`zettabee --version\` ${fmtS(zbVersion)}`,
      describePhases(z!.map((x) => x.phases)),
      `samples zettabee: ${secs(z!).map(fmtS).join(', ')}; syncoid: ${secs(s!).map(fmtS).join(', ')}; raw: ${secs(r!).map(fmtS).join(', ')}; floor: ${secs(fl!).map(fmtS).join(', ')}`,
      ...(TRACE ? ['zettabee timeline (strace -f -ttt, every program started):', ...cz.timeline.map((l) => `  ${l}`)] : []),
    ],
  });
}

// ---------------------------------------------------------------------------
// Figure 4: the same 1 MiB update over ssh against the raw minimum

async function sshIncremental(): Promise<void> {
  const dz = `${SRC}/i4z`;
  const dr = `${SRC}/i4r`;
  const df = `${SRC}/i4f`;
  await startingDatasets(dz, dr, df);
  const site = makeSite(bed);
  const tz = `${DST}/f4zb`;
  const tr = `${DST}/f4raw`;
  const tf = `${DST}/f4floor`;
  const label = `127.0.0.1:${tz}`;
  site.writePairs([`${dz} ${label} ${sshKeys(bed)}`]);
  await zb(site, ['initialize', label]);
  await rawStart(dr, tr);
  await zfs('snapshot', `${df}@floor.0`);
  await bash(`zfs send ${df}@floor.0 | zfs recv ${tf} && zfs set readonly=on ${tf}`);
  const fp = fpOf(dz, tz, '127.0.0.1');
  const sshRaw = ['ssh', '-c', cipher, ...sshArgs(), bed.ssh.target].map(q).join(' ');
  let rawN = 0;
  const rawScript = (): string => {
    rawN++;
    return `zfs snapshot ${dr}@r${rawN} && zfs send -i ${dr}@r${rawN - 1} ${dr}@r${rawN} | ${sshRaw} zfs recv ${tr}`;
  };
  type Counted = Run & { connections: number; sessions: number };
  /** time fn, and count the connections and sessions sshd saw meanwhile */
  const counted = async (fn: () => Promise<Run>): Promise<Counted> => {
    const c0 = acceptedConnections();
    const s0 = startedSessions();
    const t = await fn();
    await sleep(50); // sshd writes its log lines asynchronously
    return { ...t, connections: acceptedConnections() - c0, sessions: startedSessions() - s0 };
  };
  const zbRun = async (): Promise<Counted> => {
    await change(dz, MiB);
    return counted(async () => {
      const t = await zb(site, ['update', label]);
      return { ...t, phases: phasesOf(site, fp, t) };
    });
  };
  const rawRun = async (): Promise<Counted> => {
    await change(dr, MiB);
    return counted(() => bash(rawScript()));
  };

  const floorRun = async (): Promise<Counted> => {
    await change(df, MiB);
    return counted(() => timed(['node', FLOOR, df, tf, ...sshArgs(), bed.ssh.target]));
  };

  log('figure 4: 1 MiB incremental over ssh: zettabee against zfs snapshot + zfs send -i | ssh zfs recv, and the Node floor');
  const [z, r, fl] = await sideBySide(RUNS, [zbRun, rawRun, floorRun]);
  await change(dz, MiB);
  const cz = await countExecs(zbArgv(site, ['update', label]), join(bed.workdir, 'trace-zb4'), { env: ZB_ENV });
  const costs = await sshCosts();
  const zm = median(secs(z!));
  const rm = median(secs(r!));
  const fm = median(secs(fl!));
  const ratio = zm / rm;
  const per = (xs: Counted[], k: 'connections' | 'sessions') => [...new Set(xs.map((x) => x[k]))].join('/');
  report({
    n: 4,
    title: `1 MiB incremental update, transport=ssh to 127.0.0.1, vs raw \`zfs snapshot\` + \`zfs send -i | ssh -c ${cipher} 127.0.0.1 zfs recv\``,
    text: `zettabee/raw ${ratio.toFixed(2)} (target <= 1.5; the Node floor reaches ${(fm / rm).toFixed(2)}); zettabee ${fmtS(zm)}, raw ${fmtS(rm)}, floor ${fmtS(fm)}; ssh connections per update: zettabee ${per(z!, 'connections')}, raw ${per(r!, 'connections')}, floor ${per(fl!, 'connections')}; sessions: zettabee ${per(z!, 'sessions')}, raw ${per(r!, 'sessions')}, floor ${per(fl!, 'sessions')}`,
    met: ratio <= 1.5,
    details: [
      `zettabee started ${describeExecs(cz)} (ssh clients multiplexed over one master connection)`,
      `here an ssh connection (handshake and one command) takes ${fmtS(costs.connect)}, one more session over its open master ${fmtS(costs.session)} (sshd runs each session's command through root's login shell, which reads ~/.bashrc)`,
      describePhases(z!.map((x) => x.phases)),
      `samples zettabee: ${secs(z!).map(fmtS).join(', ')}; raw: ${secs(r!).map(fmtS).join(', ')}; floor: ${secs(fl!).map(fmtS).join(', ')}`,
      ...(TRACE ? ['zettabee timeline (strace -f -ttt, every program started):', ...cz.timeline.map((l) => `  ${l}`)] : []),
    ],
  });
}

// ---------------------------------------------------------------------------
// Figure 5: update --all --jobs 4 over 32 small pairs against 32 sequential updates

async function manyPairs(): Promise<void> {
  const N = 32;
  await zfs('create', `${SRC}/m`);
  await zfs('create', `${DST}/m`);
  const names = Array.from({ length: N }, (_, i) => `p${String(i).padStart(2, '0')}`);
  for (const n of names) {
    await zfs('create', `${SRC}/m/${n}`);
    await change(`${SRC}/m/${n}`, 64 * 1024, 'base.bin');
  }
  const site = makeSite(bed);
  site.writePairs(names.map((n) => `${SRC}/m/${n} ${DST}/m/${n}`));
  log(`figure 5: initializing ${N} small pairs`);
  for (let i = 0; i < N; i += 4) {
    await Promise.all(names.slice(i, i + 4).map((n) => zb(site, ['initialize', `${DST}/m/${n}`])));
  }
  const touchAll = async (): Promise<void> => {
    for (const n of names) await change(`${SRC}/m/${n}`, 64 * 1024);
  };
  const parallel = async (): Promise<Timed> => {
    await touchAll();
    return zb(site, ['update', '--all', '--jobs', '4']);
  };
  const sequential = async (): Promise<Timed> => {
    await touchAll();
    const t0 = performance.now();
    let last!: Timed;
    for (const n of names) last = await zb(site, ['update', `${DST}/m/${n}`]);
    return { ...last, seconds: (performance.now() - t0) / 1000 };
  };
  log('figure 5: update --all --jobs 4 against 32 sequential updates');
  const [p, s] = await sideBySide(RUNS, [parallel, sequential]);
  const pm = median(secs(p!));
  const sm = median(secs(s!));
  report({
    n: 5,
    title: `update --all --jobs 4 over ${N} small local pairs (64 KiB change each) vs ${N} sequential \`update DEST\``,
    text: `${(sm / pm).toFixed(2)}x faster; --all --jobs 4 ${fmtS(pm)} (${fmtS(pm / N)} per pair), sequential ${fmtS(sm)} (${fmtS(sm / N)} per update)`,
    met: null,
    details: [`samples --jobs 4: ${secs(p!).map(fmtS).join(', ')}; sequential: ${secs(s!).map(fmtS).join(', ')}`],
  });
}

// ---------------------------------------------------------------------------
// Figure 6: status and check over 1,000 pairs

async function thousandPairs(): Promise<void> {
  const N = 1000;
  const site = makeSite(bed);
  const lines: string[] = [];
  mkdirSync(site.paths.state, { recursive: true, mode: 0o750 });
  const now = Date.now();
  const host = os.hostname();
  for (let i = 0; i < N; i++) {
    const s = `${SRC}/gen/host${Math.floor(i / 50)}/fs${i}`;
    const d = `${DST}/gen/host${Math.floor(i / 50)}/fs${i}`;
    lines.push(`${s} ${d} wlag=1h,clag=4h`);
    if (i % 100 === 99) continue; // never initialized: no status file
    const fp = fpOf(s, d);
    const creation = Math.floor(now / 1000) - 600 - (i % 7 === 0 ? 5000 : i);
    const snap = `zettabee.${fp}.20250101000000UTC`;
    const ended = new Date(now - 500_000).toISOString();
    const started = new Date(now - 503_000).toISOString();
    const failed = i % 50 === 7;
    const record = {
      version: 1,
      fingerprint: fp,
      source: `localhost:${s}`,
      destination: `localhost:${d}`,
      state: i % 100 === 42 ? 'Inconsistent' : 'Synchronized',
      ...(i % 100 === 42 ? { inconsistency: { kind: 'modified', message: `${d} was changed after its last snapshot`, hint: 'zfs rollback' } } : {}),
      lastSnapshot: { name: snap, guid: String(1000000000000000000n + BigInt(i)), creation },
      lastSuccess: { action: 'update', ended, seconds: 3, bytes: MiB },
      run: failed
        ? { action: 'update', pid: 4242, host, started, ended, result: 'failed', seconds: 3, error: 'ssh failed: Connection refused' }
        : { action: 'update', pid: 4242, host, started, ended, result: 'ok', seconds: 3, bytes: MiB, snapshot: snap },
    };
    writeFileSync(join(site.paths.state, `${fp}.status`), JSON.stringify(record, null, 2) + '\n', { mode: 0o640 });
  }
  site.writePairs(lines);

  const probe = await zb(site, ['check'], { okCodes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 64, 70, 75, 255] });
  const haveCheck = /^ZETTABEE (OK|WARNING|CRITICAL|UNKNOWN)\b/m.test(probe.stdout);
  const status = (): Promise<Timed> => zb(site, ['status']);
  const check = (): Promise<Timed> => zb(site, ['check'], { okCodes: [0, 1, 2, 3] });
  log(`figure 6: status${haveCheck ? ' and check' : ''} over ${N} pairs`);
  const [st, ch] = haveCheck ? await sideBySide(RUNS, [status, check]) : [...(await sideBySide(RUNS, [status])), undefined];
  const sm = median(secs(st!));
  const statusLines = st![0]!.stdout.split('\n').filter(Boolean).length;
  const details = [`status printed ${statusLines} lines; samples status: ${secs(st!).map(fmtS).join(', ')}`];
  let text = `status ${fmtS(sm)} (target < 0.5 s)`;
  let met = sm < 0.5;
  if (ch) {
    const cm = median(secs(ch));
    text += `; check ${fmtS(cm)} (target < 0.5 s)`;
    met = met && cm < 0.5;
    details.push(`check printed ${ch[0]!.stdout.split('\n').filter(Boolean).length} lines, exit ${ch[0]!.exitCode}; samples check: ${secs(ch).map(fmtS).join(', ')}`);
  } else {
    text += '; check: not available yet';
    details.push(`\`zettabee check\` answered exit ${probe.exitCode}: ${(probe.stderr.trim() || probe.stdout.trim()).split('\n')[0]}`);
  }
  details.push(`for scale: \`zettabee --version\` (node start-up and module loading) ${fmtS(zbVersion)}`);
  report({ n: 6, title: `status and check over a generated ${N}-pair file (status files only)`, text, met, details });
}

// ---------------------------------------------------------------------------
// Figure 7: an update of a dataset with 5,000 snapshots against one with 5

async function manySnapshots(): Promise<void> {
  const many = `${SRC}/s5000`;
  const few = `${SRC}/s5`;
  const tm = `${DST}/f7many`;
  const tf = `${DST}/f7few`;
  for (const d of [many, few]) {
    await zfs('create', d);
    await change(d, 64 * 1024, 'base.bin');
  }
  const site = makeSite(bed);
  site.writePairs([`${many} ${tm}`, `${few} ${tf}`]);
  await zb(site, ['initialize', tm]);
  await zb(site, ['initialize', tf]);
  log('figure 7: taking 5,000 snapshots (one per zfs command, 4 at a time)');
  const t0 = performance.now();
  await bash(`seq -f '${many}@u%05g' 1 5000 | xargs -P 4 -n 1 zfs snapshot`, { timeoutMs: 600_000 });
  await bash(`seq -f '${few}@u%05g' 1 5 | xargs -n 1 zfs snapshot`);
  const made = (performance.now() - t0) / 1000;
  // zfs-fuse's `zfs send -I` over all 5,000 at once dies ("internal error:
  // Bad file descriptor", SIGABRT after ~50 s), so the destination gets them
  // 500 at a time, in createtxg order, before zettabee's first update; that
  // update then sends -i from the newest of them (the newest common snapshot)
  log(`figure 7: took them in ${made.toFixed(1)} s; carrying them to the destination 500 at a time (raw send -I)`);
  const t1 = performance.now();
  for (const [ds, target] of [[many, tm], [few, tf]] as const) {
    const ordered = (await zfs('list', '-H', '-o', 'name', '-t', 'snapshot', '-s', 'createtxg', '-d', '1', ds)).split('\n').filter(Boolean);
    let from = ordered.findIndex((n) => n.slice(n.indexOf('@') + 1).startsWith('zettabee.'));
    while (from < ordered.length - 1) {
      const to = Math.min(from + 500, ordered.length - 1);
      await bash(`zfs send -I ${ordered[from]} ${ordered[to]} | zfs recv ${target}`, { timeoutMs: 600_000 });
      from = to;
    }
  }
  const carried = (performance.now() - t1) / 1000;
  const c0 = await zb(site, ['update', tm]);
  await zb(site, ['update', tf]);
  const counts = `source ${(await snapshotsOf(many)).length} / destination ${(await snapshotsOf(tm)).length} snapshots against ${(await snapshotsOf(few)).length} / ${(await snapshotsOf(tf)).length}`;
  const fpm = fpOf(many, tm);
  const fpf = fpOf(few, tf);
  const run = (ds: string, target: string, fp: string) => async (): Promise<Run> => {
    await change(ds, 64 * 1024);
    const t = await zb(site, ['update', target]);
    return { ...t, phases: phasesOf(site, fp, t) };
  };
  log('figure 7: updates with 5,000 snapshots against 5');
  const [m, f] = await sideBySide(RUNS, [run(many, tm, fpm), run(few, tf, fpf)]);
  const mm = median(secs(m!));
  const fm = median(secs(f!));
  const ratio = mm / fm;
  const listArgv = ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', 'guid,createtxg,creation'];
  const [listMany, listFew, namesMany] = await sideBySide(RUNS, [() => timed([...listArgv, many]), () => timed([...listArgv, few]), () => timed(['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-d', '1', many])], false);
  // an update that skips the listings must still carry users' snapshots taken
  // since the last one, hence `send -I`: what does -I cost here when there is
  // nothing in between (two adjacent snapshots among the 5,000)?
  // (the snapshots were taken 4 at a time: adjacent by createtxg, not by name)
  const users = (await zfs('list', '-H', '-o', 'name', '-t', 'snapshot', '-s', 'createtxg', '-d', '1', many)).split('\n').filter((n) => n.includes('@u'));
  const [older, newer] = users.slice(-2);
  const adjacent = (flag: string) => () => timed(['sh', '-c', `zfs send ${flag} ${older} ${newer} > /dev/null`]);
  const [sendI, sendi] = await sideBySide(RUNS, [adjacent('-I'), adjacent('-i')], false);
  report({
    n: 7,
    title: 'update of a dataset with 5,000 snapshots vs one with 5 (local, 64 KiB change)',
    text: `ratio ${ratio.toFixed(2)} (target < 1.5); 5,000 snapshots ${fmtS(mm)}, 5 snapshots ${fmtS(fm)}`,
    met: ratio < 1.5,
    details: [
      `${counts}; taking the 5,000 took ${made.toFixed(1)} s, carrying them ${carried.toFixed(1)} s, zettabee's first update after that ${fmtS(c0.seconds)}; one listing (zfs get -Hp -d 1 guid,createtxg,creation) of the 5,000 ${fmtS(median(secs(listMany!)))}, of the 5 ${fmtS(median(secs(listFew!)))}; even \`zfs list -o name -t snapshot -d 1\` of the 5,000 takes ${fmtS(median(secs(namesMany!)))}: zfs-fuse pays per snapshot listed, whatever the columns; \`zfs send -I\` between two adjacent snapshots of the 5,000 takes ${fmtS(median(secs(sendI!)))}, \`-i\` ${fmtS(median(secs(sendi!)))} (-I walks every snapshot of the dataset)`,
      `5,000: ${describePhases(m!.map((x) => x.phases))}`,
      `5:     ${describePhases(f!.map((x) => x.phases))}`,
      `samples 5,000: ${secs(m!).map(fmtS).join(', ')}; 5: ${secs(f!).map(fmtS).join(', ')}`,
    ],
  });
}

// ---------------------------------------------------------------------------
// Figures 10 to 13: zettabee daemon (issue 16)

/** figure 10: a 1 MiB local update inside a running daemon (SIGUSR1 starts it) against syncoid */
async function daemonLocal(): Promise<void> {
  const dz = `${SRC}/d10z`;
  const ds = `${SRC}/d10s`;
  const dr = `${SRC}/d10r`;
  await startingDatasets(dz, ds, dr);
  const site = makeSite(bed);
  const tz = `${DST}/f10zb`;
  const ts = `${DST}/f10sy`;
  const tr = `${DST}/f10raw`;
  site.writePairs([`${dz} ${tz}`]);
  await zb(site, ['initialize', tz]);
  const syncoid = ['syncoid', '--quiet', '--no-privilege-elevation', ds, ts];
  await timed(syncoid);
  let lastSyncoid = Date.now();
  await rawStart(dr, tr);
  let rawN = 0;
  // an hour: the daemon updates only when SIGUSR1 asks
  const d = new BenchDaemon(site, [], 3_600_000);
  try {
    await d.until(tz, 1);
    const zbRun = async () => {
      await change(dz, MiB);
      return { seconds: await d.once(tz) };
    };
    const syncoidRun = async () => {
      const wait = lastSyncoid + 1100 - Date.now();
      if (wait > 0) await sleep(wait);
      await change(ds, MiB);
      lastSyncoid = Date.now();
      return timed(syncoid);
    };
    const rawRun = async () => {
      await change(dr, MiB);
      rawN++;
      return bash(`zfs snapshot ${dr}@r${rawN} && zfs send -i ${dr}@r${rawN - 1} ${dr}@r${rawN} | zfs recv ${tr}`);
    };
    log('figure 10: 1 MiB incremental, local, inside the daemon: zettabee daemon, syncoid, raw');
    const [z, sy, r] = await sideBySide(RUNS, [zbRun, syncoidRun, rawRun]);
    const zm = median(secs(z!));
    const sm = median(secs(sy!));
    const rm = median(secs(r!));
    const on = d.replicated.get(tz)!.slice(-RUNS);
    const om = median(on);
    report({
      n: 10,
      title: '1 MiB incremental update, both ends local, inside a running `zettabee daemon` vs syncoid 2.1 (--quiet)',
      text: `daemon/syncoid ${(om / sm).toFixed(2)} (target <= 0.30); daemon: the snapshot on the destination after ${fmtS(om)}, syncoid ${fmtS(sm)}; the daemon's whole update with its retention ${fmtS(zm)} (${(zm / sm).toFixed(2)}); raw snapshot + send -i | recv ${fmtS(rm)}`,
      met: om / sm <= 0.3,
      details: [
        `judged: from the update's start (SIGUSR1; lock, status file) until the new snapshot was recorded as on the destination (status Synchronized): on its receipt, zfs receive having exited 0 on the stream whose first record names it by guid, or after the guid check where the stream does not pass through zettabee (pv); the data is replicated; samples ${on.map(fmtS).join(', ')}`,
        'whole update: the same start to its end, after the holds, lastsnap and retention on both sides (the pair stays locked until then; the next cycle is an interval away)',
        `samples daemon: ${secs(z!).map(fmtS).join(', ')}; syncoid: ${secs(sy!).map(fmtS).join(', ')}; raw: ${secs(r!).map(fmtS).join(', ')}`,
      ],
    });
  } finally {
    await d.stop();
  }
}

/** figure 11: the same over ssh against the raw pipe over an ssh connection already open */
async function daemonSsh(): Promise<void> {
  const dz = `${SRC}/d11z`;
  const dr = `${SRC}/d11r`;
  await startingDatasets(dz, dr);
  const site = makeSite(bed);
  const tz = `${DST}/f11zb`;
  const tr = `${DST}/f11raw`;
  const label = `127.0.0.1:${tz}`;
  site.writePairs([`${dz} ${label} ${sshKeys(bed)}`]);
  await zb(site, ['initialize', label]);
  await rawStart(dr, tr);
  const ctl = join(bed.workdir, `ctl11-${Date.now()}`);
  mkdirSync(ctl, { mode: 0o700 });
  const ssh = ['ssh', '-c', cipher, ...sshArgs(), '-o', `ControlPath=${join(ctl, '%C')}`];
  await timed([...ssh, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=900', '-f', '-N', bed.ssh.target]);
  const sshRaw = [...ssh, bed.ssh.target].map(q).join(' ');
  let rawN = 0;
  const d = new BenchDaemon(site, [], 3_600_000);
  try {
    await d.until(label, 1);
    /** the run, and the ssh connections and sessions sshd saw meanwhile */
    const counted = async <T extends { seconds: number }>(fn: () => Promise<T>) => {
      const c0 = acceptedConnections();
      const s0 = startedSessions();
      const t = await fn();
      await sleep(50); // sshd writes its log lines asynchronously
      return { ...t, connections: acceptedConnections() - c0, sessions: startedSessions() - s0 };
    };
    const zbRun = async () => {
      await change(dz, MiB);
      return counted(async () => ({ seconds: await d.once(label) }));
    };
    const rawRun = async () => {
      await change(dr, MiB);
      rawN++;
      return counted(() => bash(`zfs snapshot ${dr}@r${rawN} && zfs send -i ${dr}@r${rawN - 1} ${dr}@r${rawN} | ${sshRaw} zfs recv ${tr}`));
    };
    log('figure 11: 1 MiB incremental over ssh inside the daemon, against snapshot + send -i | ssh recv over an open connection');
    const [z, r] = await sideBySide(RUNS, [zbRun, rawRun]);
    const zm = median(secs(z!));
    const rm = median(secs(r!));
    const on = d.replicated.get(label)!.slice(-RUNS);
    const om = median(on);
    const per = (xs: ReadonlyArray<{ connections: number; sessions: number }>, k: 'connections' | 'sessions') => [...new Set(xs.map((x) => x[k]))].join('/');
    report({
      n: 11,
      title: `1 MiB incremental update, transport=ssh to 127.0.0.1, inside a running \`zettabee daemon\` vs raw \`zfs snapshot\` + \`zfs send -i | ssh -c ${cipher} zfs recv\` over an open ssh connection`,
      text: `daemon/raw ${(om / rm).toFixed(2)} (target <= 1.10); daemon: the snapshot on the destination after ${fmtS(om)}, raw ${fmtS(rm)}; the daemon's whole update with its retention ${fmtS(zm)} (${(zm / rm).toFixed(2)})`,
      met: om / rm <= 1.1,
      details: [
        `judged, like raw's snapshot + send | recv: from the update's start until the new snapshot was recorded as on the destination, on its receipt (zfs receive exited 0 on the stream whose first record names it by guid; the guid check on the destination follows in the session); samples ${on.map(fmtS).join(', ')}`,
        `ssh connections per update: daemon ${per(z!, 'connections')}, raw ${per(r!, 'connections')}; sessions: daemon ${per(z!, 'sessions')}, raw ${per(r!, 'sessions')}`,
        `samples daemon: ${secs(z!).map(fmtS).join(', ')}; raw: ${secs(r!).map(fmtS).join(', ')}`,
      ],
    });
  } finally {
    await d.stop();
    await timed([...ssh, '-O', 'exit', bed.ssh.target], { okCodes: [0, 255] });
  }
}

/** figure 12: 10 pairs, interval=15s, each source written at 1 MiB/s: the worst lag of each */
async function daemonLag(): Promise<void> {
  const N = 10;
  const seconds = Math.max(30, Number(process.env.BENCH_LAG_SECONDS ?? 600) || 600);
  await zfs('create', `${SRC}/l`);
  await zfs('create', `${DST}/l`);
  const pairs = Array.from({ length: N }, (_, i) => ({ src: `${SRC}/l/p${i}`, dst: `${DST}/l/p${i}` }));
  const site = makeSite(bed);
  site.writePairs(pairs.map((p) => `${p.src} ${p.dst} interval=15s`));
  const files: Array<{ fd: number; at: number }> = [];
  for (const p of pairs) {
    await zfs('create', p.src);
    await writeRandom(p.src, 'data.bin', 8 * MiB);
    await zb(site, ['initialize', p.dst]);
    files.push({ fd: openSync(join(await mountpoint(p.src), 'data.bin'), 'r+'), at: 0 });
  }
  // 1 MiB a second into each source, over and over the same 8 MiB: a change to carry, no growth
  const writer = () => {
    for (const f of files) {
      writeSync(f.fd, randomBytes(MiB), 0, MiB, f.at);
      f.at = (f.at + MiB) % (8 * MiB);
    }
  };
  const statusOf = () =>
    pairs.map((p) => {
      try {
        const rec = JSON.parse(readFileSync(join(site.paths.state, `${fpOf(p.src, p.dst)}.status`), 'utf8')) as { lastSnapshot?: { creation: number } };
        return { label: p.dst, creation: rec.lastSnapshot?.creation ?? null };
      } catch {
        return { label: p.dst, creation: null };
      }
    });
  const d = new BenchDaemon(site, ['--jobs', '2']);
  let worst: Map<string, number>;
  try {
    log(`figure 12: 10 pairs, interval=15s, 1 MiB/s into each, for ${seconds} s`);
    worst = await watchLag(statusOf, seconds, writer);
  } finally {
    await d.stop();
    for (const f of files) closeSync(f.fd);
  }
  const max = Math.max(...worst.values());
  const updates = pairs.map((p) => d.count(p.dst));
  report({
    n: 12,
    title: `10 pairs, interval=15s, --jobs 2, each source written at 1 MiB/s, for ${seconds} s`,
    text: `worst lag of any pair ${max.toFixed(1)} s (target < 30 s); updates per pair ${Math.min(...updates)} to ${Math.max(...updates)}`,
    met: max < 30,
    details: [`worst lag per pair (s): ${[...worst.values()].map((x) => x.toFixed(1)).join(', ')}; median update ${fmtS(median(pairs.flatMap((p) => d.done.get(p.dst) ?? [])))}`],
  });
}

/** figure 13: resident memory and open files after 2,000 cycles against after 100 */
async function daemonFootprint(): Promise<void> {
  const cycles = Math.max(200, Number(process.env.BENCH_CYCLES ?? 2000) || 2000);
  const src = `${SRC}/d13`;
  const srcSsh = `${SRC}/d13s`;
  for (const d of [src, srcSsh]) {
    await zfs('create', d);
    await writeRandom(d, 'base.bin', MiB);
  }
  const site = makeSite(bed);
  const dst = `${DST}/f13`;
  // a second pair over ssh beside it: its master connection and sessions must not leak either
  const dstSsh = `127.0.0.1:${DST}/f13s`;
  site.writePairs([`${src} ${dst}`, `${srcSsh} ${dstSsh} ${sshKeys(bed)}`]);
  await zb(site, ['initialize', dst]);
  await zb(site, ['initialize', dstSsh]);
  // 1 ms: each update starts as soon as the last one ended
  const d = new BenchDaemon(site, ['--jobs', '2'], 1);
  let r: Awaited<ReturnType<typeof footprintOver>>;
  try {
    log(`figure 13: ${cycles} back-to-back updates of one local pair in one daemon`);
    r = await footprintOver(d, dst, cycles);
  } finally {
    await d.stop();
  }
  const growth = r.late.rssKiB / r.early.rssKiB - 1;
  report({
    n: 13,
    title: `resident memory of one daemon after ${cycles} updates of a local pair (and an ssh pair beside it) vs after 100 (VmRSS, medians of 21 samples each)`,
    text: `${(r.early.rssKiB / 1024).toFixed(1)} MiB after 100, ${(r.late.rssKiB / 1024).toFixed(1)} MiB after ${cycles}: ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}% (target within 10%); open fds of its own at fewest ${r.early.fds} and ${r.late.fds} (medians ${r.early.fdsMedian} and ${r.late.fdsMedian}; besides ${r.early.plumbing} and ${r.late.plumbing} pipes to its running children and idle spare processes)`,
    met: Math.abs(growth) <= 0.1 && r.late.fds <= r.early.fds,
    details: [`${cycles} updates of the local pair in ${r.seconds.toFixed(0)} s (${fmtS(r.seconds / cycles)} each, back to back), ${d.count(dstSsh)} of the ssh pair meanwhile`],
  });
}

async function machine(): Promise<string[]> {
  const version = async (argv: string[]): Promise<string> => {
    const r = await execa(argv[0]!, argv.slice(1), { reject: false, all: true });
    return String(r.all ?? '').split('\n')[0]!.trim();
  };
  return [
    `date ${new Date().toISOString()}`,
    `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${os.release()}`,
    `zfs-fuse ${await version(['dpkg-query', '-W', '-f=${Version}', 'zfs-fuse'])}, ${await version(['ssh', '-V'])}, syncoid ${await version(['dpkg-query', '-W', '-f=${Version}', 'sanoid'])}, node ${process.version}`,
    `tree: ${await version(['git', '-C', fileURLToPath(new URL('../..', import.meta.url)), 'describe', '--always', '--dirty'])} (the build this run measured)`,
    `${RUNS} timed runs per contender after one warm-up each, order alternated every round; medians`,
  ];
}

async function main(): Promise<number> {
  const started = performance.now();
  log('installing sanoid (syncoid) and strace if missing');
  await ensurePackages(['sanoid', 'strace']);
  log('bringing up the test bed');
  bed = await getBed();
  SRC = await bed.createPool('bsrc', 1024);
  DST = await bed.createPool('bdst', 1536);
  cipher = await negotiatedCipher();
  const bare = await sideBySide(RUNS, [() => timed(['node', '-e', '0']), () => timed([LAUNCHER, '--version'])]);
  nodeStart = median(secs(bare[0]!));
  zbVersion = median(secs(bare[1]!));
  const header = await machine();
  header.push(`ssh cipher (ssh's default, negotiated with the bed's sshd): ${cipher}`);
  header.push(`\`node -e 0\` ${fmtS(nodeStart)}; \`zettabee --version\` (start-up and module loading) ${fmtS(zbVersion)}`);
  process.stdout.write(`zettabee benchmark\n${header.map((l) => `  ${l}`).join('\n')}\n\n`);

  if (want(1) || want(2) || want(8) || want(9)) await fullSends();
  if (want(3)) await localIncremental();
  if (want(4)) await sshIncremental();
  if (want(5)) await manyPairs();
  if (want(6)) await thousandPairs();
  if (want(7)) await manySnapshots();
  if (want(10)) await daemonLocal();
  if (want(11)) await daemonSsh();
  if (want(12)) await daemonLag();
  if (want(13)) await daemonFootprint();

  const took = (performance.now() - started) / 1000;
  figures.sort((a, b) => a.n - b.n);
  const targets = figures.filter((f) => f.met !== null);
  process.stdout.write(`\nsummary (${targets.filter((f) => f.met).length} of ${targets.length} targets met; the bench took ${(took / 60).toFixed(1)} min)\n`);
  for (const f of figures) process.stdout.write(`${figureLine(f)}\n`);
  return 0;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    log(`${sig}: tearing the test bed down`);
    void teardownBed().finally(() => process.exit(130));
  });
}

main()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (!interrupted) process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => {
    if (!interrupted) {
      log('tearing the test bed down');
      return teardownBed();
    }
    return undefined;
  });

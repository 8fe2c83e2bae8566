import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { ActionError, BusyError, EXIT_BUSY, EXIT_FAILED } from '../../src/errors.js';
import { inspectLock, PairLock, unlockPair, waitForEvicted, type LockHolder } from '../../src/state/lock.js';

const FP = 'f00dfeed1234';
const LABEL = 'dst.example:backup/data';
const LOCK_URL = new URL('../../src/state/lock.js', import.meta.url).href;

/** a real process that takes the lock through the compiled module and keeps it */
interface Holder {
  child: ChildProcess;
  pid: number;
  out: string[];
  exited: Promise<void>;
  waitFor(re: RegExp, ms?: number): Promise<string>;
}

const live: Holder[] = [];

function startHolder(settings: Settings, fp = FP): Holder {
  const script = `
    const { PairLock } = await import(${JSON.stringify(LOCK_URL)});
    const settings = JSON.parse(process.env.ZB_SETTINGS);
    try {
      await PairLock.acquire(settings, ${JSON.stringify(fp)}, { action: 'update', label: 'x', recoverStale: false,
        onCompromised: (e) => console.log('compromised ' + e.code) });
      console.log('ready');
    } catch (e) {
      console.log('error ' + e.name + ' ' + e.message);
    }
    setInterval(() => {}, 60000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ZB_SETTINGS: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: string[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    out.push(...lines);
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const h: Holder = {
    child,
    pid: child.pid!,
    out,
    exited,
    waitFor(re, ms = 15000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got ${JSON.stringify(out)}`)), ms);
        const check = () => {
          const hit = out.find((l) => re.test(l));
          if (hit) { clearTimeout(timer); resolve(hit); } else waiters.push(check);
        };
        check();
      });
    },
  };
  live.push(h);
  return h;
}

async function kill(h: Holder, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill(sig);
  await h.exited;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function myProcStart(): string {
  const t = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  return t.slice(t.lastIndexOf(')') + 1).trim().split(/\s+/)[19]!;
}

describe('state/lock', () => {
  let dir: string;
  let settings: Settings;
  const lockDir = () => join(settings.paths.lock, `${FP}.lock`);
  const holderPath = () => join(settings.paths.lock, `${FP}.holder`);
  const opts = (recoverStale = false) => ({ action: 'update', label: LABEL, recoverStale });

  /** a lock as a crashed run leaves it: the directory plus a holder file */
  function fakeLock(holder: LockHolder, ageMs = 0): void {
    mkdirSync(lockDir(), { recursive: true });
    writeFileSync(holderPath(), JSON.stringify(holder));
    if (ageMs) utimesSync(lockDir(), new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-lock-'));
    settings = builtinSettings();
    // a lock directory that does not exist yet, as /run after a reboot
    settings.paths = { state: join(dir, 'state'), lock: join(dir, 'run', 'zettabee'), log: join(dir, 'log') };
  });
  afterEach(async () => {
    await Promise.all(live.splice(0).map((h) => kill(h)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('proper-lockfile with realpath: false locks a target that does not exist', async () => {
    mkdirSync(dir, { recursive: true });
    const release = await lockfile.lock(join(dir, 'no-such-file'), { lockfilePath: join(dir, 'x.lock'), realpath: false });
    expect(existsSync(join(dir, 'x.lock'))).to.equal(true);
    expect(existsSync(join(dir, 'no-such-file'))).to.equal(false);
    await release();
    expect(existsSync(join(dir, 'x.lock'))).to.equal(false);
  });

  it('is free when nothing is there, even without a lock directory', () => {
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'free' });
  });

  it('acquires (creating the lock directory), shows the holder, and releases (twice is fine)', async () => {
    const lock = await PairLock.acquire(settings, FP, opts());
    expect(lock.recovered).to.equal(null);
    const state = inspectLock(settings, FP);
    expect(state.kind).to.equal('held');
    const h = (state as { holder: LockHolder }).holder;
    expect(h).to.include({ pid: process.pid, host: hostname(), action: 'update', procStart: myProcStart() });
    expect(h.bootId).to.equal(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(h.started).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(readdirSync(settings.paths.lock).sort()).to.deep.equal([`${FP}.holder`, `${FP}.lock`]);
    await lock.release();
    await lock.release();
    expect(readdirSync(settings.paths.lock)).to.deep.equal([]);
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'free' });
    // and again, after the release
    const again = await PairLock.acquire(settings, FP, opts());
    await again.release();
  });

  it('keeps pairs apart', async () => {
    const a = await PairLock.acquire(settings, FP, opts());
    const b = await PairLock.acquire(settings, 'otherpair', opts());
    expect(inspectLock(settings, 'otherpair').kind).to.equal('held');
    await a.release();
    expect(inspectLock(settings, 'otherpair').kind).to.equal('held');
    await b.release();
  });

  it('a second acquire while held is BusyError (exit 75) naming the pid', async () => {
    const lock = await PairLock.acquire(settings, FP, opts());
    try {
      const err = await caught(PairLock.acquire(settings, FP, opts(true)));
      expect(err).to.be.instanceOf(BusyError);
      expect((err as BusyError).exitCode).to.equal(EXIT_BUSY);
      expect(err.message).to.match(new RegExp(`^busy: pid ${process.pid} on ${hostname()} has held the lock since \\S+ \\(update\\)$`));
      expect((err as BusyError).hint).to.contain('not an error for cron');
    } finally {
      await lock.release();
    }
  });

  it('two concurrent acquires in one process: exactly one wins', async () => {
    const results = await Promise.allSettled([PairLock.acquire(settings, FP, opts()), PairLock.acquire(settings, FP, opts())]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).to.have.length(1);
    expect(lost).to.have.length(1);
    expect(lost[0]!.reason).to.be.instanceOf(BusyError);
    await (won[0] as PromiseFulfilledResult<PairLock>).value.release();
    expect(readdirSync(settings.paths.lock)).to.deep.equal([]);
  });

  it('a live holder in another process is busy; a killed one is stale, refused, then recovered', async () => {
    const h = startHolder(settings);
    await h.waitFor(/^ready$/);
    const held = inspectLock(settings, FP);
    expect(held.kind).to.equal('held');
    expect((held as { holder: LockHolder }).holder.pid).to.equal(h.pid);
    const busy = await caught(PairLock.acquire(settings, FP, opts(true)));
    expect(busy).to.be.instanceOf(BusyError);
    expect(busy.message).to.contain(`pid ${h.pid}`);

    await kill(h); // SIGKILL: no exit hook runs, both files stay behind
    expect(existsSync(lockDir())).to.equal(true);
    const stale = inspectLock(settings, FP);
    expect(stale.kind).to.equal('stale');
    expect((stale as { reason: string }).reason).to.match(new RegExp(`^pid ${h.pid} \\(update, started \\S+\\) is no longer running$`));

    const refused = await caught(PairLock.acquire(settings, FP, opts(false)));
    expect(refused).to.be.instanceOf(ActionError);
    expect((refused as ActionError).exitCode).to.equal(EXIT_FAILED);
    expect(refused.message).to.match(/^stale lock: pid \d+ .* is no longer running$/);
    expect((refused as ActionError).hint).to.contain(`zettabee unlock ${LABEL}`);
    expect(existsSync(lockDir())).to.equal(true); // refusing touches nothing

    const lock = await PairLock.acquire(settings, FP, opts(true));
    expect(lock.recovered).to.include({ pid: h.pid, action: 'update' });
    expect((inspectLock(settings, FP) as { holder: LockHolder }).holder.pid).to.equal(process.pid);
    await lock.release();
    expect(readdirSync(settings.paths.lock)).to.deep.equal([]);
  });

  it('a holder stopped by SIGTERM leaves only its holder file, and the next acquire is clean', async () => {
    const h = startHolder(settings);
    await h.waitFor(/^ready$/);
    await kill(h, 'SIGTERM');
    // proper-lockfile's exit hook removed the directory; our holder file stays
    expect(readdirSync(settings.paths.lock)).to.deep.equal([`${FP}.holder`]);
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'free' });
    const lock = await PairLock.acquire(settings, FP, opts());
    expect((inspectLock(settings, FP) as { holder: LockHolder }).holder.pid).to.equal(process.pid);
    await lock.release();
    expect(readdirSync(settings.paths.lock)).to.deep.equal([]);
  });

  it('a run killed at any point of taking or releasing the lock never leaves one that only `unlock` can name: free, an orphan, or a stale lock naming its dead holder (never a directory without a holder, which reads busy, then stale)', async function () {
    this.timeout(60_000);
    const script = `
      const { PairLock } = await import(${JSON.stringify(LOCK_URL)});
      const settings = JSON.parse(process.env.ZB_SETTINGS);
      console.log('looping');
      for (;;) {
        const lock = await PairLock.acquire(settings, ${JSON.stringify(FP)}, { action: 'update', label: 'x', recoverStale: false });
        await lock.release();
      }
    `;
    const seen: string[] = [];
    for (let k = 0; k < 40; k++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ZB_SETTINGS: JSON.stringify(settings) }, stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 40)));
      child.kill('SIGKILL');
      await exited;
      const st = inspectLock(settings, FP);
      seen.push(st.kind === 'stale' ? (st.orphan ? 'orphan' : 'stale') : st.kind);
      if (st.kind === 'stale') expect(st.orphan || st.holder?.pid === child.pid, `kill ${k}: ${JSON.stringify(st)}`).to.equal(true);
      else expect(st.kind, `kill ${k}: a lock directory without holder or starter is left (${existsSync(settings.paths.lock) ? readdirSync(settings.paths.lock).join(', ') : 'no lock directory'})`).to.equal('free');
      // what a crash leaves, `unlock` (or the next run, for an orphan) clears
      if (st.kind !== 'free') expect((await unlockPair(settings, FP, LABEL, false)).removed, `kill ${k}`).to.equal('stale');
      expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'free' });
      rmSync(settings.paths.lock, { recursive: true, force: true });
    }
    // the kills landed in different places
    expect(new Set(seen).size, seen.join(' ')).to.be.at.least(2);
  });

  it('guards against pid reuse with the process start time', () => {
    const base = { pid: process.pid, host: hostname(), started: '2026-11-22T10:00:00Z', action: 'update' };
    fakeLock({ ...base, procStart: myProcStart() });
    expect(inspectLock(settings, FP).kind).to.equal('held');
    fakeLock({ ...base, procStart: '1' });
    const s = inspectLock(settings, FP);
    expect(s.kind).to.equal('stale');
    expect((s as { reason: string }).reason).to.equal(
      `pid ${process.pid} (update, started 2026-11-22T10:00:00Z) is no longer running (pid ${process.pid} is now another process)`);
  });

  it('a holder from before a reboot is stale', () => {
    fakeLock({ pid: process.pid, host: hostname(), started: '2026-11-22T10:00:00Z', action: 'update', bootId: 'not-this-boot' });
    const s = inspectLock(settings, FP);
    expect(s.kind).to.equal('stale');
    expect((s as { reason: string }).reason).to.contain('ran before the last reboot');
  });

  it('a holder on another host cannot be checked: held, and the message says so', async () => {
    fakeLock({ pid: 4242, host: 'elsewhere.example', started: '2026-11-22T10:00:00Z', action: 'purge' }, 3600_000);
    expect(inspectLock(settings, FP).kind).to.equal('held');
    const err = await caught(PairLock.acquire(settings, FP, opts(true)));
    expect(err).to.be.instanceOf(BusyError);
    expect(err.message).to.equal(
      'busy: pid 4242 on elsewhere.example has held the lock since 2026-11-22T10:00:00Z (purge); held by pid 4242 on elsewhere.example, cannot check from here');
    const refused = await caught(unlockPair(settings, FP, LABEL, false));
    expect(refused.message).to.contain('cannot check from here').and.to.contain('refusing to unlock');
  });

  it('a lock directory without a holder file: held while young, stale when older than 10 s', async () => {
    mkdirSync(lockDir(), { recursive: true });
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'held', holder: null });
    expect(await caught(PairLock.acquire(settings, FP, opts(true)))).to.be.instanceOf(BusyError);
    const old = new Date(Date.now() - 11_000);
    utimesSync(lockDir(), old, old);
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'stale', holder: null, reason: 'lock directory without a holder file' });
    // an unreadable holder file counts as none
    writeFileSync(holderPath(), '{"pid": ');
    expect(inspectLock(settings, FP).kind).to.equal('stale');
    const lock = await PairLock.acquire(settings, FP, opts(true));
    expect(lock.recovered).to.equal(null);
    await lock.release();
  });

  it('a lock directory whose starter was killed before its holder write (its starter record says so): an orphan, taken over at once even with refuse; unlock removes it too', async () => {
    const dead = spawn('true');
    await new Promise((r) => dead.on('exit', r));
    const record = join(settings.paths.lock, `${FP}.starting-${dead.pid}`);
    const orphan = () => {
      mkdirSync(lockDir(), { recursive: true });
      writeFileSync(record, JSON.stringify({ pid: dead.pid, host: hostname() }));
    };
    orphan();
    const reason = `its run (pid ${dead.pid}) died while taking the lock, before it did anything`;
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'stale', holder: null, reason, orphan: true });
    const lock = await PairLock.acquire(settings, FP, opts(false));
    expect(lock.orphaned).to.equal(reason);
    expect(lock.recovered).to.equal(null);
    expect(existsSync(record), 'the dead starter\'s record').to.equal(false);
    expect(readdirSync(settings.paths.lock).filter((f) => f.includes('.starting-')), 'no starter record once the lock is held').to.deep.equal([]);
    await lock.release();
    orphan();
    expect(await unlockPair(settings, FP, LABEL, false)).to.deep.equal({ removed: 'stale', holder: null });
    expect(existsSync(lockDir())).to.equal(false);
  });

  it('a torn starter record (killed mid-write) is judged by the pid in its name', async () => {
    const dead = spawn('true');
    await new Promise((r) => dead.on('exit', r));
    mkdirSync(lockDir(), { recursive: true });
    writeFileSync(join(settings.paths.lock, `${FP}.starting-${dead.pid}`), '{"pid": ');
    expect(inspectLock(settings, FP)).to.include({ kind: 'stale', orphan: true });
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(settings.paths.lock, `${FP}.starting-${sleeper.pid}`), '');
      expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'held', holder: null });
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a lock directory without a holder while its starter lives (its record names a live pid): busy, whatever its age; unlock refuses', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      mkdirSync(lockDir(), { recursive: true });
      writeFileSync(join(settings.paths.lock, `${FP}.starting-${sleeper.pid}`), JSON.stringify({ pid: sleeper.pid, host: hostname() }));
      const old = new Date(Date.now() - 60_000);
      utimesSync(lockDir(), old, old);
      expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'held', holder: null });
      expect(await caught(PairLock.acquire(settings, FP, opts(true)))).to.be.instanceOf(BusyError);
      expect((await caught(unlockPair(settings, FP, LABEL, false))).message).to.contain('refusing to unlock');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a holder file left by a dead run of an earlier lock directory never speaks for a new one (the race of a starter between its mkdir and its holder write)', async () => {
    // a run killed with SIGTERM left its holder (with the id of its own, removed directory)
    const h = startHolder(settings);
    await h.waitFor(/^ready$/);
    await kill(h, 'SIGTERM');
    const left = JSON.parse(readFileSync(holderPath(), 'utf8')) as LockHolder;
    expect(left.lockId).to.be.a('string');
    // a starter has made its directory and not yet written its holder: held by a starter, not stale
    mkdirSync(lockDir(), { recursive: true });
    expect(inspectLock(settings, FP)).to.deep.equal({ kind: 'held', holder: null });
    expect(await caught(PairLock.acquire(settings, FP, opts(true)))).to.be.instanceOf(BusyError);
    rmSync(lockDir(), { recursive: true });
    // a second starter that saw the lock free leaves that holder file alone (it may be a racing starter's new one)
    const lock = await PairLock.acquire(settings, FP, opts());
    const mine = (inspectLock(settings, FP) as { holder: LockHolder }).holder;
    expect(mine.pid).to.equal(process.pid);
    expect(mine.lockId).to.not.equal(left.lockId);
    await lock.release();
  });

  it('unlockPair: nothing to do when free; removes a stale lock', async () => {
    expect(await unlockPair(settings, FP, LABEL, false)).to.deep.equal({ removed: 'none', holder: null });
    const dead = { pid: process.pid, host: hostname(), started: '2026-11-22T10:00:00Z', action: 'update', procStart: '1' };
    fakeLock(dead);
    const r = await unlockPair(settings, FP, LABEL, false);
    expect(r).to.deep.equal({ removed: 'stale', holder: dead });
    expect(readdirSync(settings.paths.lock)).to.deep.equal([]);
  });

  it('unlockPair refuses a live holder and --force removes it; the holder learns it was compromised', async function () {
    this.timeout(30000);
    const h = startHolder(settings);
    await h.waitFor(/^ready$/);
    const err = await caught(unlockPair(settings, FP, LABEL, false));
    expect(err).to.be.instanceOf(ActionError);
    expect(err.message).to.match(new RegExp(`^pid ${h.pid} on ${hostname()} \\(update since \\S+\\) is still running; refusing to unlock$`));
    expect((err as ActionError).hint).to.equal(`if it is really hung, stop it first (kill ${h.pid}), or use zettabee unlock --force ${LABEL}`);
    expect(existsSync(lockDir())).to.equal(true);

    const r = await unlockPair(settings, FP, LABEL, true);
    expect(r.removed).to.equal('forced');
    expect(r.holder!.pid).to.equal(h.pid);
    // the lock is gone; what is left says whom it evicted, for the next run to wait for
    expect(readdirSync(settings.paths.lock)).to.deep.equal([`${FP}.evicted`]);
    expect(JSON.parse(readFileSync(join(settings.paths.lock, `${FP}.evicted`), 'utf8')).pid).to.equal(h.pid);
    // its next mtime update (every 5 s) finds the directory gone; it reports and keeps running
    expect(await h.waitFor(/^compromised/, 15000)).to.equal('compromised ECOMPROMISED');
    expect(h.child.exitCode).to.equal(null);
    // while it lives, the next run waits for it (here: not long), and is told it still lives
    const waited = await waitForEvicted(settings, FP, 300);
    expect(waited.gone).to.equal(false);
    expect(waited.holder!.pid).to.equal(h.pid);
  });

  it('release after a forced unlock leaves the next holder alone', async function () {
    this.timeout(30000);
    let compromised: Error | null = null;
    const a = await PairLock.acquire(settings, FP, { ...opts(), onCompromised: (e) => { compromised = e; } });
    await unlockPair(settings, FP, LABEL, true);
    const b = startHolder(settings);
    await b.waitFor(/^ready$/);
    await new Promise((r) => setTimeout(r, 6500)); // let a's update timer notice
    expect(compromised).to.not.equal(null);
    await a.release();
    const s = inspectLock(settings, FP);
    expect(s.kind).to.equal('held');
    expect((s as { holder: LockHolder }).holder.pid).to.equal(b.pid);
  });
});

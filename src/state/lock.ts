// The per-pair lock, <lock>/<fp>.lock (a proper-lockfile lock directory),
// plus a holder file <lock>/<fp>.holder (JSON) that says who holds it, so a
// second run can say "busy: pid N on HOST since T" and `unlock` can tell a
// live holder from a dead one.
import { mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { Settings } from '../config/settings.js';
import { ActionError, BusyError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { evictedFile, holderFile, lockFile } from './paths.js';

export interface LockHolder {
  pid: number;
  /** os.hostname() */
  host: string;
  /** ISO 8601 */
  started: string;
  action: string;
  /** field 22 of /proc/<pid>/stat (start time in clock ticks since boot) when known: guards against pid reuse */
  procStart?: string;
  /** /proc/sys/kernel/random/boot_id when known: a holder from before a reboot is dead */
  bootId?: string;
  /**
   * the lock directory it was written for (inode and birth time): a holder
   * file left over from an earlier lock never speaks for a new directory
   */
  lockId?: string;
}

/** which lock directory this is: a new mkdir is a new id, whatever its name */
function lockIdOf(st: { ino: number; birthtimeMs: number }): string {
  return `${st.ino}:${Math.round(st.birthtimeMs * 1000)}`;
}

export type LockState =
  | { kind: 'free' }
  | { kind: 'held'; holder: LockHolder | null }
  /** orphan: a lock directory whose run died before it wrote its holder, so before it did anything */
  | { kind: 'stale'; holder: LockHolder | null; reason: string; orphan?: true };

/**
 * proper-lockfile timing.
 *
 * STALE_MS: proper-lockfile's own staleness test (lock dir mtime older than
 * `stale` => remove it and take over) only runs when its mkdir hits EEXIST.
 * We call lock() only after inspectLock() said free (or after we removed a
 * stale lock ourselves), so by then the only directory it can find is a
 * racing starter's brand-new one. Staleness is decided by us from the holder
 * (pid, start time, boot id), never from an mtime, so this value is made long
 * enough that proper-lockfile never steals a live holder's lock, even one whose
 * event loop or machine was paused (SIGSTOP, suspend, a long synchronous call).
 * It is also how long the holder itself tolerates failing mtime updates before
 * calling the lock compromised. (It cannot be switched off: values below
 * 2000 ms are raised to 2000.)
 *
 * UPDATE_MS: how often the holder touches the lock dir's mtime (must be
 * <= stale/2 and >= 1000, else proper-lockfile clamps it). 5 s keeps the mtime
 * of a live holder's lock dir younger than FRESH_MS, so a lock dir whose holder
 * file is missing still reads as held while its owner is alive. The cost is a
 * stat + utimes on /run (tmpfs) every 5 s.
 */
const STALE_MS = 10 * 60 * 1000;
const UPDATE_MS = 5 * 1000;
/** a lock dir without a holder file this young belongs to a run that is just starting */
const FRESH_MS = 10 * 1000;

/** a sync call behind a node-style callback (called outside the try: its own errors are not the call's) */
function viaSync(call: (...args: never[]) => unknown): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    const callback = args.pop() as (err: unknown, result?: unknown) => void;
    let result: unknown;
    try {
      result = (call as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      callback(err);
      return;
    }
    callback(null, result);
  };
}

/**
 * proper-lockfile's fs: node's sync calls behind its callbacks. The lock is
 * then taken in one go right after the inspection, with no trip through
 * node's thread pool for the mkdir (0.3 to 0.6 ms on a run's way to its
 * snapshot), and its mtime updates are sync calls from a timer. One object
 * for every lock: proper-lockfile caches its mtime-precision probe on it.
 * (Its lockSync makes a new object per lock, so every lock probes, and the
 * probe sets the lock's mtime to the next whole second plus 5 ms: two locks
 * taken within a second would look the same to its compromise check.)
 */
const LOCK_FS = {
  mkdir: viaSync(mkdirSync),
  stat: viaSync(statSync),
  rmdir: viaSync(rmdirSync),
  utimes: viaSync(utimesSync),
  realpath: viaSync(realpathSync),
  rmdirSync,
};

/** ISO 8601 to the second: what people read in messages */
function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

let cachedBootId: string | undefined | null = null;
/** constant for the life of the process, so read once */
function currentBootId(): string | undefined {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      cachedBootId = undefined;
    }
  }
  return cachedBootId;
}

/**
 * Field 22 (starttime) of /proc/<pid>/stat. Field 2 is "(comm)" and comm may
 * contain spaces and parentheses, so count fields from after the LAST ')':
 * the text after it starts with field 3.
 */
export function procStartOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    if (close < 0) return undefined;
    const fields = text.slice(close + 1).trim().split(/\s+/);
    return fields[22 - 3];
  } catch {
    return undefined;
  }
}

function readHolder(path: string): LockHolder | null {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const h = v as Record<string, unknown>;
  if (!Number.isInteger(h.pid) || (h.pid as number) <= 0) return null;
  if (typeof h.host !== 'string' || typeof h.started !== 'string' || typeof h.action !== 'string') return null;
  const holder: LockHolder = { pid: h.pid as number, host: h.host, started: h.started, action: h.action };
  if (typeof h.procStart === 'string') holder.procStart = h.procStart;
  if (typeof h.bootId === 'string') holder.bootId = h.bootId;
  if (typeof h.lockId === 'string') holder.lockId = h.lockId;
  return holder;
}

/** temp file + rename so a concurrent inspectLock never reads half a holder */
function writeHolder(path: string, holder: LockHolder): void {
  // not fsynced: the lock lives in /run (gone after a crash of the machine;
  // bootId tells a holder from before a reboot anyway), and the time between
  // mkdir and this file is when a kill leaves a lock nobody can name
  writeFileAtomic(path, JSON.stringify(holder, null, 2) + '\n', { durable: false, mode: 0o640 });
}

function isOtherHost(h: LockHolder): boolean {
  return h.host !== hostname();
}

/** whether a process of this machine has this pid (EPERM: it exists but belongs to another user) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** null when alive (or when we cannot tell: another host); else why it is dead */
function deadReason(h: LockHolder): string | null {
  if (isOtherHost(h)) return null;
  const who = `pid ${h.pid} (${h.action}, started ${h.started})`;
  const boot = currentBootId();
  if (h.bootId && boot && h.bootId !== boot) return `${who} ran before the last reboot`;
  if (!pidAlive(h.pid)) return `${who} is no longer running`;
  if (h.procStart) {
    const now = procStartOf(h.pid);
    if (now !== undefined && now !== h.procStart) return `${who} is no longer running (pid ${h.pid} is now another process)`;
  }
  return null;
}

function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host}`;
}

function otherHostNote(h: LockHolder): string {
  return isOtherHost(h) ? `; held by pid ${h.pid} on ${h.host}, cannot check from here` : '';
}

/*
 * Starter records, <lock>/<fp>.starting-<pid>: a run writes one before it
 * makes the lock directory and removes it once its holder file is written.
 * A kill between the mkdir and the holder write (wider under load) used to
 * leave a directory no one could name: busy for 10 s, then a stale lock
 * that only `unlock` removed. With the records, a directory without holder
 * is a live starter's (busy) or a dead starter's (an orphan, taken over at
 * once: its run died before it did anything).
 */
const STARTING = '.starting-';

interface Starter {
  pid: number;
  host: string;
  procStart?: string;
  bootId?: string;
}

function starterPath(settings: Settings, fp: string, pid: number): string {
  return join(settings.paths.lock, `${fp}${STARTING}${pid}`);
}

/** this process as a starter record and a holder name it: pid, host, and what tells it from a later process of that pid */
function thisProcess(): Starter {
  const me: Starter = { pid: process.pid, host: hostname() };
  const procStart = procStartOf(process.pid);
  if (procStart !== undefined) me.procStart = procStart;
  const bootId = currentBootId();
  if (bootId !== undefined) me.bootId = bootId;
  return me;
}

function writeStarter(settings: Settings, fp: string): string {
  const path = starterPath(settings, fp, process.pid);
  writeFileSync(path, JSON.stringify(thisProcess()) + '\n', { mode: 0o640 });
  return path;
}

/** the other runs taking this pair's lock: alive ones (or of another host), and the records of dead ones */
function startersOf(settings: Settings, fp: string, self?: number): { alive: number[]; dead: Array<{ pid: number; path: string }> } {
  const out = { alive: [] as number[], dead: [] as Array<{ pid: number; path: string }> };
  let names: string[];
  try {
    names = readdirSync(settings.paths.lock);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.startsWith(`${fp}${STARTING}`)) continue;
    const path = join(settings.paths.lock, name);
    const named = Number(name.slice(fp.length + STARTING.length));
    let v: Starter;
    try {
      v = JSON.parse(readFileSync(path, 'utf8')) as Starter;
    } catch {
      // being written this very moment, or torn by a kill: its name says whose
      if (!Number.isInteger(named) || named <= 0 || named === self) continue;
      if (pidAlive(named)) out.alive.push(named);
      else out.dead.push({ pid: named, path });
      continue;
    }
    if (!Number.isInteger(v.pid) || v.pid === self) continue;
    const dead = deadReason({ pid: v.pid, host: String(v.host), started: '', action: 'start', ...(v.procStart ? { procStart: v.procStart } : {}), ...(v.bootId ? { bootId: v.bootId } : {}) });
    if (dead) out.dead.push({ pid: v.pid, path });
    else out.alive.push(v.pid);
  }
  return out;
}

/** cheap and synchronous (stat + small reads): for status and check; `self`: the caller's own starter record does not count */
export function inspectLock(settings: Settings, fp: string, self?: number): LockState {
  let mtimeMs: number;
  let id: string;
  try {
    const st = statSync(lockFile(settings, fp));
    mtimeMs = st.mtimeMs;
    id = lockIdOf(st);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'free' };
    throw err;
  }
  // a holder written for another lock directory (its run died after
  // proper-lockfile removed the directory) is not this one's: a starter
  // between its mkdir and its holder write
  const read = readHolder(holderFile(settings, fp));
  const holder = read && (read.lockId === undefined || read.lockId === id) ? read : null;
  if (holder) {
    const reason = deadReason(holder);
    return reason ? { kind: 'stale', holder, reason } : { kind: 'held', holder };
  }
  const starters = startersOf(settings, fp, self);
  if (starters.alive.length) return { kind: 'held', holder: null };
  if (starters.dead.length) {
    return { kind: 'stale', holder: null, reason: `its run (pid ${starters.dead.map((d) => d.pid).join(', ')}) died while taking the lock, before it did anything`, orphan: true };
  }
  // no record (an older zettabee's lock): mkdir happens before the holder
  // file is written; proper-lockfile also sets the mtime up to 1 s into the
  // future, hence no lower bound on the age
  if (Date.now() - mtimeMs < FRESH_MS) return { kind: 'held', holder: null };
  return { kind: 'stale', holder: null, reason: 'lock directory without a holder file' };
}

function busyError(holder: LockHolder | null): BusyError {
  const hint = 'wait for it to finish; this is not an error for cron';
  if (!holder) return new BusyError('busy: another run is just taking the lock (no holder file yet)', hint);
  return new BusyError(
    `busy: ${describeHolder(holder)} has held the lock since ${holder.started} (${holder.action})${otherHostNote(holder)}`,
    hint,
  );
}

/** rm -r the lock dir and the holder file */
function removeLock(settings: Settings, fp: string): void {
  rmSync(lockFile(settings, fp), { recursive: true, force: true });
  rmSync(holderFile(settings, fp), { force: true });
}

export interface AcquireOptions {
  /** action name recorded in the holder file */
  action: string;
  /** how the pair is named in messages and hints (zettabee unlock <label>) */
  label: string;
  /** take over a stale lock instead of refusing (settings stale_lock = recover) */
  recoverStale: boolean;
  /** called if the lock is removed or taken from under us while held */
  onCompromised?: (err: Error) => void;
}

export class PairLock {
  /** the holder of a stale lock this acquire took over (recoverStale), for the log */
  readonly recovered: LockHolder | null = null;
  /** why the lock directory this acquire found was an orphan it took over (its starter died before holding it), for the log */
  readonly orphaned: string | null = null;

  #release: (() => Promise<void>) | null = null;
  #holderPath = '';
  #lockPath = '';
  #holder: LockHolder | null = null;
  /** set when proper-lockfile reported the lock compromised */
  #compromised: Error | null = null;

  /**
   * Take the lock. Throws BusyError (exit 75) when a live run holds it, naming
   * its pid, host and start time; ActionError when a stale lock is found and
   * recoverStale is false (hint: `zettabee unlock <label>`).
   */
  static async acquire(settings: Settings, fp: string, opts: AcquireOptions): Promise<PairLock> {
    // /run is a tmpfs: the directory is gone after every reboot
    mkdirSync(settings.paths.lock, { recursive: true, mode: 0o750 });
    const lockPath = lockFile(settings, fp);
    const holderPath = holderFile(settings, fp);
    const self = new PairLock();
    // before anything else: a racing starter that inspects after this sees us
    const starting = writeStarter(settings, fp);
    try {
      return await PairLock.take(settings, fp, opts, self, lockPath, holderPath);
    } finally {
      rmSync(starting, { force: true });
    }
  }

  private static async take(settings: Settings, fp: string, opts: AcquireOptions, self: PairLock, lockPath: string, holderPath: string): Promise<PairLock> {
    // Everything up to lockfile.lock() is synchronous, so the window between
    // deciding and removing is as small as it can be.
    const state = inspectLock(settings, fp, process.pid);
    if (state.kind === 'held') throw busyError(state.holder);
    if (state.kind === 'stale' && state.orphan) {
      // its run never held the lock, so it did nothing: not a crash to refuse over.
      // Only the directory goes: a holder file there is not its (it wrote none)
      rmSync(lockPath, { recursive: true, force: true });
      for (const d of startersOf(settings, fp, process.pid).dead) rmSync(d.path, { force: true });
      (self as { orphaned: string | null }).orphaned = state.reason;
    } else if (state.kind === 'stale') {
      if (!opts.recoverStale) {
        throw new ActionError(
          `stale lock: ${state.reason}`,
          `make sure no zettabee run for this pair is still going, look at its log, then run: zettabee unlock ${opts.label}`,
        );
      }
      removeLock(settings, fp);
      (self as { recovered: LockHolder | null }).recovered = state.holder;
    } else {
      // A holder file without a lock dir is left over from a run that ended
      // without release() (a signal or process.exit: proper-lockfile's exit
      // hook removes the dir, not our file). One that names its lock
      // directory is harmless (inspectLock ignores it for any other; ours
      // replaces it). One of an older zettabee, without lockId, is dropped now, or
      // between our mkdir and our holder write another starter would pair our fresh dir with
      // that dead holder and call it stale. Never remove a holder with an id:
      // it may be a racing starter's brand-new one.
      const left = readHolder(holderPath);
      if (left && left.lockId === undefined) rmSync(holderPath, { force: true });
      // the records of starters killed before their mkdir (or after their holder write)
      for (const d of startersOf(settings, fp, process.pid).dead) rmSync(d.path, { force: true });
    }

    let release: () => Promise<void>;
    try {
      // lockfilePath is the lock dir itself; the first argument is only a key
      // (realpath: false, so it need not exist). proper-lockfile keeps its
      // locks in a map by that key, so it must differ per pair.
      release = await lockfile.lock(join(settings.paths.lock, fp), {
        fs: LOCK_FS,
        lockfilePath: lockPath,
        realpath: false,
        retries: 0,
        stale: STALE_MS,
        update: UPDATE_MS,
        // the default throws from a timer, which would crash the process
        onCompromised: (err: Error) => {
          self.#compromised = err;
          try {
            opts.onCompromised?.(err);
          } catch {
            /* a throwing callback must not crash us from a timer either */
          }
        },
      });
    } catch (err) {
      // another starter won the mkdir race between our inspect and our mkdir
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw busyError(readHolder(holderPath));
      throw err;
    }

    const holder: LockHolder = { ...thisProcess(), started: isoNow(), action: opts.action };
    try {
      holder.lockId = lockIdOf(statSync(lockPath));
      writeHolder(holderPath, holder);
    } catch (err) {
      await release().catch(() => undefined);
      throw err;
    }
    self.#release = release;
    self.#holderPath = holderPath;
    self.#lockPath = lockPath;
    self.#holder = holder;
    return self;
  }

  /**
   * Whether this run still holds the lock, checked now (proper-lockfile
   * notices a removed lock only at its next update, up to UPDATE_MS later):
   * the lock directory is there and the holder file still names this run.
   * `unlock --force` and a new run taking over make it false at once.
   */
  stillHeld(): boolean {
    if (this.#compromised || !this.#release || !this.#holder) return false;
    const h = readHolder(this.#holderPath);
    const mine = this.#holder;
    let dir = false;
    try {
      dir = statSync(this.#lockPath).isDirectory();
    } catch {
      dir = false;
    }
    return dir && h !== null && h.pid === mine.pid && h.host === mine.host && h.started === mine.started && h.procStart === mine.procStart;
  }

  /** release the lock and remove the holder file; safe to call twice */
  async release(): Promise<void> {
    const release = this.#release;
    if (!release) return;
    this.#release = null;
    // The directory goes first, the holder file after it. The other order
    // left, when a run was killed between the two, a directory without a
    // holder or starter record: busy for 10 s, then a stale lock that named
    // no one and only `unlock` removed (the kill -9 fault test found it).
    // A holder file left without its directory is harmless: it names the
    // directory it was written for (lockId), and inspectLock ignores it.
    // compromised: proper-lockfile already dropped it (release would say ERELEASED)
    if (!this.#compromised) {
      try {
        await release();
      } catch (err) {
        // ERELEASED: compromised, so already dropped; ENOENT: someone removed the dir
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ERELEASED' && code !== 'ENOTACQUIRED' && code !== 'ENOENT') throw err;
      }
    }
    // Remove the holder file only if it is still ours: once the directory is
    // gone (or after a compromise: unlock --force) another run may hold the
    // lock and have written its own.
    const h = readHolder(this.#holderPath);
    const mine = this.#holder;
    if (h && mine && h.pid === mine.pid && h.host === mine.host && h.started === mine.started && h.procStart === mine.procStart) {
      rmSync(this.#holderPath, { force: true });
    }
  }
}

/**
 * After `unlock --force` evicted a live run, the next run waits (up to
 * `waitMs`) for that run to be gone: it stops by itself within a second of
 * losing its lock (pair-run polls it), and until it is gone it might still
 * finish a receive the new run knows nothing of. Resolves true when the
 * evicted run is gone (or none was), false when it still lives after the
 * wait: the new run must then destroy nothing that run might still need.
 */
export async function waitForEvicted(settings: Settings, fp: string, waitMs = 15_000): Promise<{ gone: boolean; holder: LockHolder | null }> {
  const file = evictedFile(settings, fp);
  const h = readHolder(file);
  if (!h) return { gone: true, holder: null };
  const deadline = Date.now() + waitMs;
  while (deadReason(h) === null && !isOtherHost(h)) {
    if (Date.now() > deadline) return { gone: false, holder: h };
    await new Promise((r) => setTimeout(r, 200));
  }
  // another host cannot be checked: treat it as alive, once
  if (isOtherHost(h)) return { gone: false, holder: h };
  rmSync(file, { force: true });
  return { gone: true, holder: h };
}

export interface UnlockResult {
  /** what was removed: 'none' when the pair was not locked */
  removed: 'none' | 'stale' | 'forced';
  holder: LockHolder | null;
}

/**
 * Remove a lock left by a crashed run. Refuses (ActionError naming pid, host
 * and start time) while the holder is alive, unless force.
 */
export async function unlockPair(settings: Settings, fp: string, label: string, force: boolean): Promise<UnlockResult> {
  const state = inspectLock(settings, fp);
  if (state.kind === 'free') return { removed: 'none', holder: null };
  if (state.kind === 'held') {
    if (!force) {
      const h = state.holder;
      const what = h
        ? `${describeHolder(h)} (${h.action} since ${h.started}) is still running${otherHostNote(h)}`
        : "a run is just taking the lock (no holder file yet)";
      throw new ActionError(
        `${what}; refusing to unlock`,
        h
          ? `if it is really hung, stop it first${isOtherHost(h) ? ` on ${h.host}` : ''} (kill ${h.pid}), or use zettabee unlock --force ${label}`
          : `wait a few seconds and look again, or use zettabee unlock --force ${label}`,
      );
    }
    removeLock(settings, fp);
    // the holder may well still be working: the next run must know it (waitForEvicted)
    if (state.holder) writeHolder(evictedFile(settings, fp), state.holder);
    return { removed: 'forced', holder: state.holder };
  }
  removeLock(settings, fp);
  return { removed: 'stale', holder: state.holder };
}

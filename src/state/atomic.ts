// Replacing a file so that a reader sees the old file or the new one, never
// half of one: a temp file in the same directory (unique per process and
// call, so concurrent writers never share one), written, fsynced, renamed
// over the target. Used for the status and progress files and for the
// Prometheus textfile.
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicOptions {
  /** fsync the data and the directory too (the file must survive a power cut) */
  durable: boolean;
  /** the file's mode, whatever the umask */
  mode: number;
  /** create a missing directory with this mode; left out, a missing directory is an error (ENOENT) */
  dirMode?: number;
}

/**
 * The temp file's name: hidden, and ending in neither the target's name nor
 * its extension, so a collector that globs `*.prom` never reads one
 */
export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}`);
}

/** the pid in `name` when it is one of tempName's names for `path`, else null */
export function tempNameOwner(path: string, name: string): number | null {
  const prefix = `.${basename(path)}.`;
  if (!name.startsWith(prefix)) return null;
  const m = /^(\d+)\.[0-9a-f]{12}$/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : null;
}

/** replace `path` with `data` atomically; on failure the temp file is gone and the old file untouched */
export function writeFileAtomic(path: string, data: string | Buffer, o: AtomicOptions): void {
  const dir = dirname(path);
  if (o.dirMode !== undefined) mkdirSync(dir, { recursive: true, mode: o.dirMode });
  const tmp = tempName(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', o.mode);
    fchmodSync(fd, o.mode); // the umask must not decide who may read it
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (o.durable) fsyncSync(fd); // the data is on disk before the name points at it (no empty file after a crash)
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw err;
  }
  if (o.durable) syncDir(dir);
}

/**
 * `value` as pretty JSON, mode 0640, creating the directory (0750) if
 * missing. `durable`: the status file must survive a power cut; a progress
 * file need not.
 */
export function writeJsonAtomic(path: string, value: unknown, durable: boolean): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', { durable, mode: 0o640, dirMode: 0o750 });
}

/** make the rename itself durable; best effort (not every filesystem allows fsync on a directory) */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* the file is written; only its durability across a power cut is less certain */
  } finally {
    if (fd !== null) try { closeSync(fd); } catch { /* ignore */ }
  }
}

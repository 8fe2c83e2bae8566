// Running the real zettabee launcher as a cron job would: a child process,
// its own pairs and settings files, the exit code and both output streams.
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bed } from '../harness/bed.js';
import { sleep } from './procs.js';

export const LAUNCHER = fileURLToPath(new URL('../../../bin/zettabee', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Site {
  dir: string;
  pairsFile: string;
  settingsFile: string;
  paths: { state: string; lock: string; log: string };
  /** env: extra environment (e.g. a private TMPDIR, so a check of /tmp leftovers sees only this run's) */
  run(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<Result>;
  /** start the launcher as Site.run does, without waiting: for kill -9 and overlap tests */
  spawn(args: string[]): ResultPromise;
  writePairs(lines: string[]): void;
}

/** expect this exit code, showing both output streams when it is another */
export function must(r: Result, code: number): void {
  expect(r.code, `exit code; stdout: ${r.stdout}; stderr: ${r.stderr}`).to.equal(code);
}

/**
 * run the launcher as cron would, with ZETTABEE_CONFIG/ZETTABEE_SETTINGS
 * cleared and `env` added; `launcher` runs another one (the installed
 * /usr/sbin/zettabee), from /
 */
export async function runLauncher(args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; launcher?: string } = {}): Promise<Result> {
  const r = await execa(opts.launcher ?? LAUNCHER, args, {
    ...(opts.launcher ? { cwd: '/' } : {}),
    reject: false,
    timeout: opts.timeoutMs ?? 120_000,
    env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', ...opts.env },
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** a throwaway /etc/zettabee equivalent: settings whose paths live in the bed's work dir */
export function makeSite(bed: Bed, extraSettings = ''): Site {
  const dir = mkdtempSync(join(bed.workdir, 'site-'));
  const paths = { state: join(dir, 'state'), lock: join(dir, 'lock'), log: join(dir, 'log') };
  const settingsFile = join(dir, 'zettabee.ini');
  const pairsFile = join(dir, 'zettabee.cfg');
  writeFileSync(
    settingsFile,
    `[paths]\nstate = ${paths.state}\nlock = ${paths.lock}\nlog = ${paths.log}\n\n[ssh]\nknown_hosts = ${bed.ssh.knownHosts}\nconnect_timeout = 5\n${extraSettings}`,
  );
  writeFileSync(pairsFile, '');
  return {
    dir,
    pairsFile,
    settingsFile,
    paths,
    writePairs: (lines) => writeFileSync(pairsFile, lines.join('\n') + '\n'),
    run: (args, opts = {}) => runLauncher(['-c', pairsFile, '--settings', settingsFile, ...args], opts),
    spawn: (args) =>
      execa(LAUNCHER, ['-c', pairsFile, '--settings', settingsFile, ...args], {
        reject: false,
        timeout: 120_000,
        env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' },
      }),
  };
}

/** the ssh keys of a pair that reaches the bed's sshd */
export function sshKeys(bed: Bed): string {
  return `sshport=${bed.ssh.port},sshkey=${bed.ssh.key},sshuser=${bed.ssh.user}`;
}

/** sha256 of every regular file under dir, by relative path */
export function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else if (e.isFile()) out[r] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** write `bytes` of incompressible data to a file */
export function writeRandom(path: string, bytes: number): void {
  writeFileSync(path, randomBytes(bytes));
}

/** the mountpoint zfs reports for a dataset */
export async function mountpointOf(bed: Bed, ds: string): Promise<string> {
  return (await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds])).trim();
}

/** short snapshot names of a dataset, oldest first */
export async function snapshotsOf(bed: Bed, ds: string): Promise<string[]> {
  const out = await bed.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-s', 'createtxg', '-d', '1', ds]);
  return out.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('@') + 1));
}

/** a property's value ('-' when unset) */
export async function propOf(bed: Bed, ds: string, prop: string): Promise<string> {
  return (await bed.run(['zfs', 'get', '-H', '-o', 'value', prop, ds])).trim();
}

/**
 * Rename an unmounted file system. zfs-fuse refuses to rename a mounted one
 * ("dataset is busy"), and may still call it busy a moment after an
 * unmount or a failed run touched it: retry that for a while.
 */
export async function renameUnmounted(bed: Bed, from: string, to: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await bed.run(['zfs', 'rename', from, to]);
      return;
    } catch (e) {
      if (i >= 50 || !/busy/.test(String(e))) throw e;
      await sleep(200);
    }
  }
}

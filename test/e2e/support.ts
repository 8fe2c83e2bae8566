// Running the real zettabee launcher as a cron job would: a child process,
// its own pairs and settings files, the exit code and both output streams.
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bed } from '../harness/bed.js';

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
  run(args: string[], opts?: { timeoutMs?: number }): Promise<Result>;
  writePairs(lines: string[]): void;
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
    run: async (args, opts = {}) => {
      const r = await execa(LAUNCHER, ['-c', pairsFile, '--settings', settingsFile, ...args], {
        reject: false,
        timeout: opts.timeoutMs ?? 120_000,
        env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' },
      });
      return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
  };
}

/** the ssh keys of a pair that reaches the bed's sshd */
export function sshKeys(bed: Bed): string {
  return `sshport=${bed.ssh.port},sshkey=${bed.ssh.key},sshuser=${bed.ssh.user}`;
}

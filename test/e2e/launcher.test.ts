// The installed launcher as a shell or cron would run it: version, help,
// completion, and the exit code of a bare call.
import { expect } from 'chai';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER } from './support.js';
import { scratchDir } from '../harness/scratch.js';

const run = async (args: string[], env: Record<string, string> = {}) => {
  const r = await execa(LAUNCHER, args, { reject: false, env: { ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '', ...env } });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
};

describe('e2e: the zettabee launcher', () => {
  const dir = scratchDir('zb-launcher-');
  const cfg = join(dir, 'zettabee.cfg');
  writeFileSync(cfg, 'src:tank/a dst:pool/tank/a\ntank/b pool/b\n');

  it('--version prints the package version, exit 0', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r).to.deep.include({ code: 0, stdout: pkg.version });
  });

  it('--help lists the actions and global options, exit 0', async () => {
    const r = await run(['--help']);
    expect(r.code).to.equal(0);
    for (const w of ['setup [dest]', 'fingerprint [dest]', 'logfile <dest>', '--config', '--settings', '--nagios', '--icinga', '--debug', '--verbose']) {
      expect(r.stdout).to.contain(w);
    }
  });

  it('no action is a usage error, exit 2', async () => {
    const r = await run([]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^zettabee: error: name an action: /);
  });

  it('an unknown short option before the action is named, exit 2 (3 for check)', async () => {
    for (const [args, line] of [[['-x', 'status'], 'zettabee: error: status: unknown option -x'], [['-n', 'update'], 'zettabee: error: update: unknown option -n']] as const) {
      const r = await run([...args]);
      expect(r.code).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(line);
    }
    const c = await run(['-x', 'check']);
    expect(c).to.deep.include({ code: 3, stdout: 'ZETTABEE UNKNOWN - usage: unknown option -x\nhint: see zettabee check --help' });
  });

  it('completes actions, and destinations after an action', async () => {
    expect((await run(['--get-yargs-completions', 'zettabee', 'se'])).stdout.split('\n')).to.include('setup');
    const dests = await run(['--get-yargs-completions', 'zettabee', '-c', cfg, 'setup', '']);
    expect(dests.stdout.split('\n')).to.deep.equal(['dst:pool/tank/a', 'pool/b']);
    const prefix = await run(['--get-yargs-completions', 'zettabee', 'logfile', 'po'], { ZETTABEE_CONFIG: cfg });
    expect(prefix.stdout).to.equal('pool/b');
  });

  it('prints a bash completion script', async () => {
    const r = await run(['completion']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('complete -o bashdefault -o default -F _zettabee_yargs_completions zettabee');
  });
});

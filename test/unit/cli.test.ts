import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, normalizeArgv } from '../../src/cli.js';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { scratchDir } from '../harness/scratch.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} as NodeJS.ProcessEnv }, out, err };
}

describe('command line', () => {
  const dir = scratchDir('zb-cli-');
  const settings = join(dir, 'zettabee.ini');
  writeFileSync(settings, `[paths]\nstate = ${dir}/state\nlock = ${dir}/lock\nlog = ${dir}/log\n`);
  const pairs = join(dir, 'zettabee.cfg');
  writeFileSync(pairs, 'src:tank/a dst:pool/tank/a wlag=1h\nsrc:tank/b pool/b\n');

  it('--nagios without HOST before the action', () => {
    expect(normalizeArgv(['--nagios', 'setup', 'x'])).to.deep.equal(['--nagios=', 'setup', 'x']);
    expect(normalizeArgv(['--nagios', 'nagios.example.org', 'setup'])).to.deep.equal(['--nagios', 'nagios.example.org', 'setup']);
    expect(normalizeArgv(['setup', '--nagios'])).to.deep.equal(['setup', '--nagios=']);
    expect(normalizeArgv(['--nagios', '-v', 'setup'])).to.deep.equal(['--nagios=', '-v', 'setup']);
  });

  it('fingerprint of the contract example', async () => {
    const c = capture();
    const code = await main(['-c', pairs, '--settings', settings, 'fingerprint', 'dst:pool/tank/a'], c.io);
    expect(code).to.equal(0);
    expect(c.out).to.deep.equal(['062a9ba78a95255454d51de19171ba8c']);
  });

  it('logfile prints <log>/<fp>.log', async () => {
    const c = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'logfile', 'b'], c.io)).to.equal(0);
    expect(c.out[0]).to.match(new RegExp(`^${dir}/log/[0-9a-f]{32}\\.log$`));
  });

  it('reads the paths from the environment', async () => {
    const c = capture();
    c.io.env = { ZETTABEE_CONFIG: pairs, ZETTABEE_SETTINGS: settings };
    expect(await main(['fingerprint'], c.io)).to.equal(0);
    expect(c.out).to.have.length(2);
  });

  it('daemon on a pairs file without pairs: exit 2, saying what to add, before anything starts', async () => {
    const empty = join(dir, 'empty.cfg');
    writeFileSync(empty, '# no pairs yet\n');
    const c = capture();
    expect(await main(['-c', empty, '--settings', settings, 'daemon'], c.io)).to.equal(2);
    expect(c.err).to.deep.equal([
      `zettabee: error: daemon: ${empty} has no pairs`,
      'zettabee: hint: add a line per pair (source destination [key=value,...], zettabee.cfg(5)), then start the daemon',
    ]);
  });

  it('one error line per mistake, then a summary, exit 2', async () => {
    const bad = join(dir, 'bad.cfg');
    writeFileSync(bad, '# mistakes\ntank/a b/a wlg=1h\ntank/b b/b clag=soon\ntank/c\ntank/d b/a\n');
    const c = capture();
    expect(await main(['-c', bad, '--settings', settings, 'fingerprint'], c.io)).to.equal(2);
    expect(c.err).to.deep.equal([
      `zettabee: error: ${bad}:2:12: unknown key 'wlg' (did you mean wlag?); known keys: ${KNOWN_KEYS.join(', ')}`,
      `zettabee: error: ${bad}:3:12: clag: 'soon' is not a duration (use seconds or a number with a unit: 90s, 30m, 2h, 1d, 1w)`,
      `zettabee: error: ${bad}:4: 'tank/c' has a source but no destination (write: source destination [key=value,...])`,
      `zettabee: error: fingerprint: 3 mistakes in ${bad}; nothing was run`,
    ]);
    expect(c.out).to.deep.equal([]);
  });

  it('a broken settings file does not hide the pairs file: both files\' mistakes in one run, exit 2', async () => {
    const badIni = join(dir, 'bad.ini');
    writeFileSync(badIni, '[paths]\nstate = var/lib\n[nagios]\nserver = a;b\n');
    const badCfg = join(dir, 'bad2.cfg');
    writeFileSync(badCfg, 'tank/a b/a wlg=1h\n');
    const c = capture();
    expect(await main(['-c', badCfg, '--settings', badIni, 'update'], c.io)).to.equal(2);
    expect(c.err).to.have.length(4);
    expect(c.err[0]).to.equal(`zettabee: error: ${badIni}:2: [paths] state: 'var/lib' must be an absolute path`);
    expect(c.err[1]).to.match(new RegExp(`^zettabee: error: ${badIni}:4: \\[nagios\\] server: 'a;b' is not a plain host name`));
    expect(c.err[2]).to.match(new RegExp(`^zettabee: error: ${badCfg}:1:12: unknown key 'wlg'`));
    expect(c.err[3]).to.equal(`zettabee: error: update: 2 mistakes in ${badIni} and 1 mistake in ${badCfg}; nothing was run`);
    // check reports the same, as UNKNOWN
    const k = capture();
    expect(await main(['-c', badCfg, '--settings', badIni, 'check'], k.io)).to.equal(3);
    expect(k.out[0]).to.equal(`ZETTABEE UNKNOWN - 2 mistakes in ${badIni} and 1 mistake in ${badCfg}; nothing was run`);
    expect(k.out.slice(1).join('\n')).to.contain(`${badIni}:2:`).and.to.contain(`${badCfg}:1:12:`);
  });

  it('a missing explicit settings file and the pairs file\'s mistakes are reported together', async () => {
    const badCfg = join(dir, 'bad3.cfg');
    writeFileSync(badCfg, 'tank/a b/a keep=x\n');
    const c = capture();
    expect(await main(['-c', badCfg, '--settings', join(dir, 'none.ini'), 'status'], c.io)).to.equal(2);
    expect(c.err).to.deep.equal([
      `zettabee: error: settings file ${dir}/none.ini does not exist (create it, or leave --settings out to use built-in defaults)`,
      `zettabee: error: ${badCfg}:1:12: keep: 'x' is not a snapshot count (a whole number from 0 to 100000)`,
      `zettabee: error: status: 1 mistake in ${dir}/none.ini and 1 mistake in ${badCfg}; nothing was run`,
    ]);
  });

  it('control characters from the files and the command line are printed escaped', async () => {
    const bad = join(dir, 'esc.cfg');
    writeFileSync(bad, 'tank/a\x1b[2J b/a\ntank/b b/b wlag=1\rx\n');
    const c = capture();
    expect(await main(['-c', bad, '--settings', settings, 'status'], c.io)).to.equal(2);
    expect(c.err.join('\n')).not.to.match(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(c.err[0]).to.equal(`zettabee: error: ${bad}:1: source: 'tank/a\\x1b[2J' contains a control character (code 27); ZFS names allow letters, digits and _ . : -`);
    expect(c.err[1]).to.contain("wlag: '1\\x0dx' is not a duration");
    const d = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'logfile', 'x\x1b]0;owned\x07'], d.io)).to.equal(2);
    expect(d.err[0]).to.equal("zettabee: error: logfile x\\x1b]0;owned\\x07: no pair matches 'x\\x1b]0;owned\\x07'");
    const k = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'check', '\x1b[31m'], k.io)).to.equal(3);
    expect(k.out[0]).to.equal("ZETTABEE UNKNOWN - no pair matches '\\x1b[31m'");
  });

  it('a missing pairs file is a configuration error naming it', async () => {
    const c = capture();
    expect(await main(['-c', join(dir, 'none.cfg'), '--settings', settings, 'fingerprint'], c.io)).to.equal(2);
    expect(c.err[0]).to.equal(`zettabee: error: fingerprint: pairs file ${dir}/none.cfg does not exist`);
  });

  it('an explicit settings file must exist; the default may be missing', async () => {
    const c = capture();
    expect(await main(['-c', pairs, '--settings', join(dir, 'none.ini'), 'fingerprint'], c.io)).to.equal(2);
    expect(c.err[0]).to.contain('settings file');
  });

  it('an unknown DEST is a usage error listing the pairs', async () => {
    const c = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'logfile', 'nope'], c.io)).to.equal(2);
    expect(c.err[0]).to.equal("zettabee: error: logfile nope: no pair matches 'nope'");
    expect(c.err.join('\n')).to.contain('dst:pool/tank/a');
  });

  it('an unknown action or option is a usage error, exit 2', async () => {
    const c = capture();
    expect(await main(['-c', pairs, 'frobnicate'], c.io)).to.equal(2);
    expect(c.err[0]).to.match(/^zettabee: error: Unknown argument: frobnicate/);
    const d = capture();
    expect(await main(['--bogus', 'fingerprint'], d.io)).to.equal(2);
  });

  const options: Array<[string[], number, string]> = [
    [['-x', 'status'], 2, 'zettabee: error: status: unknown option -x'],
    [['-n', 'update'], 2, 'zettabee: error: update: unknown option -n'],
    [['-vx', 'status'], 2, 'zettabee: error: status: unknown option -x (in -vx)'],
    [['--bogus', 'status'], 2, 'zettabee: error: status: unknown option --bogus'],
    [['--nagios', '-x', 'update'], 2, 'zettabee: error: update: unknown option -x'],
    [['status', '-x'], 2, 'zettabee: error: status: unknown option -x'],
    [['update', '-q', 'foo'], 2, 'zettabee: error: update foo: unknown option -q'],
    [['update', '--bogus', '--frob'], 2, 'zettabee: error: update: unknown options --bogus, --frob'],
    [['-c'], 2, 'zettabee: error: option -c (--config) needs a value'],
    [['-c', '-v', 'status'], 2, 'zettabee: error: status: option -c (--config) needs a value'],
    [['-cfoo', 'status'], 2, 'zettabee: error: status: option -c (--config) needs a value: write -c foo'],
    [['--settings'], 2, 'zettabee: error: option --settings needs a value'],
    // after '--' a word is not DEST: 'update -- -x' used to update every pair
    [['-c', '/nonexistent', 'update', '--', '-x'], 2, "zettabee: error: update: '-x' after the action is not taken (give DEST without '--'; a name starting with '-' as dpool/fs)"],
  ];
  for (const [argv, code, line] of options) {
    it(`${argv.join(' ')}: says which option, exit ${code}`, async () => {
      const c = capture();
      expect(await main(argv, c.io)).to.equal(code);
      expect(c.err[0]).to.equal(line);
    });
  }

  it('--nagios HOST is checked as a host for every action', async () => {
    const c = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'fingerprint', '--nagios=a;b'], c.io)).to.equal(2);
    expect(c.err[0]).to.equal("zettabee: error: fingerprint: --nagios: 'a;b' is not a plain host name (letters, digits and '-' in dot-separated labels; no leading '-'; an IPv6 address goes in brackets)");
    const k = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'check', '--nagios=$(id)'], k.io)).to.equal(3);
    expect(k.out[0]).to.match(/^ZETTABEE UNKNOWN - usage: --nagios: '\$\(id\)' is not a plain host name/);
    const ok = capture();
    expect(await main(['-c', pairs, '--settings', settings, '--nagios', 'nagios.example.org', 'fingerprint', 'b'], ok.io)).to.equal(0);
  });

  it('an unknown option before check is UNKNOWN to the monitor, exit 3', async () => {
    const c = capture();
    expect(await main(['-x', 'check'], c.io)).to.equal(3);
    expect(c.out).to.deep.equal(['ZETTABEE UNKNOWN - usage: unknown option -x', 'hint: see zettabee check --help']);
  });

  it('known global options in every spelling still pass', async () => {
    for (const argv of [['-dv', '-c', pairs], [`-c${pairs}`], ['--no-debug', `--config=${pairs}`], ['--nagios', '-c', pairs], ['-d', '-c', 'other.cfg', '-c', pairs]]) {
      const c = capture();
      expect(await main([...argv, '--settings', settings, 'fingerprint', 'b'], c.io), `${argv.join(' ')}: ${c.err.join(' / ')}`).to.equal(0);
    }
  });

  it('logfile needs a DEST', async () => {
    const c = capture();
    expect(await main(['-c', pairs, '--settings', settings, 'logfile'], c.io)).to.equal(2);
    expect(c.err[0]).to.match(/Not enough non-option arguments/);
  });
});

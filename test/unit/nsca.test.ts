// The send_nsca emitter: stdin framing, NSCA's byte limits, rc validation,
// argv, and the run of a send_nsca stand-in (a real process: a shell script
// that records its argv and stdin, or fails as send_nsca does). The real
// send_nsca against a real nsca daemon is in test/e2e/nsca.test.ts.
import { expect } from 'chai';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePairs } from '../../src/config/pairs.js';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { CUT_LINE, CUT_MARK, cutBytes, fitOutput, NSCA_LIMITS, nscaArgv, nscaInput, nscaRecord, sendNsca, type NscaResult } from '../../src/monitor/nsca.js';
import { makeReporter } from '../../src/monitor/report.js';
import type { Io } from '../../src/commands/context.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
/** a cut that split a character would not survive a UTF-8 round trip */
const wholeUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s && !s.includes('\uFFFD');

const r = (over: Partial<NscaResult> = {}): NscaResult => ({ host: 'backup1', service: 'zettabee tank/a', state: 0, output: 'ZETTABEE OK - fine | lag=5s;3600;7200;0', ...over });

describe('nsca: stdin framing', () => {
  it('each result is host TAB service TAB rc TAB output, ended by ETB (0x17); several go in one input', () => {
    const input = nscaInput([r(), r({ host: 'backup2', service: 'zettabee tank/b', state: 2, output: 'ZETTABEE CRITICAL - old | lag=9000s;3600;7200;0' })]);
    expect(input).to.equal(
      'backup1\tzettabee tank/a\t0\tZETTABEE OK - fine | lag=5s;3600;7200;0\x17' +
        'backup2\tzettabee tank/b\t2\tZETTABEE CRITICAL - old | lag=9000s;3600;7200;0\x17',
    );
  });

  it('long output keeps its newlines inside one result; an ETB or NUL inside the output cannot end it early', () => {
    const rec = nscaRecord(r({ state: 1, output: 'ZETTABEE WARNING - x | lag=1s\nline 2\x17sneaky\nline\x003' }));
    expect(rec).to.equal('backup1\tzettabee tank/a\t1\tZETTABEE WARNING - x | lag=1s\nline 2 sneaky\nline 3\x17');
    expect(rec.split('\x17')).to.have.length(2);
  });

  it('a TAB, newline or ETB in a host or service name becomes a space (the framing stays intact)', () => {
    expect(nscaRecord(r({ host: 'a\tb', service: 'svc\nx\x17y' }))).to.match(/^a b\tsvc x y\t0\t/);
  });
});

describe('nsca: byte limits (host 63, service 127, output 4095), UTF-8 aware', () => {
  it('cutBytes never splits a character: 2-, 3- and 4-byte characters', () => {
    expect(cutBytes('aé', 2)).to.equal('a');
    expect(cutBytes('aé', 3)).to.equal('aé');
    expect(cutBytes('a€', 3)).to.equal('a');
    expect(cutBytes('a😀b', 4)).to.equal('a');
    expect(cutBytes('a😀b', 5)).to.equal('a😀');
    expect(cutBytes('short', 63)).to.equal('short');
  });

  it('host is cut to at most 63 bytes and service to 127, on character boundaries', () => {
    const rec = nscaRecord(r({ host: 'é'.repeat(40), service: '€'.repeat(50) }));
    const [host, service] = rec.split('\t');
    expect(bytes(host!)).to.equal(62); // 31 two-byte characters; a 32nd would make 64
    expect(host).to.equal('é'.repeat(31));
    expect(bytes(service!)).to.equal(126); // 42 three-byte characters
    expect(wholeUtf8(host!) && wholeUtf8(service!)).to.equal(true);
    expect(bytes(nscaRecord(r({ host: 'h'.repeat(63) })).split('\t')[0]!)).to.equal(NSCA_LIMITS.host);
  });

  it('output of exactly 4095 bytes is sent as it is; 4096 is cut and the cut is marked', () => {
    const exact = 'ZETTABEE OK - ' + 'x'.repeat(4095 - 14);
    expect(bytes(exact)).to.equal(4095);
    expect(fitOutput(exact)).to.equal(exact);
    const over = exact + 'y';
    const fitted = fitOutput(over);
    expect(bytes(fitted)).to.be.at.most(4095);
    expect(fitted.endsWith(CUT_MARK)).to.equal(true);
  });

  it('too much long output: the first line (with its perfdata) stays whole, then what fits, then "[output truncated]"', () => {
    const first = 'ZETTABEE WARNING - last run failed | lag=100s;3600;7200;0 runtime=5s;;;0';
    const long = Array.from({ length: 200 }, (_, i) => `detail ${i}: ${'ü'.repeat(20)}`);
    const out = fitOutput([first, ...long].join('\n'));
    expect(bytes(out)).to.be.at.most(4095);
    expect(bytes(out)).to.be.above(4000); // the room is used, not thrown away
    const lines = out.split('\n');
    expect(lines[0]).to.equal(first);
    expect(lines.at(-1)).to.equal(CUT_LINE);
    expect(lines[1]).to.equal(long[0]);
    expect(wholeUtf8(out)).to.equal(true);
  });

  it('one huge long-output line: its start is kept, cut inside a multi-byte run without splitting a character', () => {
    const first = 'ZETTABEE CRITICAL - boom | lag=1s';
    const out = fitOutput(`${first}\n${'€'.repeat(3000)}`);
    expect(bytes(out)).to.be.at.most(4095);
    const lines = out.split('\n');
    expect(lines[0]).to.equal(first);
    expect(lines[1]).to.match(/^€+\.\.\.$/);
    expect(lines[2]).to.equal(CUT_LINE);
    expect(wholeUtf8(out)).to.equal(true);
  });

  it('a first line that alone is too long: its text is shortened and marked, the perfdata kept', () => {
    const perf = 'lag=100s;3600;7200;0 runtime=5s;;;0';
    const out = fitOutput(`ZETTABEE CRITICAL - ${'日本'.repeat(1000)} | ${perf}\nlong line`);
    expect(bytes(out)).to.be.at.most(4095);
    expect(out).to.match(/^ZETTABEE CRITICAL - (日本)+日?\.\.\. \| lag=100s;3600;7200;0 runtime=5s;;;0$/);
    expect(wholeUtf8(out)).to.equal(true);
  });
});

describe('nsca: return code validation', () => {
  for (const bad of [4, -1, 1.5, Number.NaN]) {
    it(`rc ${bad} is refused (send_nsca would report a non-numeric rc as OK)`, () => {
      expect(() => nscaRecord(r({ state: bad as 0 }))).to.throw(RangeError, /not a plugin state/);
    });
  }
  for (const good of [0, 1, 2, 3] as const) {
    it(`rc ${good} is sent`, () => expect(nscaRecord(r({ state: good })).split('\t')[2]).to.equal(String(good)));
  }
});

describe('nsca: argv and server', () => {
  const s = { send_nsca: '/usr/sbin/send_nsca', config: '/etc/send_nsca.cfg', server: 'nagios.example.org', port: 5667 };

  it('-H server -p port -to 10 -c config, -c always', () => {
    expect(nscaArgv(s)).to.deep.equal(['-H', 'nagios.example.org', '-p', '5667', '-to', '10', '-c', '/etc/send_nsca.cfg']);
    expect(nscaArgv({ ...s, port: 15667 }, '')).to.deep.equal(['-H', 'nagios.example.org', '-p', '15667', '-to', '10', '-c', '/etc/send_nsca.cfg']);
  });

  it('the --nagios HOST argument overrides [nagios] server, and works when none is set', () => {
    expect(nscaArgv(s, 'other.example.org').slice(0, 2)).to.deep.equal(['-H', 'other.example.org']);
    const { server: _unused, ...noServer } = s;
    void _unused;
    expect(nscaArgv(noServer, '10.0.0.5')).to.deep.equal(['-H', '10.0.0.5', '-p', '5667', '-to', '10', '-c', '/etc/send_nsca.cfg']);
  });

  const io = (): Io & { errs: string[] } => {
    const errs: string[] = [];
    return { out: () => undefined, err: (l) => errs.push(l), env: {}, errs };
  };

  it('--nagios with no HOST and no [nagios] server: a configuration error before anything runs (exit 2)', () => {
    const settings = builtinSettings();
    expect(() => makeReporter({ nagios: '' }, io(), settings, 'update')).to.throw(ConfigError, /no Nagios server/);
    try {
      makeReporter({ nagios: '' }, io(), settings, 'update');
    } catch (e) {
      expect((e as ConfigError).exitCode).to.equal(2);
      expect((e as ConfigError).hint).to.match(/--nagios HOST.*server/);
    }
  });

  it('a --nagios HOST that is not a host name (an option word) is a usage error', () => {
    expect(() => makeReporter({ nagios: '-c/etc/passwd' }, io(), builtinSettings(), 'update')).to.throw(UsageError, /not a host name/);
  });

  it('neither --nagios nor --icinga: no reporter', () => {
    expect(makeReporter({}, io(), builtinSettings(), 'update')).to.equal(null);
  });
});

describe('nsca: running send_nsca (a recording stand-in)', () => {
  let dir: string;
  let fake: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-nsca-'));
    fake = join(dir, 'send_nsca');
    // records argv (one per line) and stdin, answers like send_nsca; FAKE_MODE picks a failure
    writeFileSync(
      fake,
      `#!/bin/sh
mode=$(cat "${dir}/mode" 2>/dev/null)
for a in "$@"; do printf '%s\\n' "$a"; done >> "${dir}/argv"
cat > "${dir}/stdin.$$"
echo $$ >> "${dir}/runs"
case "$mode" in
  refuse) echo "Connection refused by host"; echo "Error: Could not connect to host $2 on port $4" >&2; exit 2 ;;
  hang) exec sleep 30 ;;
  short) echo "1 data packet(s) sent to host successfully." ;;
  *) n=$(tr -cd '\\027' < "${dir}/stdin.$$" | wc -c); echo "$n data packet(s) sent to host successfully." ;;
esac
`,
    );
    chmodSync(fake, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    for (const f of ['argv', 'runs', 'mode']) rmSync(join(dir, f), { force: true });
  });

  const runs = () => readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n');

  it('one process for several results: its argv and its stdin are exactly what was built', async () => {
    const results = [r(), r({ host: 'b', state: 2, output: 'ZETTABEE CRITICAL - x\nmore' })];
    const argv = nscaArgv({ send_nsca: fake, config: '/etc/send_nsca.cfg', server: '127.0.0.1', port: 5667 });
    const o = await sendNsca(fake, argv, results);
    expect(o).to.deep.equal({ ok: true, message: '2 data packet(s) sent to host successfully.' });
    expect(runs()).to.have.length(1);
    expect(readFileSync(join(dir, 'argv'), 'utf8').trim().split('\n')).to.deep.equal(argv);
    expect(readFileSync(join(dir, `stdin.${runs()[0]}`), 'utf8')).to.equal(nscaInput(results));
  });

  it('exit 2 (connection refused): not ok, why is send_nsca\'s own words and the exit code', async () => {
    writeFileSync(join(dir, 'mode'), 'refuse');
    const o = await sendNsca(fake, ['-H', '127.0.0.1', '-p', '9'], [r()]);
    expect(o.ok).to.equal(false);
    expect(!o.ok && o.why).to.equal('Connection refused by host; Error: Could not connect to host 127.0.0.1 on port 9 (exit 2)');
  });

  it('fewer packets sent than results: not ok', async () => {
    writeFileSync(join(dir, 'mode'), 'short');
    const o = await sendNsca(fake, [], [r(), r({ host: 'b' })]);
    expect(!o.ok && o.why).to.match(/^only 1 of 2 results were sent/);
  });

  it('a send_nsca that hangs is ended after the timeout', async () => {
    writeFileSync(join(dir, 'mode'), 'hang');
    const t0 = Date.now();
    const o = await sendNsca(fake, [], [r()], 500);
    expect(Date.now() - t0).to.be.below(5000);
    expect(!o.ok && o.why).to.match(/ did not finish within 1 s$/);
  });

  it('send_nsca missing: why names the program and the package', async () => {
    const o = await sendNsca(join(dir, 'nope'), [], [r()]);
    expect(!o.ok && o.why).to.equal(`${join(dir, 'nope')} not found (install nsca-client, or set send_nsca in [nagios])`);
  });

  it('an invalid rc: nothing is spawned', async () => {
    const o = await sendNsca(fake, [], [r(), r({ state: 7 as 0 })]);
    expect(!o.ok && o.why).to.match(/return code 7 is not a plugin state/);
    expect(existsSync(join(dir, 'runs'))).to.equal(false);
  });

  describe('through the reporter: a failed send is one warning line and a line in each pair log; it never throws', () => {
    let settings: Settings;
    const pairs = parsePairs('tank/a  pool/a\ntank/b  pool/b  clag=1h', 'p.cfg').pairs;

    before(() => {
      settings = builtinSettings();
      settings.file = join(dir, 'zettabee.ini');
      settings.paths = { state: join(dir, 'state'), lock: join(dir, 'lock'), log: join(dir, 'log') };
      settings.nagios = { ...settings.nagios, send_nsca: fake, server: '127.0.0.1', port: 9 };
    });

    it('refused: exactly one stderr line for two pairs, both pair logs have the reason', async () => {
      writeFileSync(join(dir, 'mode'), 'refuse');
      const errs: string[] = [];
      const reporter = makeReporter({ nagios: '' }, { out: () => undefined, err: (l) => errs.push(l), env: {} }, settings, 'update');
      await reporter!.report(pairs);
      expect(errs).to.deep.equal([
        'zettabee: warning: update: could not send results to Nagios: Connection refused by host; Error: Could not connect to host 127.0.0.1 on port 9 (exit 2) (2 of 2 results not sent)',
      ]);
      expect(runs()).to.have.length(1);
      for (const p of pairs) {
        const log = readFileSync(join(dir, 'log', `${p.fingerprint}.log`), 'utf8');
        expect(log).to.match(/ WARN \[\d+\] update: could not send the result to Nagios \(\S+;zettabee pool\/[ab]\): Connection refused by host/);
      }
    });

    it('sent: nothing on stderr; both results in one send_nsca run, named from the templates', async () => {
      const errs: string[] = [];
      const reporter = makeReporter({ nagios: 'override.example.org' }, { out: () => undefined, err: (l) => errs.push(l), env: {} }, settings, 'status');
      await reporter!.report(pairs);
      expect(errs).to.deep.equal([]);
      expect(runs()).to.have.length(1);
      expect(readFileSync(join(dir, 'argv'), 'utf8').split('\n').slice(0, 2)).to.deep.equal(['-H', 'override.example.org']);
      const stdin = readFileSync(join(dir, `stdin.${runs()[0]}`), 'utf8');
      const records = stdin.split('\x17');
      expect(records).to.have.length(3);
      expect(records[2]).to.equal('');
      // never initialized -> WARNING (a status file that does not exist)
      expect(records[0]).to.match(/^\S+\tzettabee pool\/a\t1\tZETTABEE WARNING - /);
      expect(records[1]).to.match(/^\S+\tzettabee pool\/b\t1\tZETTABEE WARNING - /);
    });
  });
});

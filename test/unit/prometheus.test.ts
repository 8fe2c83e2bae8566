// The Prometheus textfile: formatting (pure, table tests) and the write
// (temp dirs, real files and processes, no zfs).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePairs } from '../../src/config/pairs.js';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { statusJson, viewOf } from '../../src/app/status.js';
import { evaluate } from '../../src/monitor/check.js';
import {
  escapeHelp,
  escapeLabelValue,
  formatExposition,
  formatValue,
  labelText,
  PAIR_STATES,
  PAIR_STATUSES,
  refreshTextfile,
  textfileLockPath,
  textfileText,
  writeProblem,
} from '../../src/monitor/prometheus.js';
import type { LockState } from '../../src/state/lock.js';
import { writeStatus, type StatusRecord } from '../../src/state/status.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const at = (iso: string) => Date.parse(iso) / 1000;
const PAIRS = ['src:tank/a  pool/tank/a  wlag=1h,clag=2h,wrun=10m,crun=1h', 'pool/b  pool/copy/b', 'src:tank/c  dst:backup/c  transport=mbuffer,port=9090'].join('\n');
const { pairs } = parsePairs(PAIRS, 'p.cfg');
const [A, B, C] = pairs as [(typeof pairs)[0], (typeof pairs)[0], (typeof pairs)[0]];
const free: LockState = { kind: 'free' };
const held: LockState = { kind: 'held', holder: { pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', action: 'update' } };

function record(over: Partial<StatusRecord> = {}): StatusRecord {
  return {
    version: 1,
    fingerprint: A.fingerprint,
    source: 'src:tank/a',
    destination: 'localhost:pool/tank/a',
    state: 'Synchronized',
    lastSnapshot: { name: 'zettabee.x', guid: '1', creation: at('2026-11-22T11:30:00Z') },
    lastSuccess: { action: 'update', ended: '2026-11-22T11:30:05.250Z', seconds: 5.25, bytes: 1048576 },
    run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:30:00Z', ended: '2026-11-22T11:30:05.250Z', result: 'ok', seconds: 5.25, bytes: 1048576 },
    ...over,
  };
}

/** the sample lines of one metric */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('prometheus textfile: formatting (pure)', () => {
  const labelCases: Array<[string, string, string]> = [
    ['plain', 'pool/tank/a', 'pool/tank/a'],
    ['a double quote', 'a"b', 'a\\"b'],
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['a line feed', 'a\nb', 'a\\nb'],
    ['a backslash before n stays two characters', '\\n', '\\\\n'],
    ['all three, in order', '"\\\n', '\\"\\\\\\n'],
    ['a bracketed IPv6 host', '[fe80::1]:tank/a', '[fe80::1]:tank/a'],
    ['UTF-8 is kept', 'pool/données', 'pool/données'],
  ];
  for (const [name, input, want] of labelCases) {
    it(`label value: ${name}`, () => expect(escapeLabelValue(input)).to.equal(want));
  }

  const helpCases: Array<[string, string, string]> = [
    ['plain', 'Seconds since x.', 'Seconds since x.'],
    ['a quote is kept (HELP escapes only \\ and line feed)', 'a "b"', 'a "b"'],
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['a line feed', 'a\nb', 'a\\nb'],
  ];
  for (const [name, input, want] of helpCases) {
    it(`HELP text: ${name}`, () => expect(escapeHelp(input)).to.equal(want));
  }

  const valueCases: Array<[string, number, string]> = [
    ['zero', 0, '0'],
    ['an integer', 1800, '1800'],
    ['milliseconds kept', 5.25, '5.25'],
    ['below a millisecond rounded', 1.00049, '1'],
    ['a Unix time to the millisecond', 1795348805.25, '1795348805.25'],
    ['large bytes', 2 ** 53, '9007199254740992'],
    ['NaN', NaN, 'NaN'],
    ['+Inf', Infinity, '+Inf'],
    ['-Inf', -Infinity, '-Inf'],
  ];
  for (const [name, input, want] of valueCases) {
    it(`value: ${name}`, () => expect(formatValue(input)).to.equal(want));
  }

  const errno = (code: string, message = code) => Object.assign(new Error(message), { code });
  const problemCases: Array<[string, unknown, string]> = [
    ['no directory', errno('ENOENT'), 'the directory /d does not exist'],
    ['not allowed', errno('EACCES'), 'permission denied in /d'],
    ['not permitted', errno('EPERM'), 'permission denied in /d'],
    ['read-only', errno('EROFS'), '/d is on a read-only file system'],
    ['full', errno('ENOSPC'), 'no space left in /d'],
    ['a directory in the way', errno('EISDIR'), '/d/z.prom is a directory'],
    ['anything else: its message', errno('EIO', 'EIO: i/o error, write'), 'EIO: i/o error, write'],
  ];
  for (const [name, err, why] of problemCases) {
    it(`a write that fails: ${name}`, () => expect(writeProblem('/d/z.prom', err)).to.equal(`cannot write the Prometheus textfile /d/z.prom: ${why}`));
  }

  it('exposition: HELP and TYPE gauge before the samples, families without samples left out, a final line feed', () => {
    const text = formatExposition([
      { name: 'x_seconds', help: 'X.', samples: [{ labels: labelText([['pair', 'a"b']]), value: 1.5 }, { labels: labelText([['pair', 'c'], ['state', 'x\ny']]), value: 2 }] },
      { name: 'y_bytes', help: 'Never.', samples: [] },
      { name: 'z_timestamp_seconds', help: 'Z.', samples: [{ labels: labelText([]), value: 3 }] },
    ]);
    expect(text).to.equal('# HELP x_seconds X.\n# TYPE x_seconds gauge\nx_seconds{pair="a\\"b"} 1.5\nx_seconds{pair="c",state="x\\ny"} 2\n# HELP z_timestamp_seconds Z.\n# TYPE z_timestamp_seconds gauge\nz_timestamp_seconds 3\n');
  });

  it('a synchronized pair: lag, timestamps, last success, runtime and its four thresholds, labelled pair/source/destination', () => {
    const text = textfileText([viewOf(A, record(), free, NOW)], NOW);
    const L = 'pair="pool/tank/a",source="src:tank/a",destination="pool/tank/a"';
    expect(samples(text, 'zettabee_textfile_written_timestamp_seconds')).to.deep.equal([`zettabee_textfile_written_timestamp_seconds ${NOW / 1000}`]);
    expect(samples(text, 'zettabee_pair_info')).to.deep.equal([`zettabee_pair_info{${L},fingerprint="${A.fingerprint}",transport="ssh"} 1`]);
    expect(samples(text, 'zettabee_pair_state')).to.deep.equal(PAIR_STATES.map((s) => `zettabee_pair_state{${L},state="${s}"} ${s === 'Synchronized' ? 1 : 0}`));
    expect(samples(text, 'zettabee_pair_status')).to.deep.equal(PAIR_STATUSES.map((s) => `zettabee_pair_status{${L},status="${s}"} ${s === 'Idle' ? 1 : 0}`));
    expect(samples(text, 'zettabee_pair_lag_seconds')).to.deep.equal([`zettabee_pair_lag_seconds{${L}} 1800`]);
    expect(samples(text, 'zettabee_pair_last_snapshot_timestamp_seconds')).to.deep.equal([`zettabee_pair_last_snapshot_timestamp_seconds{${L}} ${at('2026-11-22T11:30:00Z')}`]);
    expect(samples(text, 'zettabee_pair_last_success_timestamp_seconds')).to.deep.equal([`zettabee_pair_last_success_timestamp_seconds{${L}} ${at('2026-11-22T11:30:05.250Z')}`]);
    expect(samples(text, 'zettabee_pair_last_success_duration_seconds')).to.deep.equal([`zettabee_pair_last_success_duration_seconds{${L}} 5.25`]);
    expect(samples(text, 'zettabee_pair_last_success_bytes')).to.deep.equal([`zettabee_pair_last_success_bytes{${L}} 1048576`]);
    expect(samples(text, 'zettabee_pair_run_duration_seconds')).to.deep.equal([`zettabee_pair_run_duration_seconds{${L}} 5.25`]);
    expect(samples(text, 'zettabee_pair_run_started_timestamp_seconds')).to.deep.equal([]);
    expect(samples(text, 'zettabee_pair_lag_warning_threshold_seconds')).to.deep.equal([`zettabee_pair_lag_warning_threshold_seconds{${L}} 3600`]);
    expect(samples(text, 'zettabee_pair_lag_critical_threshold_seconds')).to.deep.equal([`zettabee_pair_lag_critical_threshold_seconds{${L}} 7200`]);
    expect(samples(text, 'zettabee_pair_run_warning_threshold_seconds')).to.deep.equal([`zettabee_pair_run_warning_threshold_seconds{${L}} 600`]);
    expect(samples(text, 'zettabee_pair_run_critical_threshold_seconds')).to.deep.equal([`zettabee_pair_run_critical_threshold_seconds{${L}} 3600`]);
  });

  // [name, pair, record, lock, unreadable, state, status, series that must be there, series that must not]
  const cases: Array<[string, typeof A, StatusRecord | null, LockState, string | undefined, string, string, Record<string, string>, string[]]> = [
    ['never run: Uninitialized, Idle; no lag, no timestamps, no thresholds when none are set', B, null, free, undefined, 'Uninitialized', 'Idle', {}, ['zettabee_pair_lag_seconds', 'zettabee_pair_last_snapshot_timestamp_seconds', 'zettabee_pair_last_success_timestamp_seconds', 'zettabee_pair_run_duration_seconds', 'zettabee_pair_lag_warning_threshold_seconds', 'zettabee_pair_run_critical_threshold_seconds']],
    ['a live update: Running, its start time and runtime so far; lag still known', A, record({ run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }), held, undefined, 'Synchronized', 'Running', { zettabee_pair_run_duration_seconds: '60', zettabee_pair_run_started_timestamp_seconds: String(at('2026-11-22T11:59:00Z')), zettabee_pair_lag_seconds: '1800' }, []],
    ['a live initialize: Uninitialized, Initializing', A, { version: 1, fingerprint: A.fingerprint, source: 's', destination: 'd', state: 'Uninitialized', run: { action: 'initialize', pid: 42, host: 'h', started: '2026-11-22T11:59:30Z', result: 'running' } }, held, undefined, 'Uninitialized', 'Initializing', { zettabee_pair_run_duration_seconds: '30' }, ['zettabee_pair_lag_seconds', 'zettabee_pair_last_success_bytes']],
    ['a failed update: Failed, its duration; the last success stays', A, record({ run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:50:00Z', ended: '2026-11-22T11:50:02.5Z', result: 'failed', seconds: 2.5, error: 'boom' } }), free, undefined, 'Synchronized', 'Failed', { zettabee_pair_run_duration_seconds: '2.5', zettabee_pair_last_success_bytes: '1048576' }, ['zettabee_pair_run_started_timestamp_seconds']],
    ['a run that died ("running" in the file, no lock): Failed, no start time', A, record({ run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }), free, undefined, 'Synchronized', 'Failed', {}, ['zettabee_pair_run_started_timestamp_seconds']],
    ['inconsistent', A, record({ state: 'Inconsistent', inconsistency: { kind: 'diverged', message: 'diverged' } }), free, undefined, 'Inconsistent', 'Idle', { zettabee_pair_lag_seconds: '1800' }, []],
    ['an unreadable status file: Unknown, nothing from the record', A, null, free, '/x/y.status: not JSON', 'Unknown', 'Idle', { zettabee_pair_lag_warning_threshold_seconds: '3600' }, ['zettabee_pair_lag_seconds', 'zettabee_pair_last_success_bytes']],
    ['the mbuffer transport in the info labels, remote endpoints as host:dataset', C, null, free, undefined, 'Uninitialized', 'Idle', {}, []],
  ];
  for (const [name, pair, rec, lock, unreadable, state, status, present, absent] of cases) {
    it(name, () => {
      const text = textfileText([viewOf(pair, rec, lock, NOW, unreadable)], NOW);
      const L = `pair="${pair.label}",source="${pair.source.local ? '' : `${pair.source.host}:`}${pair.source.dataset}",destination="${pair.destination.local ? '' : `${pair.destination.host}:`}${pair.destination.dataset}"`;
      expect(samples(text, 'zettabee_pair_info')).to.deep.equal([`zettabee_pair_info{${L},fingerprint="${pair.fingerprint}",transport="${pair.transport}"} 1`]);
      expect(samples(text, 'zettabee_pair_state').filter((l) => l.endsWith(' 1'))).to.deep.equal([`zettabee_pair_state{${L},state="${state}"} 1`]);
      expect(samples(text, 'zettabee_pair_state')).to.have.length(PAIR_STATES.length);
      expect(samples(text, 'zettabee_pair_status').filter((l) => l.endsWith(' 1'))).to.deep.equal([`zettabee_pair_status{${L},status="${status}"} 1`]);
      expect(samples(text, 'zettabee_pair_status')).to.have.length(PAIR_STATUSES.length);
      for (const [metric, value] of Object.entries(present)) expect(samples(text, metric), metric).to.deep.equal([`${metric}{${L}} ${value}`]);
      for (const metric of absent) {
        expect(samples(text, metric), metric).to.deep.equal([]);
        expect(text, metric).not.to.contain(`# TYPE ${metric} `); // no HELP/TYPE without a sample
      }
    });
  }

  it('all pairs in pairs-file order; each family once, contiguous, HELP and TYPE first; no series twice', () => {
    const views = [viewOf(A, record(), free, NOW), viewOf(B, null, free, NOW), viewOf(C, null, free, NOW)];
    const lines = textfileText(views, NOW).trimEnd().split('\n');
    const seen = new Set<string>();
    let current = '';
    const series = new Set<string>();
    for (const l of lines) {
      const help = /^# HELP (\w+) \S/.exec(l);
      if (help) {
        expect(seen.has(help[1]!), `${help[1]} twice`).to.equal(false);
        seen.add((current = help[1]!));
        continue;
      }
      if (l.startsWith('# TYPE ')) {
        expect(l).to.equal(`# TYPE ${current} gauge`);
        continue;
      }
      const m = /^(\w+)(\{.*\})? (\S+)$/.exec(l);
      expect(m, l).to.not.equal(null);
      expect(m![1], l).to.equal(current);
      expect(series.has(`${m![1]}${m![2] ?? ''}`), `${l} twice`).to.equal(false);
      series.add(`${m![1]}${m![2] ?? ''}`);
    }
    expect(samples(lines.join('\n'), 'zettabee_pair_info').map((l) => /pair="([^"]*)"/.exec(l)![1])).to.deep.equal(['pool/tank/a', 'pool/copy/b', 'dst:backup/c']);
    for (const name of seen) expect(name).to.match(/^zettabee_[a-z_]+$/);
  });

  it('the lag agrees with status --json and with check, to the second, whatever the time', () => {
    for (const offset of [0, 1, 999, 1500, 59_999, 3_600_000, 86_400_123]) {
      const now = Date.parse('2026-11-22T11:30:00Z') + offset;
      const view = viewOf(A, record(), free, now);
      const exported = Number(/^zettabee_pair_lag_seconds\{.*\} (\S+)$/m.exec(textfileText([view], now))![1]);
      const json = (statusJson([view])[0] as { lag: number }).lag;
      const perf = /^lag=(\d+)s/.exec(evaluate({ pair: A, record: record(), lock: free, now }).perfdata[0]!)![1];
      expect(Math.floor(exported), `offset ${offset}`).to.equal(json);
      expect(Math.floor(exported), `offset ${offset}`).to.equal(Number(perf));
      expect(exported).to.be.closeTo(offset / 1000, 0.0005);
    }
  });
});

describe('prometheus textfile: writing it', () => {
  let dir: string;
  let settings: Settings;
  let warnings: string[];
  const warn = (l: string) => warnings.push(l);
  const textfile = () => join(dir, 'collector', 'zettabee.prom');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-prom-'));
    mkdirSync(join(dir, 'collector'));
    settings = builtinSettings();
    settings.paths = { state: join(dir, 'state'), lock: join(dir, 'lock'), log: join(dir, 'log') };
    settings.prometheus = { textfile: textfile() };
    warnings = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('unset: writes nothing, not even the lock', async () => {
    settings.prometheus = {};
    await refreshTextfile(settings, pairs, warn);
    expect(readdirSync(join(dir, 'collector'))).to.deep.equal([]);
    expect(existsSync(settings.paths.lock)).to.equal(false);
    expect(warnings).to.deep.equal([]);
  });

  it('every pair from its status file, mode 0644 whatever the umask; no temp file and no lock left', async () => {
    writeStatus(settings, A.fingerprint, record());
    const old = process.umask(0o077);
    try {
      await refreshTextfile(settings, pairs, warn, () => NOW);
    } finally {
      process.umask(old);
    }
    expect(warnings).to.deep.equal([]);
    const text = readFileSync(textfile(), 'utf8');
    expect(text).to.equal(textfileText([viewOf(A, record(), free, NOW), viewOf(B, null, free, NOW), viewOf(C, null, free, NOW)], NOW));
    expect(statSync(textfile()).mode & 0o777).to.equal(0o644);
    expect(readdirSync(join(dir, 'collector'))).to.deep.equal(['zettabee.prom']);
    expect(existsSync(textfileLockPath(settings))).to.equal(false);
  });

  it('an unreadable status file of one pair: that pair Unknown, the others still there', async () => {
    writeStatus(settings, B.fingerprint, { ...record(), fingerprint: B.fingerprint });
    mkdirSync(join(settings.paths.state, `${A.fingerprint}.status`)); // a directory: cannot be read
    await refreshTextfile(settings, pairs, warn, () => NOW);
    expect(warnings).to.deep.equal([]);
    const text = readFileSync(textfile(), 'utf8');
    expect(text).to.contain('zettabee_pair_state{pair="pool/tank/a",source="src:tank/a",destination="pool/tank/a",state="Unknown"} 1\n');
    expect(text).to.contain('zettabee_pair_state{pair="pool/copy/b",source="pool/b",destination="pool/copy/b",state="Synchronized"} 1\n');
    expect(text).to.contain('zettabee_pair_state{pair="dst:backup/c",source="src:tank/c",destination="dst:backup/c",state="Uninitialized"} 1\n');
  });

  const failures: Array<[string, () => void, RegExp]> = [
    ['a missing directory', () => rmSync(join(dir, 'collector'), { recursive: true }), /^cannot write the Prometheus textfile \/.*\/collector\/zettabee\.prom: the directory \/.*\/collector does not exist$/],
    ['the path is a directory', () => mkdirSync(join(textfile(), 'x'), { recursive: true }), /^cannot write the Prometheus textfile \/.*\/zettabee\.prom: /],
  ];
  for (const [name, arrange, re] of failures) {
    it(`${name}: one warning line naming the file, no throw, no temp file left`, async () => {
      arrange();
      await refreshTextfile(settings, pairs, warn, () => NOW);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(re);
      if (existsSync(join(dir, 'collector'))) expect(readdirSync(join(dir, 'collector')).filter((n) => n.startsWith('.'))).to.deep.equal([]);
    });
  }

  it('a textfile lock left by a writer that was killed is taken over at once when old, and removed', async () => {
    mkdirSync(textfileLockPath(settings), { recursive: true });
    const old = new Date(Date.now() - 60_000);
    utimesSync(textfileLockPath(settings), old, old);
    const t0 = Date.now();
    await refreshTextfile(settings, pairs, warn, () => NOW);
    expect(Date.now() - t0).to.be.below(1500);
    expect(warnings).to.deep.equal([]);
    expect(readFileSync(textfile(), 'utf8')).to.contain('zettabee_pair_info{pair="pool/tank/a"');
    expect(existsSync(textfileLockPath(settings))).to.equal(false);
  });

  it('a textfile lock that stays held: written anyway once the retries run out (the rename keeps it whole)', async function () {
    this.timeout(20_000);
    mkdirSync(textfileLockPath(settings), { recursive: true });
    // a holder that keeps its lock fresh, as a live one would
    const keep = setInterval(() => utimesSync(textfileLockPath(settings), new Date(), new Date()), 200);
    try {
      await refreshTextfile(settings, pairs, warn, () => NOW);
    } finally {
      clearInterval(keep);
    }
    expect(warnings).to.deep.equal([]);
    expect(readFileSync(textfile(), 'utf8')).to.contain('zettabee_pair_info{pair="pool/tank/a"');
    expect(existsSync(textfileLockPath(settings)), 'the other holder keeps its lock').to.equal(true);
  });

  it('temp files of writers killed mid-write (their pid gone) are removed; a live writer\'s and other files are kept', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => dead.on('exit', () => resolve(dead.pid!)));
    const c = join(dir, 'collector');
    const names = [`.zettabee.prom.${deadPid}.0123456789ab`, `.zettabee.prom.${process.pid}.0123456789ab`, `.zettabee.prom.${deadPid}.not-hex-at-all`, `.other.prom.${deadPid}.0123456789ab`, 'node.prom'];
    for (const n of names) writeFileSync(join(c, n), 'x');
    await refreshTextfile(settings, pairs, warn, () => NOW);
    expect(warnings).to.deep.equal([]);
    expect(readdirSync(c).sort()).to.deep.equal([...names.slice(1), 'zettabee.prom'].sort());
  });

  it('concurrent writers in three processes: every read is a whole file of one writer, none torn, no temp file left', async function () {
    this.timeout(90_000);
    for (const p of pairs) writeStatus(settings, p.fingerprint, { ...record(), fingerprint: p.fingerprint });
    const mod = (rel: string) => JSON.stringify(new URL(rel, import.meta.url).href);
    // each writer stamps its own "now" (writer k writes k*1000+n seconds) so a read says whose file it is
    const script = `
      const { refreshTextfile } = await import(${mod('../../src/monitor/prometheus.js')});
      const { parsePairs } = await import(${mod('../../src/config/pairs.js')});
      const settings = JSON.parse(process.env.ZB_SETTINGS);
      const { pairs } = parsePairs(process.env.ZB_PAIRS, 'p.cfg');
      const k = Number(process.env.ZB_WRITER);
      for (let n = 0; n < 150; n++) await refreshTextfile(settings, pairs, (l) => { console.error(l); process.exitCode = 1; }, () => (k * 1000 + n) * 1000);
    `;
    const children = [1, 2, 3].map((k) =>
      spawn(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, ZB_SETTINGS: JSON.stringify(settings), ZB_PAIRS: PAIRS, ZB_WRITER: String(k) },
        stdio: ['ignore', 'inherit', 'inherit'],
      }),
    );
    let running = children.length;
    const exits = children.map((c) => new Promise<number | null>((resolve) => c.on('exit', (code) => { running--; resolve(code); })));
    const writers = new Set<number>();
    const bad: string[] = [];
    let reads = 0;
    const expectedLines = textfileText(pairs.map((p) => viewOf(p, { ...record(), fingerprint: p.fingerprint }, free, NOW)), NOW).split('\n').length;
    while (running > 0) {
      let text: string;
      try {
        text = readFileSync(textfile(), 'utf8');
      } catch {
        await new Promise((r) => setImmediate(r)); // not written yet
        continue;
      }
      reads++;
      const stamp = /^zettabee_textfile_written_timestamp_seconds (\d+)$/m.exec(text);
      if (!stamp || !text.endsWith('\n') || text.split('\n').length !== expectedLines) bad.push(text.slice(-200));
      else writers.add(Math.floor(Number(stamp[1]) / 1000));
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(exits)).to.deep.equal([0, 0, 0]);
    expect(bad, `torn reads, e.g. ${bad[0]}`).to.deep.equal([]);
    expect(reads).to.be.greaterThan(10);
    expect(writers.size, 'reads saw the files of more than one writer').to.be.greaterThan(1);
    expect(readdirSync(join(dir, 'collector'))).to.deep.equal(['zettabee.prom']);
    expect(existsSync(textfileLockPath(settings))).to.equal(false);
  });
});

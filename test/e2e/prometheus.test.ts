// The Prometheus textfile on real pairs: the real launcher, real zfs-fuse
// pools, a real sshd; every file checked by the real `promtool check
// metrics` (Debian package prometheus) and its values against the status
// records the runs wrote.
import { expect } from 'chai';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusRecord } from '../../src/state/status.js';
import { ensurePackages, getBed, type Bed } from '../harness/bed.js';
import { freezeSend, noTransferLeft, sleep, thaw, waitFor } from './procs.js';
import { makeSite, mountpointOf, must, renameUnmounted, runLauncher, sshKeys, writeRandom, type Site } from './support.js';

const MiB = 1024 * 1024;

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** the samples of a textfile; throws on a line that is neither a comment nor a sample */
function parse(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

describe('e2e: Prometheus textfile (real zfs-fuse, sshd and promtool)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;
  let collector: string;
  const textfile = () => join(collector, 'zettabee.prom');
  // three pairs: local with thresholds, ssh pull, and one never initialized
  const labels = () => ({ a: `${dst}/a`, pull: `${dst}/pull`, never: `${dst}/never` });

  before(async function () {
    this.timeout(600_000); // apt-get install prometheus on a bare machine
    bed = await getBed();
    await ensurePackages(['prometheus']);
    src = await bed.createPool('promsrc', 384);
    dst = await bed.createPool('promdst', 384);
    for (const n of ['a', 'pull', 'never']) await bed.run(['zfs', 'create', `${src}/${n}`]);
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/one.bin`, 3 * MiB);
    writeRandom(`${await mountpointOf(bed, `${src}/pull`)}/one.bin`, 1 * MiB);
    const siteDir = join(bed.workdir, `prom-${Date.now()}`);
    collector = join(siteDir, 'textfile_collector');
    mkdirSync(collector, { recursive: true });
    site = makeSite(bed, `\n[prometheus]\ntextfile = ${join(collector, 'zettabee.prom')}\n`);
    site.writePairs([
      `${src}/a  ${dst}/a  wlag=1h,clag=2h,wrun=10m,crun=1h`,
      `127.0.0.1:${src}/pull  ${dst}/pull  ${sshKeys(bed)},clag=1d`,
      `${src}/never  ${dst}/never`,
    ]);
  });

  /** the file, after promtool accepted it, as series */
  async function checked(): Promise<{ text: string; series: Series[] }> {
    const text = readFileSync(textfile(), 'utf8');
    const p = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    expect({ code: p.exitCode, out: `${p.stdout}${p.stderr}` }, `promtool check metrics on:\n${text}`).to.deep.equal({ code: 0, out: '' });
    return { text, series: parse(text) };
  }

  /** the value of a metric for a pair (label), with more labels to match */
  function valueOf(series: Series[], name: string, pair: string, more: Record<string, string> = {}): number | undefined {
    const hit = series.filter((s) => s.name === name && s.labels.pair === pair && Object.entries(more).every(([k, v]) => s.labels[k] === v));
    expect(hit.length, `${name}{pair="${pair}"} at most once`).to.be.at.most(1);
    return hit[0]?.value;
  }

  const stateOf = (series: Series[], pair: string) => series.filter((s) => s.name === 'zettabee_pair_state' && s.labels.pair === pair && s.value === 1).map((s) => s.labels.state);
  const statusOf = (series: Series[], pair: string) => series.filter((s) => s.name === 'zettabee_pair_status' && s.labels.pair === pair && s.value === 1).map((s) => s.labels.status);
  const fingerprintOf = (series: Series[], pair: string) => series.find((s) => s.name === 'zettabee_pair_info' && s.labels.pair === pair)!.labels.fingerprint!;
  const recordOf = (series: Series[], pair: string) => JSON.parse(readFileSync(join(site.paths.state, `${fingerprintOf(series, pair)}.status`), 'utf8')) as StatusRecord;
  const written = (series: Series[]) => series.find((s) => s.name === 'zettabee_textfile_written_timestamp_seconds')!.value;

  it('status before any run: every pair Uninitialized and Idle, no lag; promtool accepts it; mode 0644, nothing else in the directory', async () => {
    const t0 = Date.now() / 1000;
    const r = await site.run(['status']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    const { series } = await checked();
    expect(written(series)).to.be.within(t0 - 0.001, Date.now() / 1000);
    for (const pair of Object.values(labels())) {
      expect(stateOf(series, pair), pair).to.deep.equal(['Uninitialized']);
      expect(statusOf(series, pair), pair).to.deep.equal(['Idle']);
      expect(valueOf(series, 'zettabee_pair_lag_seconds', pair)).to.equal(undefined);
    }
    const info = series.find((s) => s.name === 'zettabee_pair_info' && s.labels.pair === labels().pull)!;
    expect(info.labels).to.deep.include({ source: `127.0.0.1:${src}/pull`, destination: `${dst}/pull`, transport: 'ssh' });
    expect(valueOf(series, 'zettabee_pair_lag_warning_threshold_seconds', labels().a)).to.equal(3600);
    expect(valueOf(series, 'zettabee_pair_run_critical_threshold_seconds', labels().a)).to.equal(3600);
    expect(valueOf(series, 'zettabee_pair_lag_critical_threshold_seconds', labels().pull)).to.equal(86400);
    expect(valueOf(series, 'zettabee_pair_lag_warning_threshold_seconds', labels().pull)).to.equal(undefined);
    expect(statSync(textfile()).mode & 0o777).to.equal(0o644);
    expect(readdirSync(collector)).to.deep.equal(['zettabee.prom']);
  });

  it('initialize a: Synchronized with its lag, last success, bytes and duration as recorded; the other pairs still there', async () => {
    const r = await site.run(['initialize', 'a']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    const { series } = await checked();
    const a = labels().a;
    const rec = recordOf(series, a);
    expect(stateOf(series, a)).to.deep.equal(['Synchronized']);
    expect(statusOf(series, a)).to.deep.equal(['Idle']);
    expect(valueOf(series, 'zettabee_pair_last_snapshot_timestamp_seconds', a)).to.equal(rec.lastSnapshot!.creation);
    // lag as status computes it: the write's time minus the snapshot's creation
    expect(valueOf(series, 'zettabee_pair_lag_seconds', a)).to.be.closeTo(written(series) - rec.lastSnapshot!.creation, 0.002);
    expect(valueOf(series, 'zettabee_pair_lag_seconds', a)).to.be.within(0, 30);
    expect(valueOf(series, 'zettabee_pair_last_success_timestamp_seconds', a)).to.equal(Date.parse(rec.lastSuccess!.ended) / 1000);
    expect(valueOf(series, 'zettabee_pair_last_success_bytes', a)).to.equal(rec.lastSuccess!.bytes);
    expect(rec.lastSuccess!.bytes).to.be.above(3 * MiB);
    expect(valueOf(series, 'zettabee_pair_last_success_duration_seconds', a)).to.be.closeTo(rec.lastSuccess!.seconds, 0.0005);
    expect(valueOf(series, 'zettabee_pair_run_duration_seconds', a)).to.be.closeTo(rec.run!.seconds!, 0.0005);
    expect(valueOf(series, 'zettabee_pair_run_started_timestamp_seconds', a)).to.equal(undefined);
    for (const pair of [labels().pull, labels().never]) expect(stateOf(series, pair), pair).to.deep.equal(['Uninitialized']);
    expect(readdirSync(collector)).to.deep.equal(['zettabee.prom']);
  });

  it('initialize over ssh, then update a: the update\'s bytes and the new snapshot; both pairs Synchronized', async () => {
    must(await site.run(['initialize', 'pull']), 0);
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/two.bin`, 2 * MiB);
    const r = await site.run(['update', 'a']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    const { series } = await checked();
    const a = labels().a;
    const rec = recordOf(series, a);
    expect(rec.lastSuccess!.action).to.equal('update');
    expect(valueOf(series, 'zettabee_pair_last_success_bytes', a)).to.equal(rec.run!.bytes);
    expect(rec.run!.bytes).to.be.above(2 * MiB).and.below(3 * MiB);
    expect(valueOf(series, 'zettabee_pair_last_snapshot_timestamp_seconds', a)).to.equal(rec.lastSnapshot!.creation);
    expect(stateOf(series, labels().pull)).to.deep.equal(['Synchronized']);
    expect(valueOf(series, 'zettabee_pair_last_success_bytes', labels().pull)).to.equal(recordOf(series, labels().pull).lastSuccess!.bytes);
    expect(stateOf(series, labels().never)).to.deep.equal(['Uninitialized']);
  });

  it('status --json and the file written by that status say the same lag to the second', async () => {
    await sleep(1100); // a lag of whole seconds, not 0
    const r = await site.run(['status', '--json']);
    must(r, 0);
    const json = JSON.parse(r.stdout) as Array<{ destination: string; lag: number | null; state: string; status: string }>;
    const { series } = await checked();
    for (const e of json) {
      const lag = valueOf(series, 'zettabee_pair_lag_seconds', e.destination);
      expect(lag === undefined ? null : Math.floor(lag), e.destination).to.equal(e.lag);
      expect(stateOf(series, e.destination)).to.deep.equal([e.state]);
      expect(statusOf(series, e.destination)).to.deep.equal([e.status]);
    }
    expect(json.find((e) => e.destination === labels().a)!.lag).to.be.at.least(1);
  });

  it('a running update shows while it runs (Running, its start time), and Idle once it ended', async () => {
    // enough that the zfs send is still there to be frozen when it is seen
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/three.bin`, 40 * MiB);
    const child = site.spawn(['update', 'a']);
    let exited = false;
    void child.then(() => (exited = true));
    const frozen = await freezeSend(`${src}/a`, child, () => exited);
    try {
      const a = labels().a;
      const series = await waitFor('the file to show a running', 30_000, () => {
        const s = parse(readFileSync(textfile(), 'utf8'));
        return statusOf(s, a)[0] === 'Running' ? s : null;
      });
      await checked();
      const rec = recordOf(series, a);
      expect(rec.run!.result).to.equal('running');
      expect(valueOf(series, 'zettabee_pair_run_started_timestamp_seconds', a)).to.equal(Date.parse(rec.run!.started) / 1000);
      expect(stateOf(series, a)).to.deep.equal(['Synchronized']);
    } finally {
      thaw(frozen);
    }
    const r = await child;
    expect(r.exitCode, String(r.stderr)).to.equal(0);
    const { series } = await checked();
    expect(statusOf(series, labels().a)).to.deep.equal(['Idle']);
    expect(valueOf(series, 'zettabee_pair_run_started_timestamp_seconds', labels().a)).to.equal(undefined);
  });

  it('a failing update (source gone): Failed, its duration, the last success kept; promtool accepts it', async () => {
    const a = labels().a;
    const before = parse(readFileSync(textfile(), 'utf8'));
    const lastOk = valueOf(before, 'zettabee_pair_last_success_timestamp_seconds', a);
    const lastBytes = valueOf(before, 'zettabee_pair_last_success_bytes', a);
    await bed.run(['zfs', 'unmount', `${src}/a`]);
    await renameUnmounted(bed, `${src}/a`, `${src}/a-away`);
    try {
      const r = await site.run(['update', 'a']);
      must(r, 1);
      expect(r.stderr).to.match(/^zettabee: error: update a: /);
      expect(r.stderr).not.to.contain('warning');
      const { series } = await checked();
      const rec = recordOf(series, a);
      expect(rec.run!.result).to.equal('failed');
      expect(statusOf(series, a)).to.deep.equal(['Failed']);
      expect(stateOf(series, a)).to.deep.equal(['Synchronized']);
      expect(valueOf(series, 'zettabee_pair_run_duration_seconds', a)).to.be.closeTo(rec.run!.seconds!, 0.0005);
      expect(valueOf(series, 'zettabee_pair_last_success_timestamp_seconds', a)).to.equal(lastOk);
      expect(valueOf(series, 'zettabee_pair_last_success_bytes', a)).to.equal(lastBytes);
      expect(valueOf(series, 'zettabee_pair_lag_seconds', a)).to.be.closeTo(written(series) - rec.lastSnapshot!.creation, 0.002);
      expect(statusOf(series, labels().pull)).to.deep.equal(['Idle']);
    } finally {
      await renameUnmounted(bed, `${src}/a-away`, `${src}/a`);
      await bed.run(['zfs', 'mount', `${src}/a`]);
    }
    must(await site.run(['update', 'a']), 0);
    expect(statusOf(parse(readFileSync(textfile(), 'utf8')), a)).to.deep.equal(['Idle']);
  });

  it('the example alert rules (etc/prometheus/zettabee.rules.yml, and the one in zettabee(1)) pass promtool check rules, and fire on the real label sets', async function () {
    this.timeout(60_000);
    const rules = fileURLToPath(new URL('../../../etc/prometheus/zettabee.rules.yml', import.meta.url));
    const check = await execa('promtool', ['check', 'rules', rules], { reject: false });
    expect(check.exitCode, `${check.stdout}${check.stderr}`).to.equal(0);
    expect(check.stdout).to.contain('SUCCESS: 7 rules found');
    // the example in zettabee(1), as a reader would copy it
    const man = readFileSync(fileURLToPath(new URL('../../../man/zettabee.1', import.meta.url)), 'utf8');
    const example = /\n\.nf\n(groups:\n[^]*?)\.fi\n/.exec(man)![1]!.replace(/\\-/g, '-').replace(/\\\(aq/g, "'");
    expect(example).not.to.contain('\\');
    const manRules = join(bed.workdir, `man-rules-${Date.now()}.yml`);
    writeFileSync(manRules, example);
    const manCheck = await execa('promtool', ['check', 'rules', manRules], { reject: false });
    expect(manCheck.exitCode, `${manCheck.stdout}${manCheck.stderr}\n${example}`).to.equal(0);
    expect(manCheck.stdout).to.contain('SUCCESS: 2 rules found');
    // pair a as the real file labels it, with its real thresholds; the
    // times are made up (promtool's clock starts at 0): the newest snapshot
    // and the file's write at 0, a run started at 0 still going
    const { series } = await checked();
    const a = labels().a;
    const real = series.find((x) => x.name === 'zettabee_pair_lag_seconds' && x.labels.pair === a)!.labels;
    const sel = (name: string, more: Record<string, string> = {}) => `${name}{${Object.entries({ ...real, ...more }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    const constant = (v: number) => `${v}x240`;
    const input = [
      { series: sel('zettabee_pair_last_snapshot_timestamp_seconds'), values: constant(0) },
      { series: sel('zettabee_pair_run_started_timestamp_seconds'), values: constant(0) },
      { series: 'zettabee_textfile_written_timestamp_seconds{instance="backup1:9100",job="node"}', values: constant(0) },
      ...['Idle', 'Running', 'Initializing', 'Failed'].map((st) => ({ series: sel('zettabee_pair_status', { status: st }), values: constant(st === 'Failed' ? 1 : 0) })),
      ...['Synchronized', 'Uninitialized', 'Inconsistent', 'Unknown'].map((st) => ({ series: sel('zettabee_pair_state', { state: st }), values: constant(st === 'Inconsistent' ? 1 : 0) })),
      ...['lag_warning', 'lag_critical', 'run_warning', 'run_critical'].flatMap((t) => {
        const name = `zettabee_pair_${t}_threshold_seconds`;
        const v = valueOf(series, name, a);
        return v === undefined ? [] : [{ series: sel(name), values: constant(v) }];
      }),
    ];
    expect(input.filter((i) => i.series.includes('threshold'))).to.have.length(4); // wlag, clag, wrun, crun of pair a
    const alert = (severity: string, summary: string, more: Record<string, string> = {}) => ({ exp_labels: { ...real, ...more, severity }, exp_annotations: { summary } });
    const at = (t: string, name: string, exp: unknown[]) => ({ eval_time: t, alertname: name, exp_alerts: exp });
    const tests = {
      rule_files: [rules],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: input,
          alert_rule_test: [
            at('30m', 'ZettabeeLagWarning', []),
            at('90m', 'ZettabeeLagWarning', [alert('warning', `${a}: lag 1h 30m 0s, at or past wlag`)]),
            at('90m', 'ZettabeeLagCritical', []),
            at('150m', 'ZettabeeLagWarning', []),
            at('150m', 'ZettabeeLagCritical', [alert('critical', `${a}: lag 2h 30m 0s, at or past clag`)]),
            at('30m', 'ZettabeeRunTooLong', []),
            at('90m', 'ZettabeeRunTooLong', [alert('critical', `${a}: a run has been going for 1h 30m 0s, at or past crun`)]),
            at('5m', 'ZettabeeRunFailed', [alert('warning', `${a}: the last run failed or died, or its lock is stale: see zettabee logfile ${a}`, { status: 'Failed' })]),
            at('5m', 'ZettabeeInconsistent', [alert('critical', `${a} is Inconsistent: see zettabee status --fullstatus ${a}`, { state: 'Inconsistent' })]),
            at('10m', 'ZettabeeTextfileStale', []),
            at('20m', 'ZettabeeTextfileStale', [{ exp_labels: { instance: 'backup1:9100', job: 'node', severity: 'warning' }, exp_annotations: { summary: 'zettabee has not written its textfile on backup1:9100 for 20m 0s' } }]),
            at('20m', 'ZettabeeTextfileMissing', []),
          ],
        },
      ],
    };
    const file = join(bed.workdir, `rules-test-${Date.now()}.yml`);
    writeFileSync(file, JSON.stringify(tests, null, 2)); // JSON is YAML
    const t = await execa('promtool', ['test', 'rules', file], { reject: false });
    expect(t.exitCode, `${t.stdout}${t.stderr}`).to.equal(0);
    expect(t.stdout).to.contain('SUCCESS');
  });

  it('a textfile that cannot be written: the update still succeeds, with one warning on stderr and in the pair log; status warns too, exit 0', async () => {
    rmSync(collector, { recursive: true });
    try {
      const r = await site.run(['update', 'a']);
      must(r, 0);
      const warning = `cannot write the Prometheus textfile ${textfile()}: the directory ${collector} does not exist`;
      expect(r.stderr).to.equal(`zettabee: warning: update ${labels().a}: ${warning}`);
      const log = readFileSync((await site.run(['logfile', 'a'])).stdout.trim(), 'utf8');
      expect(log.split('\n').filter((l) => l.includes(warning))).to.have.length(1);
      expect(log).to.match(new RegExp(`WARN \\[\\d+\\] update: ${warning.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      const s = await site.run(['status']);
      must(s, 0);
      expect(s.stderr).to.equal(`zettabee: warning: status: ${warning}`);
    } finally {
      mkdirSync(collector, { recursive: true });
    }
    must(await site.run(['status']), 0);
    await checked();
  });

  it('concurrent runs (update --jobs 2, a second update, status in a loop): every read whole, and the last file holds every pair\'s newest record', async function () {
    this.timeout(300_000);
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/four.bin`, 1 * MiB);
    writeRandom(`${await mountpointOf(bed, `${src}/pull`)}/two.bin`, 1 * MiB);
    const runs = [site.spawn(['update', '--jobs', '2']), site.spawn(['update', 'pull']), site.spawn(['status']), site.spawn(['status'])];
    let done = false;
    const all = Promise.all(runs).finally(() => (done = true));
    let reads = 0;
    const torn: string[] = [];
    while (!done) {
      const text = readFileSync(textfile(), 'utf8');
      reads++;
      try {
        const s = parse(text);
        const pairs = s.filter((x) => x.name === 'zettabee_pair_info').map((x) => x.labels.pair);
        if (!text.endsWith('\n') || pairs.length !== 3 || !s.some((x) => x.name === 'zettabee_pair_lag_critical_threshold_seconds')) torn.push(text.slice(-200));
      } catch (e) {
        torn.push(String(e));
      }
      await sleep(2);
    }
    const results = await all;
    const said = results.map((r) => `${r.exitCode}: ${String(r.stderr)}`).join('\n');
    // update --jobs 2 fails for the pair never initialized, and for it alone
    expect(results[0]!.exitCode, said).to.equal(1);
    expect(String(results[0]!.stderr).split('\n').filter((l) => l.startsWith('zettabee: error:')), said).to.satisfy((ls: string[]) => ls.length > 0 && ls.every((l) => l.startsWith(`zettabee: error: update ${labels().never}: `)));
    // the overlapping runs of pull: one did it, the other found it busy (75) or ran after it
    expect([0, 75], said).to.include(results[1]!.exitCode);
    expect([results[2]!.exitCode, results[3]!.exitCode], said).to.deep.equal([0, 0]);
    expect(torn, torn[0]).to.deep.equal([]);
    expect(reads).to.be.above(5);
    const { series } = await checked();
    for (const pair of [labels().a, labels().pull]) {
      const rec = recordOf(series, pair);
      expect(statusOf(series, pair), pair).to.deep.equal(['Idle']);
      expect(valueOf(series, 'zettabee_pair_last_success_timestamp_seconds', pair), pair).to.equal(Date.parse(rec.lastSuccess!.ended) / 1000);
      expect(valueOf(series, 'zettabee_pair_last_snapshot_timestamp_seconds', pair), pair).to.equal(rec.lastSnapshot!.creation);
    }
    expect(readdirSync(collector)).to.deep.equal(['zettabee.prom']);
    expect(existsSync(join(site.paths.lock, 'textfile.lock'))).to.equal(false);
  });

  it('a run killed (kill -9) leaves the file saying Running; unlock rewrites it (Failed, no run start), and the next update puts it right', async () => {
    const a = labels().a;
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/five.bin`, 40 * MiB);
    const child = site.spawn(['update', 'a']);
    let exited = false;
    void child.finally(() => (exited = true));
    const frozen = await freezeSend(`${src}/a`, child, () => exited);
    try {
      await waitFor('the file to show the run', 30_000, () => statusOf(parse(readFileSync(textfile(), 'utf8')), a)[0] === 'Running');
      process.kill(child.pid!, 'SIGKILL');
      expect((await child).signal).to.equal('SIGKILL');
    } finally {
      thaw(frozen);
    }
    await noTransferLeft([`${src}/a`, `${dst}/a`]);
    // nobody wrote since the run started: the file still says so (the stale-file alert is for this)
    const left = parse(readFileSync(textfile(), 'utf8'));
    expect(statusOf(left, a)).to.deep.equal(['Running']);
    expect(valueOf(left, 'zettabee_pair_run_started_timestamp_seconds', a)).to.be.a('number');
    const r = await site.run(['unlock', 'a']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    const { series } = await checked();
    expect(written(series)).to.be.above(written(left));
    expect(statusOf(series, a)).to.deep.equal(['Failed']);
    expect(valueOf(series, 'zettabee_pair_run_started_timestamp_seconds', a)).to.equal(undefined);
    expect(recordOf(series, a).run!.error).to.contain('interrupted');
    must(await site.run(['update', 'a']), 0);
    const after = (await checked()).series;
    expect(statusOf(after, a)).to.deep.equal(['Idle']);
    expect(stateOf(after, a)).to.deep.equal(['Synchronized']);
  });

  it('purge pull: the pair stays in the file (it is still in the pairs file), Uninitialized, without lag', async () => {
    const r = await site.run(['purge', 'pull', '--yes']);
    must(r, 0);
    const { series } = await checked();
    expect(stateOf(series, labels().pull)).to.deep.equal(['Uninitialized']);
    expect(valueOf(series, 'zettabee_pair_lag_seconds', labels().pull)).to.equal(undefined);
    expect(stateOf(series, labels().a)).to.deep.equal(['Synchronized']);
  });

  it('status over 1,000 pairs with the textfile set: about as fast as without it, 1,000 pairs in a file promtool accepts', async function () {
    this.timeout(120_000);
    const template = readFileSync(join(site.paths.state, `${fingerprintOf(parse(readFileSync(textfile(), 'utf8')), labels().a)}.status`), 'utf8');
    const rec = JSON.parse(template) as StatusRecord;
    const many = makeSite(bed, `\n[prometheus]\ntextfile = ${join(collector, 'many.prom')}\n`);
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) lines.push(`${src}/many/p${i}  ${dst}/many/p${i}  wlag=1h,clag=1d`);
    many.writePairs(lines);
    // the pairs' fingerprints, from a first status (no status files yet: all Uninitialized)
    must(await many.run(['status']), 0);
    const fps = parse(readFileSync(join(collector, 'many.prom'), 'utf8')).filter((s) => s.name === 'zettabee_pair_info').map((s) => s.labels.fingerprint!);
    expect(fps).to.have.length(1000);
    mkdirSync(many.paths.state, { recursive: true });
    fps.forEach((fp, i) => {
      if (i % 2 === 0) writeFileSync(join(many.paths.state, `${fp}.status`), JSON.stringify({ ...rec, fingerprint: fp, source: `${src}/many/p${i}`, destination: `localhost:${dst}/many/p${i}` }));
    });
    // the same site without [prometheus], timed beside it: this machine's
    // load slows both alike (a bound in seconds failed under load)
    const plainSettings = join(many.dir, 'plain.ini');
    writeFileSync(plainSettings, readFileSync(many.settingsFile, 'utf8').replace(/^\[prometheus\]\ntextfile = .*\n/m, ''));
    const timed = async (args: string[]) => {
      const t0 = performance.now();
      const r = await runLauncher(args);
      return { r, ms: performance.now() - t0 };
    };
    // three of each, alternated, the fastest of each: what the machine's load
    // adds is never negative (one sample each failed at 2484 against 1089 ms,
    // medians at 2073 against 979: 1158, 2073, 2470 against 979, 955, 1933)
    // up to four more pairs while the bound fails: a saturated machine once
    // gave 2023, 2069, 2262 against 889, 1640, 1774 (one lucky sample); a
    // real slowdown fails every pair
    const withs: number[] = [];
    const withouts: number[] = [];
    const bound = () => 1.5 * Math.min(...withouts) + 500;
    for (let i = 0; i < 7 && (i < 3 || Math.min(...withs) >= bound()); i++) {
      const plain = await timed(['-c', many.pairsFile, '--settings', plainSettings, 'status']);
      must(plain.r, 0);
      withouts.push(plain.ms);
      const w = await timed(['-c', many.pairsFile, '--settings', many.settingsFile, 'status']);
      must(w.r, 0);
      expect(w.r.stderr).to.equal('');
      withs.push(w.ms);
    }
    const [ms, plainMs] = [Math.min(...withs), Math.min(...withouts)];
    console.log(`      status over 1,000 pairs (500 status files), fastest of ${withs.length}: ${ms.toFixed(0)} ms wall with the textfile, ${plainMs.toFixed(0)} ms without, launcher start included`);
    expect(ms, `ms with the textfile (${withs.map((x) => x.toFixed(0)).join(', ')}); without: ${withouts.map((x) => x.toFixed(0)).join(', ')}`).to.be.below(bound());
    const text = readFileSync(join(collector, 'many.prom'), 'utf8');
    const p = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    expect({ code: p.exitCode, out: `${p.stdout}${p.stderr}` }).to.deep.equal({ code: 0, out: '' });
    const series = parse(text);
    expect(series.filter((s) => s.name === 'zettabee_pair_state' && s.labels.state === 'Synchronized' && s.value === 1)).to.have.length(500);
    expect(series.filter((s) => s.name === 'zettabee_pair_state' && s.labels.state === 'Uninitialized' && s.value === 1)).to.have.length(500);
    expect(series.filter((s) => s.name === 'zettabee_pair_lag_seconds')).to.have.length(500);
  });
});

// check: a pair's monitoring state from its record and lock (pure), the
// plugin output format, and the `check` action's exit codes (through main()).
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parsePairs, type Pair } from '../../src/config/pairs.js';
import { combinedOutput, evaluate, pluginOutput, prefixPerfdata, worstState, type CheckResult, type CheckState } from '../../src/monitor/check.js';
import type { StatusRecord } from '../../src/state/status.js';
import type { LockState } from '../../src/state/lock.js';
import { main } from '../../src/cli.js';
import { scratchDir } from '../harness/scratch.js';

const [pair] = parsePairs('src:tank/a  pool/tank/a  wlag=1h,clag=2h,wrun=10m,crun=30m', 'p.cfg').pairs as [Pair];
const [bare] = parsePairs('src:tank/b  pool/tank/b', 'p.cfg').pairs as [Pair];
const NOW = Date.parse('2026-11-22T12:00:00Z');
const at = (iso: string) => Date.parse(iso) / 1000;
/** a snapshot taken `lag` seconds before NOW */
const snapAgo = (lag: number) => ({ name: 'zettabee.x.20261122UTC', guid: '1', creation: NOW / 1000 - lag });
const startedAgo = (s: number) => new Date(NOW - s * 1000).toISOString();

function record(over: Partial<StatusRecord> = {}): StatusRecord {
  return {
    version: 1,
    fingerprint: pair.fingerprint,
    source: 'src:tank/a',
    destination: 'localhost:pool/tank/a',
    state: 'Synchronized',
    lastSnapshot: { name: 'zettabee.x', guid: '1', creation: at('2026-11-22T11:30:00Z') },
    lastSuccess: { action: 'update', ended: '2026-11-22T11:30:05Z', seconds: 5, bytes: 10_000_000 },
    run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:30:00Z', ended: '2026-11-22T11:30:05Z', result: 'ok', seconds: 5, bytes: 10_000_000 },
    ...over,
  };
}

const running = (seconds: number, action = 'update') => ({ action, pid: 42, host: 'h', started: startedAgo(seconds), result: 'running' as const });
const free: LockState = { kind: 'free' };
const held: LockState = { kind: 'held', holder: { pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', action: 'update' } };
const stale: LockState = { kind: 'stale', holder: null, reason: 'pid 42 (update, started 2026-11-22T11:00:00Z) is no longer running' };

interface Case {
  name: string;
  rec: StatusRecord | null;
  lock?: LockState;
  p?: Pair;
  unreadable?: string;
  state: CheckState;
  /** the summary starts with this */
  starts: string;
  /** and contains these */
  has?: string[];
  lacks?: string[];
}

describe('check: evaluation (pure)', () => {
  const cases: Case[] = [
    { name: 'synced 30 min ago: OK with the lag and the last snapshot', rec: record(), state: 0, starts: 'lag 0:30:00; last snapshot 2026-11-22 11:30:00 UTC' },
    { name: 'lag one second below wlag: OK', rec: record({ lastSnapshot: snapAgo(3599) }), state: 0, starts: 'lag 0:59:59' },
    { name: 'lag == wlag: WARNING', rec: record({ lastSnapshot: snapAgo(3600) }), state: 1, starts: 'lag 1:00:00 >= wlag 1:00:00; last snapshot 2026-11-22 11:00:00 UTC' },
    { name: 'lag one second below clag: WARNING', rec: record({ lastSnapshot: snapAgo(7199) }), state: 1, starts: 'lag 1:59:59 >= wlag 1:00:00' },
    { name: 'lag == clag: CRITICAL', rec: record({ lastSnapshot: snapAgo(7200) }), state: 2, starts: 'lag 2:00:00 >= clag 2:00:00; last snapshot 2026-11-22 10:00:00 UTC' },
    { name: 'no thresholds: a day of lag is OK', p: bare, rec: record({ lastSnapshot: snapAgo(86400) }), state: 0, starts: 'lag 1d 0:00:00' },
    { name: 'running, runtime one second below wrun: OK and says it runs', rec: record({ run: running(599) }), lock: held, state: 0, starts: 'lag 0:30:00; update running for 0:09:59' },
    { name: 'running, runtime == wrun, lag fine: WARNING', rec: record({ run: running(600) }), lock: held, state: 1, starts: 'update running for 0:10:00 >= wrun 0:10:00; lag 0:30:00' },
    { name: 'running, runtime == crun, lag fine: CRITICAL', rec: record({ run: running(1800) }), lock: held, state: 2, starts: 'update running for 0:30:00 >= crun 0:30:00' },
    { name: 'a finished run that took longer than crun: OK (only a run still going counts)', rec: record({ run: { ...record().run!, seconds: 4000 } }), state: 0, starts: 'lag 0:30:00' },
    { name: 'held lock before the record says running: runtime from the holder', rec: record(), lock: { kind: 'held', holder: { pid: 42, host: 'h', started: startedAgo(700), action: 'update' } }, state: 1, starts: 'update running for 0:11:40 >= wrun 0:10:00' },
    {
      name: 'last run failed, lag fine: WARNING with the error',
      rec: record({ run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:50:00Z', ended: '2026-11-22T11:50:02Z', result: 'failed', seconds: 2, error: 'source tank/a does not exist', hint: 'check the source' } }),
      state: 1,
      starts: 'last update failed: source tank/a does not exist; lag 0:30:00',
    },
    {
      name: 'the record says running but no lock: WARNING, ended without a result',
      rec: record({ run: { action: 'update', pid: 77, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }),
      state: 1,
      starts: 'the update started 2026-11-22 11:59:00 UTC (pid 77 on h) ended without recording a result',
    },
    { name: 'stale lock: WARNING naming zettabee unlock', rec: record({ run: running(600) }), lock: stale, state: 1, starts: `stale lock (${(stale as { reason: string }).reason}); after checking, run zettabee unlock pool/tank/a`, lacks: ['ended without'] },
    { name: 'unreadable status file: UNKNOWN with why', rec: null, unreadable: '/x/y.status: not JSON: garbage', state: 3, starts: 'status file unreadable: /x/y.status: not JSON: garbage', lacks: ['initialize'] },
    { name: 'no status file: WARNING never initialized', rec: null, state: 1, starts: 'never initialized; run zettabee initialize pool/tank/a' },
    { name: 'Uninitialized record, never succeeded: WARNING', rec: record({ state: 'Uninitialized', lastSnapshot: undefined, lastSuccess: undefined, run: undefined }) as StatusRecord, state: 1, starts: 'never initialized' },
    { name: 'initialize running on a new pair: WARNING not initialized yet', rec: { ...record({ state: 'Uninitialized', run: running(30, 'initialize') }), lastSnapshot: undefined, lastSuccess: undefined } as StatusRecord, lock: held, state: 1, starts: 'not initialized yet (initialize running for 0:00:30)' },
    {
      name: 'inconsistent: CRITICAL with the reason',
      rec: record({ state: 'Inconsistent', inconsistency: { kind: 'diverged', message: 'the destination has snapshots the source lacks', hint: 'destroy them or rename the destination', details: ['src newest: a', 'dst newest: b'] } }),
      state: 2,
      starts: 'inconsistent: the destination has snapshots the source lacks; lag 0:30:00',
    },
    {
      name: 'several at once: critical lag first, then the failure and the stale lock',
      rec: record({ lastSnapshot: snapAgo(9000), run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:00:00Z', ended: '2026-11-22T11:00:01Z', result: 'failed', seconds: 1, error: 'boom' } }),
      lock: stale,
      state: 2,
      starts: 'lag 2:30:00 >= clag 2:00:00; stale lock (',
      has: ['zettabee unlock pool/tank/a'],
    },
    {
      name: 'critical lag and a warning runtime: the critical reason leads',
      rec: record({ lastSnapshot: snapAgo(7300), run: running(700) }),
      lock: held,
      state: 2,
      starts: 'lag 2:01:40 >= clag 2:00:00; update running for 0:11:40 >= wrun 0:10:00',
    },
    { name: "unreadable beats a warning, a critical runtime beats unreadable", rec: null, unreadable: 'bad', lock: { kind: 'held', holder: { pid: 42, host: 'h', started: startedAgo(1900), action: 'update' } }, state: 2, starts: 'update running for 0:31:40 >= crun 0:30:00; status file unreadable: bad' },
    {
      name: "'|' in an error never reaches the output",
      rec: record({ run: { action: 'update', pid: 1, host: 'h', started: 'x', result: 'failed', error: 'zfs send | zfs receive failed\nsecond line' } }),
      state: 1,
      starts: 'last update failed: zfs send / zfs receive failed second line',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = evaluate({ pair: c.p ?? pair, record: c.rec, lock: c.lock ?? free, now: NOW, ...(c.unreadable ? { unreadable: c.unreadable } : {}) });
      expect(r.state, r.summary).to.equal(c.state);
      expect(r.summary.startsWith(c.starts), `summary: ${r.summary}`).to.equal(true);
      for (const h of c.has ?? []) expect(r.summary).to.contain(h);
      for (const l of c.lacks ?? []) expect(r.summary).not.to.contain(l);
      for (const line of [r.summary, ...r.long, ...r.perfdata]) {
        expect(line).not.to.contain('|');
        expect(line).not.to.contain('\n');
      }
    });
  }

  it('a run that ended well but with warnings is WARNING, never a false OK: the first warning on the summary, all in the long output', () => {
    const w = ["the destination's pool/tank/a/old has no source any more", 'retention: cannot destroy x: held by keepme'];
    const r = evaluate({ pair, record: record({ run: { ...record().run!, warnings: w } }), lock: free, now: NOW });
    expect(r.state).to.equal(1);
    expect(r.summary).to.contain("last update ended with 2 warnings: the destination's pool/tank/a/old has no source any more");
    expect(r.long).to.include(`warning: ${w[1]}`);
    expect(evaluate({ pair, record: record(), lock: free, now: NOW }).state).to.equal(0);
  });

  it('a partial recursive receive is Inconsistent: CRITICAL with its hint', () => {
    const inc = { kind: 'partial', message: 'the recursive receive stopped half-way: pool/tank/a got @x, but pool/tank/a/k did not (out of space)', hint: 'free space; the next update catches it up by itself' };
    const r = evaluate({ pair, record: record({ state: 'Inconsistent', inconsistency: inc }), lock: free, now: NOW });
    expect(r.state).to.equal(2);
    expect(r.summary).to.contain('stopped half-way');
    expect(r.long.join('\n')).to.contain('catches it up by itself');
  });

  it('perfdata: lag and runtime with their thresholds, bytes and rate of the last success, integers', () => {
    const r = evaluate({ pair, record: record({ lastSnapshot: snapAgo(1800.7) }), lock: free, now: NOW });
    expect(r.perfdata).to.deep.equal(['lag=1800s;3600;7200;0', 'runtime=5s;600;1800;0', 'bytes=10000000B;;;0', 'rate=2000000B;;;0']);
  });

  it('perfdata: unset thresholds leave empty fields; a running pair reports its runtime so far', () => {
    const r = evaluate({ pair: bare, record: record({ run: running(61.6), lastSuccess: { action: 'initialize', ended: 'x', seconds: 0, bytes: 5 } }), lock: held, now: NOW });
    expect(r.perfdata).to.deep.equal(['lag=1800s;;;0', 'runtime=62s;;;0', 'bytes=5B;;;0']);
  });

  it('perfdata: nothing known, nothing reported', () => {
    expect(evaluate({ pair, record: null, lock: free, now: NOW }).perfdata).to.deep.equal([]);
    expect(evaluate({ pair, record: null, lock: free, now: NOW, unreadable: 'x' }).perfdata).to.deep.equal([]);
  });

  it('long output: last good snapshot and its age, last success, the failure and what to do', () => {
    const r = evaluate({
      pair,
      record: record({ lastSnapshot: snapAgo(9000), run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:50:00Z', ended: '2026-11-22T11:50:02Z', result: 'failed', seconds: 2, error: 'boom', hint: 'fix the boom' } }),
      lock: free,
      now: NOW,
    });
    expect(r.long).to.deep.equal([
      `pair: src:tank/a -> pool/tank/a (fingerprint ${pair.fingerprint})`,
      'last good snapshot: zettabee.x.20261122UTC, taken 2026-11-22 09:30:00 UTC (2:30:00 ago)',
      'last success: update ended 2026-11-22 11:30:05 UTC, took 0:00:05, 9.54 MiB at 1.91 MiB/s',
      'last run: update failed at 2026-11-22 11:50:02 UTC after 0:00:02: boom',
      'thresholds: wlag 1:00:00, clag 2:00:00, wrun 0:10:00, crun 0:30:00',
      'to do: fix the boom',
    ]);
  });

  it('long output: lag alone says to look at the cron job; inconsistency details and hint; stuck run names its pid', () => {
    const lagOnly = evaluate({ pair, record: record({ lastSnapshot: snapAgo(7200) }), lock: free, now: NOW });
    expect(lagOnly.long.at(-1)).to.match(/^to do: make sure cron .* runs zettabee update pool\/tank\/a/);
    const inc = evaluate({ pair, record: record({ state: 'Inconsistent', inconsistency: { kind: 'diverged', message: 'm', hint: 'do this', details: ['d1'] } }), lock: free, now: NOW });
    expect(inc.long).to.include.members(['inconsistent (diverged): m', '  d1', 'to do: do this']);
    const stuck = evaluate({ pair, record: record({ run: running(1800) }), lock: held, now: NOW });
    expect(stuck.long).to.include('running: update by pid 42 on h since 2026-11-22 11:30:00 UTC (0:30:00)');
    expect(stuck.long.at(-1)).to.contain('zettabee runstatus pool/tank/a').and.contain('kill 42 on h');
  });

  it('plugin output: "ZETTABEE <STATE> - summary | perfdata", then the long lines; no " |" without perfdata', () => {
    const r: CheckResult = { state: 2, summary: 'lag 5:00:00 >= clag 4:00:00', long: ['a', 'b'], perfdata: ['lag=18000s;3600;14400;0', 'runtime=3s;;;0'] };
    expect(pluginOutput(r)).to.equal('ZETTABEE CRITICAL - lag 5:00:00 >= clag 4:00:00 | lag=18000s;3600;14400;0 runtime=3s;;;0\na\nb');
    expect(pluginOutput({ state: 3, summary: 'x | y', long: [], perfdata: [] })).to.equal('ZETTABEE UNKNOWN - x / y');
  });

  it('worst state: CRITICAL over UNKNOWN over WARNING over OK', () => {
    expect(worstState([])).to.equal(0);
    expect(worstState([0, 1])).to.equal(1);
    expect(worstState([1, 3, 0])).to.equal(3);
    expect(worstState([3, 2, 1])).to.equal(2);
  });

  it('many pairs: counts on the first line with labelled perfdata, one line per pair, the worst state', () => {
    const ok = evaluate({ pair, record: record(), lock: free, now: NOW });
    const crit = evaluate({ pair, record: record({ lastSnapshot: snapAgo(7200) }), lock: free, now: NOW });
    const unk = evaluate({ pair, record: null, lock: free, now: NOW, unreadable: 'bad' });
    const c = combinedOutput([{ label: 'a', result: ok }, { label: "host:p/it's", result: crit }, { label: 'c', result: unk }]);
    expect(c.state).to.equal(2);
    const lines = c.output.split('\n');
    expect(lines[0]).to.equal(
      "ZETTABEE CRITICAL - 3 pairs: 1 critical, 1 unknown, 1 ok | 'a lag'=1800s;3600;7200;0 'a runtime'=5s;600;1800;0 'a bytes'=10000000B;;;0 'a rate'=2000000B;;;0 " +
        "'host:p/it''s lag'=7200s;3600;7200;0 'host:p/it''s runtime'=5s;600;1800;0 'host:p/it''s bytes'=10000000B;;;0 'host:p/it''s rate'=2000000B;;;0",
    );
    expect(lines.slice(1)).to.deep.equal([`a: OK - ${ok.summary}`, `host:p/it's: CRITICAL - ${crit.summary}`, 'c: UNKNOWN - status file unreadable: bad']);
    expect(combinedOutput([])).to.deep.equal({ state: 3, output: 'ZETTABEE UNKNOWN - no pairs to check' });
    expect(combinedOutput([{ label: 'a', result: ok }]).output.split('\n')[0]).to.match(/^ZETTABEE OK - 1 pair: 1 ok \| /);
    expect(prefixPerfdata('x', 'lag=1s;;;0')).to.equal("'x lag'=1s;;;0");
  });
});

describe('check: the action (exit codes 0-3, stdout only)', () => {
  const dir = scratchDir('zb-check-');
  const settings = join(dir, 'zettabee.ini');
  writeFileSync(settings, `[paths]\nstate = ${dir}/state\nlock = ${dir}/lock\nlog = ${dir}/log\n`);
  const pairsFile = join(dir, 'zettabee.cfg');
  writeFileSync(pairsFile, 'tank/a  pool/a  wrun=10s,crun=20s\ntank/b  pool/b\n');
  const [pa, pb] = parsePairs('tank/a  pool/a\ntank/b  pool/b\n', 'x').pairs as [Pair, Pair];
  mkdirSync(join(dir, 'state'));
  mkdirSync(join(dir, 'lock'));

  async function run(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['-c', pairsFile, '--settings', settings, ...argv], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
    return { code, out: out.join('\n'), err };
  }

  it('a pair never initialized: WARNING, exit 1', async () => {
    const r = await run('check', 'pool/a');
    expect(r.code).to.equal(1);
    expect(r.out).to.match(/^ZETTABEE WARNING - never initialized; run zettabee initialize pool\/a\n/);
    expect(r.err).to.deep.equal([]);
  });

  it('a stuck run (status file says running, our own live pid holds the lock): runtime vs wrun/crun', async () => {
    const started = new Date(Date.now() - 25_000).toISOString();
    const rec = { ...record(), fingerprint: pa.fingerprint, lastSnapshot: { name: 's', guid: '1', creation: Math.floor(Date.now() / 1000) - 30 }, run: { action: 'update', pid: process.pid, host: hostname(), started, result: 'running' } };
    writeFileSync(join(dir, 'state', `${pa.fingerprint}.status`), JSON.stringify(rec));
    mkdirSync(join(dir, 'lock', `${pa.fingerprint}.lock`));
    writeFileSync(join(dir, 'lock', `${pa.fingerprint}.holder`), JSON.stringify({ pid: process.pid, host: hostname(), started, action: 'update' }));
    const r = await run('check', 'pool/a');
    expect(r.code, r.out).to.equal(2);
    expect(r.out).to.match(/^ZETTABEE CRITICAL - update running for 0:00:2\d >= crun 0:00:20; lag 0:00:3\d; last snapshot .* \| lag=3\ds;;;0 runtime=2\ds;10;20;0 bytes=10000000B;;;0 rate=2000000B;;;0\n/);
    expect(r.out).to.contain(`running: update by pid ${process.pid} on ${hostname()}`);
  });

  it('an unreadable status file: UNKNOWN, exit 3, says why', async () => {
    writeFileSync(join(dir, 'state', `${pb.fingerprint}.status`), 'garbage');
    const r = await run('check', 'pool/b');
    expect(r.code).to.equal(3);
    expect(r.out).to.match(/^ZETTABEE UNKNOWN - status file unreadable: .*\.status: not JSON/);
  });

  it('no DEST: a summary line, one line per pair, exit code of the worst', async () => {
    const r = await run('check');
    expect(r.code).to.equal(2);
    const lines = r.out.split('\n');
    expect(lines[0]).to.match(/^ZETTABEE CRITICAL - 2 pairs: 1 critical, 1 unknown \| 'pool\/a lag'=/);
    expect(lines[1]).to.match(/^pool\/a: CRITICAL - update running for/);
    expect(lines[2]).to.match(/^pool\/b: UNKNOWN - status file unreadable/);
    expect(lines).to.have.length(3);
  });

  it('configuration and usage errors are UNKNOWN (exit 3) on stdout, never exit 2 (CRITICAL)', async () => {
    const unknownDest = await run('check', 'nosuch');
    expect(unknownDest.code).to.equal(3);
    expect(unknownDest.out).to.match(/^ZETTABEE UNKNOWN - no pair matches 'nosuch'\n/);
    const extra = await run('check', 'pool/a', 'more');
    expect(extra.code).to.equal(3);
    expect(extra.out).to.match(/^ZETTABEE UNKNOWN - usage: Unknown argument: more/);
    const opt = await run('check', '--bogus');
    expect(opt.code).to.equal(3);
    const bad = join(dir, 'bad.cfg');
    writeFileSync(bad, 'tank/a pool/a wlg=1h\n');
    const out: string[] = [];
    const code = await main(['-c', bad, '--settings', settings, 'check'], { out: (l) => out.push(l), err: () => undefined, env: {} });
    expect(code).to.equal(3);
    expect(out[0]).to.equal(`ZETTABEE UNKNOWN - 1 mistake in ${bad}; nothing was run`);
    expect(out[1]).to.contain("unknown key 'wlg'");
  });

  it('no pairs at all: UNKNOWN', async () => {
    const empty = join(dir, 'empty.cfg');
    writeFileSync(empty, '# nothing yet\n');
    const out: string[] = [];
    expect(await main(['-c', empty, '--settings', settings, 'check'], { out: (l) => out.push(l), err: () => undefined, env: {} })).to.equal(3);
    expect(out).to.deep.equal(['ZETTABEE UNKNOWN - no pairs to check']);
  });
});

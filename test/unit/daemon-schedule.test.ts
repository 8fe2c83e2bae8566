// The daemon's schedule (pure): when each pair runs next, the backoff of a
// failing pair, which pairs start now, and how status shows the plan.
import { expect } from 'chai';
import { afterRun, backoffFactor, duePairs, firstTimes, untilNext, type PairTimes } from '../../src/app/schedule.js';
import { formatPlanned, plannedOf, statusLines, viewOf } from '../../src/app/status.js';
import { parsePairs } from '../../src/config/pairs.js';
import { SdNotify } from '../../src/exec/sdnotify.js';
import { cachedStillGood, type Cached } from '../../src/app/capabilities.js';
import { PROBE_MAX_AGE_MS } from '../../src/app/daemon.js';
import { noZfsCapabilities } from '../../src/zfs/probe.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const S = 1000;

describe('daemon schedule (pure)', () => {
  it('backoff: 1, 1, 2, 4, then 4 intervals at most', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map(backoffFactor)).to.deep.equal([1, 1, 2, 4, 4, 4, 4]);
  });

  const cases: Array<[string, PairTimes, 'ok' | 'failed' | 'busy', number, number, PairTimes]> = [
    ['ok: the next start is an interval after this start', { next: T0, failures: 0 }, 'ok', T0, T0 + 2 * S, { next: T0 + 60 * S, failures: 0 }],
    ['ok after failures: back to the interval', { next: T0, failures: 3 }, 'ok', T0, T0 + S, { next: T0 + 60 * S, failures: 0 }],
    ['a run longer than the interval: the next starts at once', { next: T0, failures: 0 }, 'ok', T0, T0 + 90 * S, { next: T0 + 90 * S, failures: 0 }],
    ['first failure: retried after one interval', { next: T0, failures: 0 }, 'failed', T0, T0 + S, { next: T0 + 60 * S, failures: 1 }],
    ['second failure in a row: two intervals', { next: T0, failures: 1 }, 'failed', T0, T0 + S, { next: T0 + 120 * S, failures: 2 }],
    ['third: four intervals', { next: T0, failures: 2 }, 'failed', T0, T0 + S, { next: T0 + 240 * S, failures: 3 }],
    ['tenth: still four intervals', { next: T0, failures: 9 }, 'failed', T0, T0 + S, { next: T0 + 240 * S, failures: 10 }],
    ['busy (a cron run holds the lock): an interval later, failures unchanged', { next: T0, failures: 2 }, 'busy', T0, T0, { next: T0 + 60 * S, failures: 2 }],
  ];
  for (const [name, prev, result, started, ended, want] of cases) {
    it(name, () => expect(afterRun(prev, result, started, ended, 60)).to.deep.equal(want));
  }

  it('a new pair is due at once', () => expect(firstTimes(T0)).to.deep.equal({ next: T0, failures: 0 }));

  it('due pairs: most overdue first, never a running one, at most the free jobs', () => {
    const times = new Map<string, PairTimes>([
      ['a', { next: T0 - 5 * S, failures: 0 }],
      ['b', { next: T0 - 50 * S, failures: 0 }],
      ['c', { next: T0 + 5 * S, failures: 0 }],
      ['d', { next: T0 - 90 * S, failures: 0 }],
    ]);
    expect(duePairs(times, new Set(), T0, 8)).to.deep.equal(['d', 'b', 'a']);
    expect(duePairs(times, new Set(['d']), T0, 1)).to.deep.equal(['b']);
    expect(duePairs(times, new Set(), T0, 0)).to.deep.equal([]);
    expect(untilNext(times, new Set(), T0)).to.equal(0);
    expect(untilNext(times, new Set(['a', 'b', 'd']), T0)).to.equal(5 * S);
    expect(untilNext(times, new Set(['a', 'b', 'c', 'd']), T0)).to.equal(null);
  });
});

describe('status with a running daemon (pure)', () => {
  const [pair] = parsePairs('src:tank/a  pool/tank/a', 'p.cfg').pairs;
  const view = (planned?: { next: number; running: boolean; failures: number }) => {
    const v = viewOf(pair!, null, { kind: 'free' }, T0);
    if (planned) v.planned = planned;
    return v;
  };

  it('the next run: in H:MM:SS, now, running, and the failures behind a backoff', () => {
    expect(formatPlanned({ next: T0 + 42 * S, running: false, failures: 0 }, T0)).to.equal('in 0:00:42');
    expect(formatPlanned({ next: T0 + 41.2 * S, running: false, failures: 1 }, T0)).to.equal('in 0:00:42');
    expect(formatPlanned({ next: T0 - S, running: false, failures: 0 }, T0)).to.equal('now');
    expect(formatPlanned({ next: T0, running: true, failures: 0 }, T0)).to.equal('running');
    expect(formatPlanned({ next: T0 + 240 * S, running: false, failures: 3 }, T0)).to.equal('in 0:04:00 (after 3 failures)');
    expect(formatPlanned(undefined, T0)).to.equal('-');
  });

  it('a next column only while a daemon runs', () => {
    expect(statusLines([view()], false, T0)).to.deep.equal(['src:tank/a  pool/tank/a  Uninitialized  -  -  Idle (-)']);
    expect(statusLines([view({ next: T0 + 60 * S, running: false, failures: 0 })], false, T0)).to.deep.equal(['src:tank/a  pool/tank/a  Uninitialized  -  -  Idle (-)  next in 0:01:00']);
    const full = statusLines([view({ next: T0 + 60 * S, running: false, failures: 0 })], true, T0)[0]!;
    expect(full).to.match(new RegExp(`Idle \\(-\\)  ${pair!.fingerprint}  -  -  next in 0:01:00$`));
  });

  it('the schedule file read back: bad times are left out', () => {
    const p = plannedOf({ pairs: { a: { next: '2026-12-01T12:01:00Z', running: false, failures: 2 }, b: { next: 'soon', running: false, failures: 0 } } });
    expect([...p.entries()]).to.deep.equal([['a', { next: T0 + 60 * S, running: false, failures: 2 }]]);
    expect(plannedOf(null).size).to.equal(0);
  });
});

describe('sd_notify settings from the environment (pure)', () => {
  it('the watchdog wants a ping at half its period; NOTIFY_SOCKET and WATCHDOG_* leave the environment the daemon passes on', () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '180000000', WATCHDOG_PID: String(process.pid), PATH: '/bin' };
    const n = new SdNotify(env, () => {});
    expect(n.enabled).to.equal(true);
    expect(n.watchdogIntervalMs()).to.equal(90_000);
    expect(env).to.deep.equal({ PATH: '/bin' });
  });

  it('no watchdog when WATCHDOG_PID names another process, or without NOTIFY_SOCKET; nothing sent without a socket', async () => {
    expect(new SdNotify({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }, () => {}).watchdogIntervalMs()).to.equal(null);
    const none = new SdNotify({ WATCHDOG_USEC: '1000000' }, () => {});
    expect(none.enabled).to.equal(false);
    expect(none.watchdogIntervalMs()).to.equal(null);
    await none.send('READY=1');
  });
});

describe('capability probes: when a cached answer stands (pure)', () => {
  const caps = noZfsCapabilities();
  const probed = '2026-12-01T12:00:00.000Z';
  const c: Cached = { host: 'db1', pool: 'tank', probed, caps };
  const H = 3600 * 1000;
  const daemon = { maxAgeMs: PROBE_MAX_AGE_MS, afterFailure: true };
  const cases: Array<[string, Cached | undefined, number, typeof daemon | undefined, string | undefined, boolean]> = [
    ['cron: a day old at most', c, T0 + 23 * H, undefined, 'ok', true],
    ['cron: older than a day, probed again', c, T0 + 25 * H, undefined, 'ok', false],
    ['cron: after a failure, still cached', c, T0 + H, undefined, 'failed', true],
    ['daemon: three hours old stands', c, T0 + 3 * H, daemon, 'ok', true],
    ['daemon: every four hours, probed again', c, T0 + 4 * H, daemon, 'ok', false],
    ['daemon: after a failed run, probed again', c, T0 + 60 * S, daemon, 'failed', false],
    ['another host', { ...c, host: 'db2' }, T0, daemon, 'ok', false],
    ['nothing cached', undefined, T0, daemon, undefined, false],
  ];
  for (const [name, cached, now, policy, last, want] of cases) {
    it(name, () => expect(cachedStillGood(cached, 'db1', 'tank', now, policy, last)).to.equal(want));
  }
});

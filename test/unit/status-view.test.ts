// status: the view of a pair from its record and lock (pure).
import { expect } from 'chai';
import { parsePairs } from '../../src/config/pairs.js';
import { statusLines, viewOf } from '../../src/app/status.js';
import type { StatusRecord } from '../../src/state/status.js';
import type { LockState } from '../../src/state/lock.js';

const [pair] = parsePairs('src:tank/a  pool/tank/a  wlag=1h,clag=2h', 'p.cfg').pairs;
const NOW = Date.parse('2026-11-22T12:00:00Z');
const at = (iso: string) => Date.parse(iso) / 1000;

function record(over: Partial<StatusRecord> = {}): StatusRecord {
  return {
    version: 1,
    fingerprint: pair!.fingerprint,
    source: 'src:tank/a',
    destination: 'localhost:pool/tank/a',
    state: 'Synchronized',
    lastSnapshot: { name: 'zettabee.x', guid: '1', creation: at('2026-11-22T11:30:00Z') },
    run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:30:00Z', ended: '2026-11-22T11:30:05Z', result: 'ok', seconds: 5 },
    ...over,
  };
}

const free: LockState = { kind: 'free' };
const held: LockState = { kind: 'held', holder: { pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', action: 'update' } };
const stale: LockState = { kind: 'stale', holder: null, reason: 'pid 42 is no longer running' };

describe('status view (pure)', () => {
  const cases: Array<[string, StatusRecord | null, LockState, Partial<ReturnType<typeof viewOf>>]> = [
    ['never run: Uninitialized, Idle, no lag', null, free, { state: 'Uninitialized', status: 'Idle', lag: null, flags: '' }],
    ['synced 30 min ago: lag 1800, no flags', record(), free, { state: 'Synchronized', status: 'Idle', lag: 1800, flags: '', runtime: 5 }],
    ['lag == wlag is +', record({ lastSnapshot: { name: 'x', guid: '1', creation: at('2026-11-22T11:00:00Z') } }), free, { lag: 3600, flags: '+' }],
    ['lag == clag is ! alone (the worse flag)', record({ lastSnapshot: { name: 'x', guid: '1', creation: at('2026-11-22T10:00:00Z') } }), free, { lag: 7200, flags: '!' }],
    ['a live run: L, Running with its runtime so far', record({ run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }), held, { status: 'Running', runtime: 60, flags: 'L' }],
    ['a live initialize: Initializing', record({ state: 'Uninitialized', run: { action: 'initialize', pid: 42, host: 'h', started: '2026-11-22T11:59:30Z', result: 'running' } }), held, { status: 'Initializing', runtime: 30 }],
    ['a stale lock: L, Failed, says unlock', record({ run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }), stale, { status: 'Failed', flags: 'L' }],
    ['running in the file but no lock: Failed', record({ run: { action: 'update', pid: 42, host: 'h', started: '2026-11-22T11:59:00Z', result: 'running' } }), free, { status: 'Failed' }],
    ['last run failed: Failed with its error', record({ run: { action: 'update', pid: 1, host: 'h', started: '2026-11-22T11:50:00Z', result: 'failed', seconds: 2, error: 'boom' } }), free, { status: 'Failed', note: 'boom', runtime: 2 }],
    ['inconsistent: the reason is the note', record({ state: 'Inconsistent', inconsistency: { kind: 'diverged', message: 'diverged' } }), free, { state: 'Inconsistent', note: 'diverged' }],
  ];
  for (const [name, rec, lock, want] of cases) {
    it(name, () => {
      const v = viewOf(pair!, rec, lock, NOW);
      for (const [k, val] of Object.entries(want)) expect((v as unknown as Record<string, unknown>)[k], k).to.deep.equal(val);
    });
  }

  it('a stale lock note names zettabee unlock and the pair', () => {
    expect(viewOf(pair!, record(), stale, NOW).note).to.contain('zettabee unlock localhost:pool/tank/a'.replace('localhost:', ''));
  });

  it('an unreadable status file: state Unknown with why', () => {
    const v = viewOf(pair!, null, free, NOW, '/x/y.status: not JSON');
    expect(v.state).to.equal('Unknown');
    expect(v.note).to.contain('not JSON');
  });

  it('lines: the contract columns, aligned; --fullstatus adds fingerprint, snapshot, port and a note line', () => {
    const v = viewOf(pair!, record({ run: { action: 'update', pid: 1, host: 'h', started: 'x', result: 'failed', error: 'boom', seconds: 1 } }), free, NOW);
    expect(statusLines([v], false)).to.deep.equal(['src:tank/a  pool/tank/a  Synchronized  0:30:00  -  Failed (0:00:01)']);
    const full = statusLines([v], true);
    expect(full[0]).to.equal(`src:tank/a  pool/tank/a  Synchronized  0:30:00  -  Failed (0:00:01)  ${pair!.fingerprint}  zettabee.x  -`);
    expect(full[1]).to.equal('    boom');
  });
});

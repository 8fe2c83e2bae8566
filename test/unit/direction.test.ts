// Which way a pair runs (domain/direction.ts), and how status and check show
// it: pure table tests.
import { expect } from 'chai';
import { parsePairs, type Pair } from '../../src/config/pairs.js';
import { formatSwitched, orientation, parseSwitched, reversePair, type SideMark } from '../../src/domain/direction.js';
import { evaluate } from '../../src/monitor/check.js';
import { statusJson, statusLines, viewOf } from '../../src/app/status.js';
import type { StatusRecord } from '../../src/state/status.js';
import * as zargv from '../../src/zfs/argv.js';

const [pair] = parsePairs('src:tank/a  pool/bk/a  transport=mbuffer,port=9100,accept=10.0.0.1,connect=10.0.0.2', 'p.cfg').pairs as [Pair];
const at = (iso: string) => Date.parse(iso);

describe('direction: the marks on both datasets (pure)', () => {
  const S = (role?: 'source' | 'destination', how?: 'takeover' | 'failover', t = '2026-12-01T10:00:00Z'): SideMark => ({ ...(role ? { role } : {}), ...(how ? { switched: { how, at: t, host: 'b1' } } : {}) });
  const cases: Array<[string, SideMark, SideMark, ReturnType<typeof orientation>]> = [
    ['never switched (no marks): as the pairs file says', S(), S(), { kind: 'forward' }],
    ['marked as the pairs file says', S('source'), S('destination'), { kind: 'forward' }],
    ['after a failover', S('destination', 'failover'), S('source', 'failover'), { kind: 'reversed' }],
    ['a takeover, the old source back (it says source)', S('source'), S('source', 'takeover'), { kind: 'splitBrain', tookOver: 'destination' }],
    ['a takeover of a pair never marked before', S(), S('source', 'takeover'), { kind: 'splitBrain', tookOver: 'destination' }],
    ['a takeover back the other way', S('source', 'takeover'), S('source', 'failover'), { kind: 'splitBrain', tookOver: 'source' }],
    ['both took over: the later one counts', S('source', 'takeover', '2026-12-02T00:00:00Z'), S('source', 'takeover'), { kind: 'splitBrain', tookOver: 'source' }],
    ['both sources, neither took over', S('source'), S('source'), { kind: 'splitBrain', tookOver: 'unknown' }],
    ['both destinations: a switch stopped half-way', S('destination'), S('destination'), { kind: 'noSource' }],
    ['the source says destination, the other nothing', S('destination'), S(), { kind: 'noSource' }],
  ];
  for (const [name, a, b, want] of cases) it(name, () => expect(orientation(a, b)).to.deep.equal(want));

  it('switched: written and read back; anything else is no mark', () => {
    const s = { how: 'takeover' as const, at: '2026-12-01T10:00:00Z', host: 'backup1' };
    expect(parseSwitched(formatSwitched(s))).to.deep.equal(s);
    for (const bad of [undefined, '-', 'takeover', 'takeover yesterday b1', 'promote 2026-12-01T10:00:00Z b1']) expect(parseSwitched(bad)).to.equal(undefined);
  });

  it('the reversed pair: ends swapped, mbuffer addresses swapped, the fingerprint, label and line kept', () => {
    const r = reversePair(pair);
    expect(r.source).to.deep.equal(pair.destination);
    expect(r.destination).to.deep.equal(pair.source);
    expect([r.fingerprint, r.label, r.line, r.options.port]).to.deep.equal([pair.fingerprint, pair.label, pair.line, 9100]);
    expect([r.options.accept, r.options.connect]).to.deep.equal(['10.0.0.2', '10.0.0.1']);
    expect(reversePair(r)).to.deep.equal(pair);
  });
});

describe('direction: status and check show it (pure)', () => {
  const NOW = at('2026-12-01T12:00:00Z');
  const rec = (over: Partial<StatusRecord>): StatusRecord => ({
    version: 1,
    fingerprint: pair.fingerprint,
    source: 'src:tank/a',
    destination: 'localhost:pool/bk/a',
    state: 'Synchronized',
    lastSnapshot: { name: 'zettabee.x', guid: '1', creation: NOW / 1000 - 60 },
    run: { action: 'update', pid: 1, host: 'h', started: '2026-12-01T11:59:00Z', ended: '2026-12-01T11:59:05Z', result: 'ok', seconds: 5 },
    ...over,
  });
  const reversed = { reversed: true, since: '2026-12-01T11:00:00Z', how: 'failover' as const, host: 'b1' };

  it('reversed by a failover: OK, flag R, "reversed since" with the direction it runs; lag as always', () => {
    const r = evaluate({ pair, record: rec({ direction: reversed }), lock: { kind: 'free' }, now: NOW });
    expect(r.state).to.equal(0);
    expect(r.summary).to.contain('reversed since 2026-12-01 11:00:00 UTC (failover on b1): pool/bk/a -> src:tank/a');
    expect(r.perfdata[0]).to.equal('lag=60s;;;0');
    const v = viewOf(pair, rec({ direction: reversed }), { kind: 'free' }, NOW);
    expect(v.flags).to.equal('R');
    expect(statusLines([v], true).join('\n')).to.contain('reversed since 2026-12-01 11:00:00 UTC');
    expect((statusJson([v])[0] as { direction: unknown }).direction).to.deep.equal(reversed);
  });

  it('switched back (not reversed): nothing shown', () => {
    const v = viewOf(pair, rec({ direction: { ...reversed, reversed: false } }), { kind: 'free' }, NOW);
    expect(v.flags).to.equal('');
    expect(evaluate({ pair, record: rec({ direction: { ...reversed, reversed: false } }), lock: { kind: 'free' }, now: NOW }).summary).not.to.contain('reversed');
  });

  it('taken over: CRITICAL until failback, naming the side not reached and what to run', () => {
    const r = evaluate({ pair, record: rec({ direction: { ...reversed, how: 'takeover', unreached: 'src:tank/a' } }), lock: { kind: 'free' }, now: NOW });
    expect(r.state).to.equal(2);
    expect(r.summary).to.match(/^taken over: pool\/bk\/a is the source since 2026-12-01 11:00:00 UTC \(takeover on b1\); the old source src:tank\/a was not reached and may still be writable/);
    expect(r.long.join('\n')).to.contain(`zettabee failback ${pair.label}`);
  });

  it('split brain: CRITICAL once, as the inconsistency (not twice)', () => {
    const r = evaluate({ pair, record: rec({ state: 'Inconsistent', inconsistency: { kind: 'splitBrain', message: 'split brain: both sides are sources' }, direction: { ...reversed, how: 'takeover' } }), lock: { kind: 'free' }, now: NOW });
    expect(r.state).to.equal(2);
    expect(r.summary).to.match(/^inconsistent: split brain/);
    expect(r.summary).not.to.contain('taken over');
  });
});

describe('direction: the zfs commands a switch runs (pure)', () => {
  it('mountHere: a fixed script, the dataset and the depth as arguments', () => {
    expect(zargv.mountHere('pool/a', false).slice(3)).to.deep.equal(['zettabee-mount', 'pool/a', '-d0']);
    expect(zargv.mountHere('pool/a', true).at(-1)).to.equal('-r');
    expect(() => zargv.mountHere('-x', false)).to.throw(/starts with '-'/);
  });
  it('clone, promote, rename, unmount', () => {
    expect(zargv.clone('pool/a-kept@s1', 'pool/a')).to.deep.equal(['zfs', 'clone', 'pool/a-kept@s1', 'pool/a']);
    expect(() => zargv.clone('pool/a', 'pool/b')).to.throw(/snapshot/);
    expect(zargv.promote('pool/a')).to.deep.equal(['zfs', 'promote', 'pool/a']);
    expect(zargv.rename('pool/a', 'pool/b')).to.deep.equal(['zfs', 'rename', 'pool/a', 'pool/b']);
    expect(zargv.unmount('pool/a')).to.deep.equal(['zfs', 'unmount', 'pool/a']);
  });
});

describe('direction: a role names its dataset (pure)', () => {
  it("own mark as it says; a source's mark that came with a stream means destination; a bare value (set by hand) counts", async () => {
    const { formatRole, parseRole } = await import('../../src/domain/direction.js');
    expect(parseRole(formatRole('source', 'tank/a'), 'tank/a')).to.equal('source');
    expect(parseRole(formatRole('destination', 'tank/a'), 'tank/a')).to.equal('destination');
    expect(parseRole(formatRole('source', 'tank/a'), 'backup/a')).to.equal('destination');
    expect(parseRole(formatRole('destination', 'tank/a'), 'backup/a')).to.equal(undefined);
    expect(parseRole('source', 'backup/a')).to.equal('source');
    expect(parseRole('-', 'backup/a')).to.equal(undefined);
    expect(parseRole('primary', 'backup/a')).to.equal(undefined);
  });
});

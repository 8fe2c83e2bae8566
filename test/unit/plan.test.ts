import { expect } from 'chai';
import { destinationAfterReceive, newestPairSnapshot, planRetention, planUpdate, withArrival, type SnapshotInfo } from '../../src/domain/plan.js';

const FP = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

let txg = 100n;
/** a snapshot: pair snapshots by stamp, others by name; guid given */
function snap(name: string, guid: string, t?: bigint): SnapshotInfo {
  const short = /^\d{14}/.test(name) ? `zettabee.${FP}.${name}UTC` : name.startsWith('other:') ? `zettabee.${OTHER}.${name.slice(6)}UTC` : name;
  return { snapshot: short, guid, createtxg: t ?? (txg += 10n), creation: Number(txg) };
}

describe('planner: update decisions (pure)', () => {
  it('picks the newest common snapshot by guid, not by name', () => {
    const s1 = snap('20260101000000', '1');
    const s2 = snap('20260102000000', '2');
    const renamed = { ...s2, snapshot: 'renamed-on-destination' };
    const d = planUpdate(FP, [s1, s2], [s1, renamed]);
    expect(d.kind).to.equal('incremental');
    if (d.kind !== 'incremental') return;
    expect(d.base.guid).to.equal('2');
    expect(d.baseOnDestination.snapshot).to.equal('renamed-on-destination');
    expect(d.orphans).to.deep.equal([]);
  });

  it('a bookmark stands in for a base snapshot destroyed on the source (send -i from it)', () => {
    const s1 = snap('20260101000000', '1');
    const s2 = snap('20260102000000', '2');
    const mark = { ...s2, snapshot: s2.snapshot };
    // s2 was destroyed on the source; its bookmark remains
    const d = planUpdate(FP, [s1], [s1, s2], [mark]);
    expect(d.kind).to.equal('incremental');
    if (d.kind !== 'incremental') return;
    expect(d.fromBookmark).to.equal(true);
    expect(d.base.guid).to.equal('2');
    expect(d.baseOnDestination.guid).to.equal('2');
  });

  it('a snapshot as new as the bookmark wins (send -I stays possible); an older bookmark does not count', () => {
    const s1 = snap('20260101000000', '1');
    const s2 = snap('20260102000000', '2');
    const d = planUpdate(FP, [s1, s2], [s1, s2], [{ ...s2 }, { ...s1 }]);
    expect(d.kind === 'incremental' && d.fromBookmark).to.equal(undefined);
    expect(d.kind === 'incremental' && d.base.guid).to.equal('2');
  });

  it('a bookmark whose snapshot the destination no longer has, or that the destination outgrew, is no base', () => {
    const s1 = snap('20260101000000', '1');
    const s2 = snap('20260102000000', '2');
    expect(planUpdate(FP, [], [s1], [{ ...s2 }]).kind).to.equal('conflict');
    const extra = snap('made-on-destination', '7');
    const d = planUpdate(FP, [], [s2, extra], [{ ...s2 }]);
    expect(d.kind).to.equal('conflict');
  });

  it('a same-named snapshot with another guid is not common', () => {
    const s1 = snap('20260101000000', '1');
    const fake = { ...s1, guid: '99' };
    const d = planUpdate(FP, [s1], [fake]);
    expect(d.kind).to.equal('conflict');
    if (d.kind === 'conflict') expect(d.conflict.kind).to.equal('noCommon');
  });

  it('no common snapshot: conflict listing both sides, nothing to destroy', () => {
    const d = planUpdate(FP, [snap('20260101000000', '1')], [snap('20260101000000', '2'), snap('manual', '3')]);
    expect(d.kind).to.equal('conflict');
    if (d.kind !== 'conflict') return;
    expect(d.conflict.kind).to.equal('noCommon');
    expect(d.conflict.details.join('\n')).to.contain("source's newest pair snapshots: @zettabee." + FP);
    expect(d.conflict.details.join('\n')).to.contain("destination's newest snapshots of any name: @manual");
    expect(d.conflict.hint).to.match(/nothing was changed/);
  });

  it('an empty destination has no common snapshot', () => {
    const d = planUpdate(FP, [snap('20260101000000', '1')], []);
    expect(d.kind === 'conflict' && d.conflict.message).to.match(/no snapshots/);
  });

  it('destination snapshots newer than the common one: diverged', () => {
    const s1 = snap('20260101000000', '1');
    const extra = snap('made-on-destination', '7');
    const d = planUpdate(FP, [s1, snap('20260102000000', '2')], [s1, extra]);
    expect(d.kind).to.equal('conflict');
    if (d.kind !== 'conflict') return;
    expect(d.conflict.kind).to.equal('diverged');
    expect(d.conflict.message).to.contain('@made-on-destination');
  });

  it('pair snapshots newer than the base on the source are orphans; others are not', () => {
    const s1 = snap('20260101000000', '1');
    const user = snap('user-snap', '4');
    const orphan = snap('20260102000000', '5');
    const foreign = snap('other:20260102000000', '6');
    const d = planUpdate(FP, [s1, user, orphan, foreign], [s1]);
    expect(d.kind).to.equal('incremental');
    if (d.kind === 'incremental') expect(d.orphans.map((s) => s.guid)).to.deep.equal(['5']);
  });

  it('an older common snapshot still works when newer source snapshots exist', () => {
    const s1 = snap('20260101000000', '1');
    const s2 = snap('20260102000000', '2');
    const d = planUpdate(FP, [s1, s2], [s1]);
    expect(d.kind === 'incremental' && d.base.guid).to.equal('1');
  });

  it('a resumed receive\'s snapshot counts as the destination\'s newest, whatever its createtxg on the source (pools number txgs apart)', () => {
    // source: base (txg 50), @mine (60), new (70); the destination got base
    // (txg 900) and @mine (910), and a resume delivers new. Numbered as the
    // source numbers it, new (70) would look older than @mine (910): a false
    // "diverged" (seen on OpenZFS 2.3 after a kill -9 of an -I update)
    const base = snap('20260101000000', '1', 50n);
    const mine = snap('mine', '2', 60n);
    const next = snap('20260102000000', '3', 70n);
    const dst = [{ ...base, createtxg: 900n }, { ...mine, createtxg: 910n }];
    expect(planUpdate(FP, [base, mine, next], [...dst, next]).kind).to.equal('conflict');
    const after = withArrival(dst, next);
    expect(after.map((s) => [s.guid, s.createtxg])).to.deep.equal([['1', 900n], ['2', 910n], ['3', 911n]]);
    const d = planUpdate(FP, [base, mine, next], after);
    expect(d.kind === 'incremental' && d.base.guid).to.equal('3');
  });
});

describe('planner: retention (pure)', () => {
  const a = snap('20260101000000', '1', 10n);
  const b = snap('20260102000000', '2', 20n);
  const user = snap('user', '3', 25n);
  const c = snap('20260103000000', '4', 30n);
  const foreign = snap('other:20260101000000', '5', 15n);

  const cases: Array<[string, SnapshotInfo[], SnapshotInfo[], number, string[], string[]]> = [
    ['keep=1: destination keeps newest and one older', [a, b, c], [a, b, c], 1, ['1', '2'], ['1']],
    ['keep=0: destination keeps only the newest', [a, b, c], [a, b, c], 0, ['1', '2'], ['1', '2']],
    ['keep larger than history: nothing dropped on the destination', [b, c], [a, b, c], 5, ['2'], []],
    ['user snapshots are never chosen; foreign ones only on the destination', [a, foreign, user, c], [a, foreign, user, c], 0, ['1'], ['1', '5']],
  ];
  for (const [name, src, dst, keep, dropSrc, dropDst] of cases) {
    it(name, () => {
      const r = planRetention(FP, src, dst, '4', keep);
      expect(r.source.map((s) => s.guid)).to.deep.equal(dropSrc);
      expect(r.destination.map((s) => s.guid)).to.deep.equal(dropDst);
    });
  }

  it("another pair's snapshots carried by -I go from the destination, never from the source; a cascade's own stay", () => {
    const cascade = snap('other:20260101000001', '9', 12n); // made on the destination, not on the source
    const r = planRetention(FP, [a, foreign, user, c], [a, foreign, cascade, user, c], '4', 5);
    expect(r.source.map((s) => s.guid)).to.deep.equal(['1']); // only this pair's own
    expect(r.destination.map((s) => s.guid)).to.deep.equal(['5']);
  });

  it('never drops anything when the newest is unknown on a side', () => {
    const r = planRetention(FP, [a, b], [a, b], '42', 0);
    expect(r).to.deep.equal({ source: [], destination: [] });
  });

  it('the destination after an -I receive carries the intermediate snapshots, numbered after its own', () => {
    const dstA = { ...a, createtxg: 900n };
    const after = destinationAfterReceive([dstA], [a, user, c], a, c);
    expect(after.map((s) => s.guid)).to.deep.equal(['1', '3', '4']);
    expect(after.map((s) => s.createtxg)).to.deep.equal([900n, 901n, 902n]);
    const r = planRetention(FP, [a, user, c], after, '4', 0);
    expect(r.destination.map((s) => s.guid)).to.deep.equal(['1']);
    expect(newestPairSnapshot(FP, after)?.guid).to.equal('4');
  });
});

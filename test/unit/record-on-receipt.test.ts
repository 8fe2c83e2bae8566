// A pair run's record of a snapshot made on its receipt (before the guid
// check on the destination: replicate.ts onReceipt) and taken back when
// that check fails: runPairAction with real state, lock and log files in a
// directory of its own, the run's body standing in for the engine.
import { expect } from 'chai';
import { PairError, runPairAction, type Outcome } from '../../src/app/pair-run.js';
import { readStatus, type SnapshotRef } from '../../src/state/status.js';
import { made, old, pair, usePairRunBed } from './pair-run-bed.js';

describe('a record made on receipt, and taken back by a failed guid check', () => {
  const bed = usePairRunBed('zb-receipt-');
  const deps = () => bed.deps();

  /** a first run that leaves `old` as the last snapshot */
  const first = () => runPairAction(pair, deps(), 'update', () => Promise.resolve<Outcome>({ lastSnapshot: old, bytes: 1, snapshot: 'old', warnings: [] }));

  it('the check failed after the record: Inconsistent, the last snapshot is the one before, the run failed', async () => {
    await first();
    let seen: SnapshotRef | undefined;
    const err = await runPairAction(pair, deps(), 'update', (run) => {
      run.replicated!(made);
      seen = readStatus(bed.settings, pair.fingerprint)?.lastSnapshot;
      return Promise.reject(new PairError('the destination does not hold backup/a@new with guid 222 after the receive (guid 9)', 'look', [], 'Inconsistent', { kind: 'verify', message: 'received snapshot not found by guid on the destination (guid 9)' }));
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(PairError);
    // recorded at once, while the run went on
    expect(seen).to.deep.equal(made);
    const rec = readStatus(bed.settings, pair.fingerprint)!;
    expect(rec.state).to.equal('Inconsistent');
    expect(rec.inconsistency?.kind).to.equal('verify');
    expect(rec.lastSnapshot).to.deep.equal(old);
    expect(rec.run?.result).to.equal('failed');
  });

  it('another failure after the record (retention, the lock lost): the snapshot stays recorded, it is on the destination', async () => {
    await first();
    await runPairAction(pair, deps(), 'update', (run) => {
      run.replicated!(made);
      return Promise.reject(new PairError('cannot finish on the source', undefined));
    }).catch(() => undefined);
    const rec = readStatus(bed.settings, pair.fingerprint)!;
    expect(rec.lastSnapshot).to.deep.equal(made);
    expect(rec.run?.result).to.equal('failed');
  });

  it('the first run of a pair, its check failed: no last snapshot at all', async () => {
    await runPairAction(pair, deps(), 'initialize', (run) => {
      run.replicated!(made);
      return Promise.reject(new PairError('not held', undefined, [], 'Inconsistent', { kind: 'verify', message: 'x' }));
    }).catch(() => undefined);
    const rec = readStatus(bed.settings, pair.fingerprint)!;
    expect(rec.lastSnapshot).to.equal(undefined);
    expect(rec.state).to.equal('Inconsistent');
  });
});

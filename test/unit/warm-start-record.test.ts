// The record of a run's start (result: running) in a warm update of the
// daemon: written once the body has started its first processes, not before
// them, and never over a later record of the same run. runPairAction with
// real state, lock and log files; the body stands in for the engine.
import { expect } from 'chai';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runPairAction } from '../../src/app/pair-run.js';
import type { WarmSlot, WarmState } from '../../src/app/replicate.js';
import { readStatus } from '../../src/state/status.js';
import { made, ok, old, pair, usePairRunBed } from './pair-run-bed.js';

describe('the start record of a warm update', () => {
  const bed = usePairRunBed('zb-warmstart-');
  // runLocked only asks whether there is one; the engine reads it
  const warm = (): WarmSlot => ({ state: { started: 'x', listedAt: 0, reversed: false } as unknown as WarmState, keep: () => undefined });
  const deps = (w?: WarmSlot) => bed.deps(w ? { warm: w } : {});

  beforeEach(async () => {
    await runPairAction(pair, deps(), 'update', () => Promise.resolve(ok(old)));
  });

  it('a cron run (no warm state) has it on disk before its body starts', async () => {
    let atStart: string | undefined;
    await runPairAction(pair, deps(), 'update', () => {
      atStart = readStatus(bed.settings, pair.fingerprint)?.run?.result;
      return Promise.resolve(ok(made));
    });
    expect(atStart).to.equal('running');
  });

  it('a warm update writes it beside its first processes: after the body started, before the body waits for anything', async () => {
    let atStart: string | undefined;
    let afterATurn: string | undefined;
    let pid: number | undefined;
    await runPairAction(pair, deps(warm()), 'update', async () => {
      atStart = readStatus(bed.settings, pair.fingerprint)?.run?.result;
      await new Promise((r) => setTimeout(r, 20));
      const rec = readStatus(bed.settings, pair.fingerprint);
      afterATurn = rec?.run?.result;
      pid = rec?.run?.pid;
      return ok(made);
    });
    expect(atStart).to.equal('ok');
    expect(afterATurn).to.equal('running');
    expect(pid).to.equal(process.pid);
    const rec = readStatus(bed.settings, pair.fingerprint)!;
    expect(rec.run?.result).to.equal('ok');
    expect(rec.lastSnapshot).to.deep.equal(made);
  });

  it('a record made before it was written (the receipt) is not overwritten by it', async () => {
    await runPairAction(pair, deps(warm()), 'update', async (run) => {
      run.replicated!(made);
      await new Promise((r) => setTimeout(r, 20));
      const rec = readStatus(bed.settings, pair.fingerprint)!;
      expect(rec.lastSnapshot).to.deep.equal(made);
      expect(rec.state).to.equal('Synchronized');
      return ok(made);
    });
    expect(readStatus(bed.settings, pair.fingerprint)!.lastSnapshot).to.deep.equal(made);
  });

  it('a run that ends before it was written leaves only its end record', async () => {
    await runPairAction(pair, deps(warm()), 'update', () => Promise.resolve(ok(made)));
    await new Promise((r) => setTimeout(r, 20));
    const rec = readStatus(bed.settings, pair.fingerprint)!;
    expect(rec.run?.result).to.equal('ok');
    expect(rec.lastSnapshot).to.deep.equal(made);
  });

  it('a status file that cannot be written: the run is aborted, as a cron run fails before its body', async () => {
    // a directory where the status file is: the rename of the new record onto it fails (EISDIR), even for root
    const file = join(bed.dir, 'state', `${pair.fingerprint}.status`);
    rmSync(file);
    mkdirSync(join(file, 'in-the-way'), { recursive: true });
    let aborted: unknown;
    const err = await runPairAction(pair, deps(warm()), 'update', async (run) => {
      await new Promise((r) => setTimeout(r, 50));
      aborted = run.signal.aborted ? run.signal.reason : undefined;
      if (run.signal.aborted) throw run.signal.reason;
      return ok(made);
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String((aborted as Error | undefined)?.message)).to.match(/^cannot write the status file: /);
    expect(err).to.equal(aborted);
  });
});

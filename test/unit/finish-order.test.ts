// The order of an update's finish (finish() in src/app/replicate.ts), with
// stand-in hosts that record every batch: the guid check of what arrived
// comes first and alone; only once it matched is the new snapshot recorded
// (PairRun.replicated) and anything released or destroyed, on either side.
import { expect } from 'chai';
import { parsePairs } from '../../src/config/pairs.js';
import type { Host, RunResult } from '../../src/exec/host.js';
import type { PairRun } from '../../src/app/pair-run.js';
import { finish, type FinishPlan } from '../../src/app/replicate.js';
import type { BothCapabilities } from '../../src/app/capabilities.js';
import type { SnapshotEntry } from '../../src/zfs/parse.js';

const GUID = '1234567890123456789';
const ok = (stdout = ''): RunResult => ({ stdout, stderr: '', exitCode: 0 });

/** a host that answers each batch with `answer` and logs what it was asked, in order, into `log` */
function host(name: string, log: string[], answer: (argvs: readonly (readonly string[])[]) => RunResult[]): Host {
  const fail = () => Promise.reject(new Error(`${name}: only batch() is expected here`));
  return {
    name,
    local: true,
    wrap: (a) => [...a],
    exec: fail,
    run: fail,
    open: () => undefined,
    ready: () => Promise.resolve(),
    batch: (argvs) => {
      for (const a of argvs) log.push(`${name}: ${a[0] === 'sh' ? 'verify' : a.slice(0, 2).join(' ')}`);
      return Promise.resolve(answer(argvs));
    },
  };
}

function setup(guidOnDestination: string) {
  const pair = parsePairs('tank/a backup/a', 'test.cfg', {}).pairs[0]!;
  const calls: string[] = [];
  const dst = host('destination', calls, (argvs) => argvs.map((a) => (a[0] === 'sh' ? ok(`${guidOnDestination}\n`) : ok())));
  const src = host('source', calls, (argvs) => argvs.map(() => ok()));
  const quiet = () => undefined;
  const run = {
    pair,
    src,
    dst,
    log: { info: quiet, warn: quiet, error: quiet, debug: quiet },
    status: {},
    mustHoldLock: () => undefined,
    replicated: () => calls.push('recorded'),
  } as unknown as PairRun;
  const fin: FinishPlan = {
    destination: [
      ['zfs', 'set', 'zettabee:x:lastsnap=new', 'backup/a'],
      ['zfs', 'hold', 'zettabee.x', 'backup/a@new'],
      ['zfs', 'release', 'zettabee.x', 'backup/a@old'],
      ['zfs', 'destroy', 'backup/a@older'],
    ],
    sourceEarly: [
      ['zfs', 'set', 'zettabee:x:lastsnap=new', 'tank/a'],
      ['zfs', 'hold', 'zettabee.x', 'tank/a@new'],
    ],
    sourceLate: [
      ['zfs', 'release', 'zettabee.x', 'tank/a@old'],
      ['zfs', 'destroy', 'tank/a@old'],
    ],
    kept: { source: [], destination: [], bookmarks: { drop: [], add: false } },
  };
  const snap: SnapshotEntry = { name: 'tank/a@new', dataset: 'tank/a', snapshot: 'new', guid: GUID, createtxg: 10n, creation: 1_700_000_000 };
  return { run, fin, snap, calls, caps: { source: {}, destination: {} } as unknown as BothCapabilities };
}

describe('finish: the guid check first, then the record, then both sides', () => {
  it('the check runs alone; after it matched the run records the snapshot, and only then is anything released or destroyed', async () => {
    const { run, fin, snap, calls, caps } = setup(GUID);
    const o = await finish(run, caps, fin, snap, { bytes: 1 });
    expect(o.lastSnapshot).to.deep.equal({ name: 'new', guid: GUID, creation: 1_700_000_000 });
    expect(o.warnings).to.deep.equal([]);
    expect(calls.slice(0, 2)).to.deep.equal(['destination: verify', 'recorded']);
    expect(calls.slice(2).sort()).to.deep.equal(
      ['destination: zfs set', 'destination: zfs hold', 'destination: zfs release', 'destination: zfs destroy', 'source: zfs set', 'source: zfs hold', 'source: zfs release', 'source: zfs destroy'].sort(),
    );
    // each side keeps its own order: the new base is held before the old one is let go
    const on = (side: string) => calls.filter((c) => c.startsWith(`${side}: zfs`));
    expect(on('source')).to.deep.equal(['source: zfs set', 'source: zfs hold', 'source: zfs release', 'source: zfs destroy']);
    expect(on('destination')).to.deep.equal(['destination: zfs set', 'destination: zfs hold', 'destination: zfs release', 'destination: zfs destroy']);
  });

  it('another guid on the destination: Inconsistent, nothing recorded, nothing else runs on either side', async () => {
    const { run, fin, snap, calls, caps } = setup('42');
    let err: unknown;
    await finish(run, caps, fin, snap, { bytes: 1 }).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/does not hold backup\/a@new with guid 1234567890123456789 after the receive \(guid 42\)/);
    expect((err as { state?: string }).state).to.equal('Inconsistent');
    expect(calls).to.deep.equal(['destination: verify']);
  });

  it('recorded on its receipt already (onReceipt): the check still runs first and alone, the snapshot is not recorded again', async () => {
    const { run, fin, snap, calls, caps } = setup(GUID);
    await finish(run, caps, fin, snap, { bytes: 1, recorded: true });
    expect(calls[0]).to.equal('destination: verify');
    expect(calls).to.not.include('recorded');
    expect(calls).to.have.length(9);
  });

  it('recorded on its receipt, then another guid on the destination: Inconsistent (a verify failure, which takes the record back), nothing else runs', async () => {
    const { run, fin, snap, calls, caps } = setup('42');
    let err: unknown;
    await finish(run, caps, fin, snap, { bytes: 1, recorded: true }).catch((e: unknown) => (err = e));
    expect((err as { inconsistency?: { kind: string } }).inconsistency?.kind).to.equal('verify');
    expect(calls).to.deep.equal(['destination: verify']);
  });

  it('the destination finished in the receive\'s session: its output is read, nothing runs there again, the source follows', async () => {
    const { run, fin, snap, calls, caps } = setup(GUID);
    const { batchArgv } = await import('../../src/exec/host.js');
    const whole = [['sh', '-c', 'verify'], ...fin.destination];
    // what the batch printed in that session: run it for real with stand-in commands
    const { execa } = await import('execa');
    const stand = whole.map((a, i) => (i === 0 ? ['echo', GUID] : ['true', ...a]));
    const r = await execa(batchArgv(stand, 1)[0]!, batchArgv(stand, 1).slice(1), { reject: false, stripFinalNewline: false });
    await finish(run, caps, fin, snap, { bytes: 1, finished: { argvs: whole, output: { stdout: String(r.stdout), stderr: '', exitCode: r.exitCode ?? 0 } } });
    expect(calls).to.deep.equal(['recorded', 'source: zfs set', 'source: zfs hold', 'source: zfs release', 'source: zfs destroy']);
  });
});

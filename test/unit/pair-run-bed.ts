// A pair for runPairAction with real state, lock and log files in a
// directory of its own (mocha hooks make and remove it around each test):
// the run's body stands in for the engine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePairs } from '../../src/config/pairs.js';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { Hosts } from '../../src/exec/hosts.js';
import type { EngineDeps, Outcome } from '../../src/app/pair-run.js';
import { PairLogs } from '../../src/state/log.js';
import type { SnapshotRef } from '../../src/state/status.js';

export const pair = parsePairs('tank/a backup/a', 'test.cfg', {}).pairs[0]!;
export const old: SnapshotRef = { name: 'old', guid: '111', creation: 1_700_000_000 };
export const made: SnapshotRef = { name: 'new', guid: '222', creation: 1_700_000_600 };

/** a body's outcome that leaves `snap` as the last snapshot */
export const ok = (snap: SnapshotRef): Outcome => ({ lastSnapshot: snap, bytes: 1, snapshot: snap.name, warnings: [] });

export interface PairRunBed {
  dir: string;
  settings: Settings;
  logs: PairLogs;
  deps(extra?: Partial<EngineDeps>): EngineDeps;
}

export function usePairRunBed(prefix: string): PairRunBed {
  const bed: PairRunBed = {
    dir: '',
    settings: builtinSettings(),
    logs: new PairLogs(),
    deps: (extra = {}) => ({ settings: bed.settings, allPairs: [pair], hosts: new Hosts(bed.settings), logs: bed.logs, ...extra }),
  };
  beforeEach(() => {
    bed.dir = mkdtempSync(join(tmpdir(), prefix));
    const { dir } = bed;
    bed.settings = { ...builtinSettings(), paths: { state: join(dir, 'state'), lock: join(dir, 'lock'), log: join(dir, 'log') } };
    bed.logs = new PairLogs();
    bed.logs.open(bed.settings, [pair.fingerprint]);
  });
  afterEach(async () => {
    await bed.logs.close();
    rmSync(bed.dir, { recursive: true, force: true });
  });
  return bed;
}

// The capability probe of a remote host: everything in one batch (one ssh
// session). The batch runs for real under /bin/sh (each command a stand-in
// that replays its recorded output), and the answers must be those of the
// probe that asks one command at a time.
import { expect } from 'chai';
import { execa } from 'execa';
import { ActionError } from '../../src/errors.js';
import { batchArgv, CommandError, readBatch, type BatchOptions, type Host, type RunOptions, type RunResult } from '../../src/exec/host.js';
import { noZfsCapabilities, probeCapabilities } from '../../src/zfs/probe.js';
import { OPENZFS_SETS, ReplayHost, record, recordedNames, type FixtureSet } from '../fixtures/zfs/replay.js';

const PROBE = { probeName: 'zettabee-probe-0000' };
/** a literal, not a recording: the answer to the probes on a missing pool, which the batch runs but nobody reads */
const MISSING: RunResult = { stdout: '', stderr: "cannot open 'x': dataset does not exist\n", exitCode: 1 };

/** a remote host whose batches go through a real sh; single commands are counted */
class RemoteReplay implements Host {
  readonly local = false;
  readonly name: string;
  batches = 0;
  readonly execs: string[][] = [];

  constructor(
    private readonly replay: ReplayHost,
    private readonly down?: CommandError,
  ) {
    this.name = replay.name;
  }

  wrap(argv: readonly string[]): string[] {
    return [...argv];
  }

  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.execs.push([...argv]);
    return this.replay.exec(argv, opts);
  }

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.replay.run(argv, opts);
  }

  async batch(argvs: readonly (readonly string[])[], opts: BatchOptions = {}): Promise<RunResult[]> {
    this.batches++;
    if (this.down) throw this.down;
    const stand: string[][] = [];
    for (const a of argvs) {
      const r = await this.replay.exec(a);
      stand.push(['sh', '-c', 'printf %s "$1"; printf %s "$2" >&2; exit "$3"', 'replay', r.stdout, r.stderr, String(r.exitCode)]);
    }
    const guard = opts.guard ?? 0;
    const [file, ...args] = batchArgv(stand, guard);
    const r = await execa(file!, args, { reject: false, stripFinalNewline: false });
    return readBatch(this.name, stand, guard, { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 });
  }

  async ready(): Promise<void> {}

  open(): void {}
}

const replay = (set: FixtureSet, ids: readonly string[]) => new ReplayHost(`replay:${set}`, ids.map((id) => record(set, id)), () => MISSING);

describe('zfs probe over ssh: one batch, one session', () => {
  const cases: Array<[string, FixtureSet, string, string[]]> = [
    ['zfs-fuse 0.7 (four real probes count)', 'zfs-fuse-0.7', 'zbrecA', ['usage', 'zpool-get-all', 'hold-probe', 'holds-probe', 'recv-u-probe', 'list-p-probe']],
    ...OPENZFS_SETS.flatMap((set): Array<[string, FixtureSet, string, string[]]> => [
      [`${set} (two real probes count)`, set, recordedNames(set).poolA, ['usage', 'zpool-get-all', 'hold-probe', 'holds-probe', 'recv-u-probe', 'list-p-probe']],
      [`${set}, pool missing (no real probe counts)`, set, `${recordedNames(set).prefix}NOPE`, ['usage', 'zpool-get-missing-pool']],
    ]),
  ];
  for (const [what, set, pool, ids] of cases) {
    it(`${what}: the same answers as one command at a time`, async () => {
      const oneByOne = await probeCapabilities(replay(set, ids), pool, PROBE);
      const remote = new RemoteReplay(replay(set, ids));
      const batched = await probeCapabilities(remote, pool, PROBE);
      expect(batched).to.deep.equal(oneByOne);
      expect(remote.batches).to.equal(1);
      expect(remote.execs).to.deep.equal([]);
    });
  }

  it('zfs missing on the remote host: zfsPresent false', async () => {
    const nf = record('zfs-fuse-0.7', 'not-found-bash');
    const remote = new RemoteReplay(new ReplayHost('remote', [], () => ({ stdout: nf.stdout, stderr: nf.stderr, exitCode: nf.exitCode })));
    expect(await probeCapabilities(remote, 'tank', PROBE)).to.deep.equal(noZfsCapabilities(['remote: zfs is not installed on this host (or not on its PATH)']));
  });

  it('ssh failing for the whole batch: the same ActionError as before', async () => {
    const down = new CommandError('backup', ['sh', '-c', '...'], 255, 'ssh: connect to host backup port 22: Connection refused\n', 'batch of 6 commands did not finish (exit code 255)');
    const remote = new RemoteReplay(new ReplayHost('backup', []), down);
    try {
      await probeCapabilities(remote, 'tank', PROBE);
      expect.fail('no error');
    } catch (e) {
      expect(e).to.be.instanceOf(ActionError);
      expect((e as ActionError).message).to.match(/^backup: cannot tell what zfs can do/);
      expect((e as ActionError).details[0]).to.contain('Connection refused');
    }
  });
});

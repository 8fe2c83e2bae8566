// The pipeline runner against real processes: no mocks, the failure modes
// only show with real pipes, signals and exit codes.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { LocalHost } from '../../src/exec/host.js';
import {
  describeStages,
  PipelineError,
  runPipeline,
  type PipelineResult,
  type RunPipelineOptions,
  type Stage,
} from '../../src/transport/pipeline.js';
import { onPath, PvMeter, pvArgv } from '../../src/transport/meter.js';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ppidOf, processes, sleep } from '../e2e/procs.js';

const host = new LocalHost();
const stage = (name: string, ...argv: string[]): Stage => ({ name, host, argv });
const sh = (name: string, script: string): Stage => stage(name, 'sh', '-c', script);

async function expectFailure(stages: Stage[], opts: RunPipelineOptions = {}): Promise<PipelineError> {
  try {
    await runPipeline({ stages }, opts);
  } catch (e) {
    expect(e).to.be.instanceOf(PipelineError);
    return e as PipelineError;
  }
  throw new Error('the pipeline should have failed');
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function expectAllGone(result: PipelineResult): void {
  for (const s of result.stages) expect(alive(s.pid), `${s.name} (pid ${s.pid}) still alive`).to.equal(false);
}

describe('stream pipeline', () => {
  it('describes its stages for logs', () => {
    expect(describeStages({ stages: [stage('zfs send on A', 'x'), stage('zfs receive on B', 'y')] })).to.equal(
      'zfs send on A | zfs receive on B',
    );
  });

  it('counts and delivers every byte (2 and 3 stages)', async () => {
    const zeros = Buffer.alloc(1_000_000);
    const h = createHash('sha256');
    for (let i = 0; i < 50; i++) h.update(zeros);
    const want = h.digest('hex');

    const two = await runPipeline(
      { stages: [stage('head', 'head', '-c', '50000000', '/dev/zero'), stage('sha', 'sha256sum')] },
      { captureStdout: true },
    );
    expect(two.bytes).to.equal(50_000_000);
    expect(two.stdout).to.equal(`${want}  -\n`);
    expect(two.stages.map((s) => s.exitCode)).to.deep.equal([0, 0]);

    const three = await runPipeline(
      { stages: [stage('head', 'head', '-c', '50000000', '/dev/zero'), stage('cat', 'cat'), stage('sha', 'sha256sum')] },
      { captureStdout: true },
    );
    expect(three.bytes).to.equal(50_000_000);
    expect(three.stdout).to.equal(`${want}  -\n`);
    expect(three.stages.every((s) => !s.killedByUs && s.stderr === '')).to.equal(true);
  });

  it('blames a consumer that fails early, not the producer it took down', async () => {
    const t = performance.now();
    const e = await expectFailure([
      stage('producer', 'head', '-c', '1000000000', '/dev/zero'),
      sh('consumer', 'head -c 10 >/dev/null; echo boom >&2; exit 3'),
    ]);
    expect(performance.now() - t).to.be.below(3000);
    expect(e.reason).to.equal('failed');
    expect(e.culprit?.name).to.equal('consumer');
    expect(e.culprit?.exitCode).to.equal(3);
    expect(e.culprit?.stderr).to.equal('boom\n');
    expect(e.message).to.equal('consumer failed (exit code 3): boom');
    const producer = e.result.stages[0]!;
    // children talk through socketpairs: the producer sees SIGPIPE, EPIPE or ECONNRESET, or our SIGTERM
    const tookDown =
      producer.signal === 'SIGPIPE' || producer.killedByUs || /broken pipe|connection reset/i.test(producer.stderr);
    expect(tookDown, JSON.stringify(producer)).to.equal(true);
    expect(e.result.bytes).to.be.below(1_000_000_000);
    expectAllGone(e.result);
  });

  it('blames a failing producer', async () => {
    const e = await expectFailure([sh('producer', 'echo partial; echo nope >&2; exit 4'), sh('consumer', 'cat >/dev/null')]);
    expect(e.culprit?.name).to.equal('producer');
    expect(e.culprit?.exitCode).to.equal(4);
    expect(e.message).to.equal('producer failed (exit code 4): nope');
    expect(e.result.bytes).to.equal('partial\n'.length);
    // the consumer saw EOF and ended by itself, or (under load) the failure stopped it first
    const consumer = e.result.stages[1]!;
    expect(consumer.exitCode === 0 || consumer.killedByUs, JSON.stringify(consumer)).to.equal(true);
  });

  it('blames a stage that cannot be started', async () => {
    const asConsumer = await expectFailure([stage('producer', 'head', '-c', '100000000', '/dev/zero'), stage('ghost', '/nonexistent/cmd')]);
    expect(asConsumer.culprit?.name).to.equal('ghost');
    expect(asConsumer.culprit?.spawnError).to.match(/ENOENT/);
    expect(asConsumer.message).to.match(/^ghost failed \(could not start: .*ENOENT/);
    expectAllGone(asConsumer.result);

    const asProducer = await expectFailure([stage('ghost', '/nonexistent/cmd'), sh('consumer', 'cat >/dev/null')]);
    expect(asProducer.culprit?.name).to.equal('ghost');
  });

  it('aborts mid-stream and leaves no process behind', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t = performance.now();
    const e = await expectFailure([stage('yes', 'yes'), stage('sleeper', 'sleep', '30')], { signal: ac.signal });
    expect(performance.now() - t).to.be.below(3000);
    expect(e.reason).to.equal('aborted');
    expect(e.message).to.equal('aborted');
    expect(e.culprit).to.equal(null);
    expect(e.result.stages[1]!.killedByUs).to.equal(true);
    expectAllGone(e.result);
  });

  it('does not start when already aborted', async () => {
    const e = await expectFailure([stage('yes', 'yes'), stage('cat', 'cat')], { signal: AbortSignal.abort() });
    expect(e.reason).to.equal('aborted');
    expect(e.result.stages.every((s) => s.pid === undefined)).to.equal(true);
  });

  it('kills a stalled pipeline', async () => {
    const t = performance.now();
    const e = await expectFailure([sh('trickle', 'printf x; exec sleep 30'), sh('consumer', 'cat >/dev/null')], {
      stallMs: 1500,
    });
    const ms = performance.now() - t;
    expect(ms).to.be.within(1500, 3000);
    expect(e.reason).to.equal('stalled');
    expect(e.culprit).to.equal(null);
    expect(e.message).to.equal('no data moved for 1.5 s; killed the pipeline');
    expect(e.result.bytes).to.equal(1);
    expectAllGone(e.result);
  });

  it('SIGKILLs a stage that ignores SIGTERM after killGraceMs', async () => {
    const t = performance.now();
    const e = await expectFailure([sh('stubborn', 'trap "" TERM; exec sleep 30'), sh('consumer', 'sleep 0.2; exit 5')], {
      killGraceMs: 500,
    });
    const ms = performance.now() - t;
    expect(ms).to.be.within(700, 2500);
    expect(e.culprit?.name).to.equal('consumer');
    expect(e.result.stages[0]).to.include({ signal: 'SIGKILL', killedByUs: true });
    expectAllGone(e.result);
  });

  it('reports progress, throttled, with a final exact count', async () => {
    const calls: number[] = [];
    const r = await runPipeline(
      { stages: [sh('drip', 'for i in 1 2 3 4 5 6; do head -c 100000 /dev/zero; sleep 0.1; done'), sh('sink', 'cat >/dev/null')] },
      { progressIntervalMs: 100, onProgress: (p) => calls.push(p.bytes) },
    );
    expect(r.bytes).to.equal(600_000);
    expect(calls.length).to.be.within(3, 12);
    expect(calls[calls.length - 1]).to.equal(600_000);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!).to.be.at.least(calls[i - 1]!);
  });

  it('peek: the first bytes over the counted link, once, in one piece, even when they come in several writes', async () => {
    const heads: string[] = [];
    const r = await runPipeline(
      { stages: [sh('drip', 'printf abc; sleep 0.05; printf defgh; sleep 0.05; head -c 100000 /dev/zero'), sh('sink', 'cat >/dev/null')] },
      { peek: { bytes: 6, head: (b) => heads.push(b.toString('latin1')) } },
    );
    expect(r.bytes).to.equal(100_008);
    expect(heads).to.deep.equal(['abcdef']);
    // a stream shorter than asked for: no call
    const none: Buffer[] = [];
    await runPipeline({ stages: [sh('short', 'printf ab'), sh('sink', 'cat >/dev/null')] }, { peek: { bytes: 6, head: (b) => none.push(b) } });
    expect(none).to.deep.equal([]);
  });

  it('onStageEnd tells each stage as it ends and whether it succeeded; onThrough once every stage but the sink has ended', async () => {
    const events: string[] = [];
    await expectFailure([sh('producer', 'head -c 1000 /dev/zero'), sh('sink', 'cat >/dev/null; sleep 0.2; exit 4')], {
      onStageEnd: (i, ok) => events.push(`end ${i} ${ok}`),
      onThrough: () => events.push('through'),
    });
    expect(events).to.deep.equal(['end 0 true', 'through', 'end 1 false']);
    // a failing producer: still through (the callers start what waits for the stream), told not ok
    const failing: string[] = [];
    await expectFailure([sh('producer', 'exit 3'), sh('sink', 'cat >/dev/null')], { onStageEnd: (i, ok) => failing.push(`end ${i} ${ok}`), onThrough: () => failing.push('through') });
    expect(failing.slice(0, 2)).to.deep.equal(['end 0 false', 'through']);
  });

  // 512 MB: a leak of what passes shows as hundreds of MB; speed is the benchmark's (figures 1 and 8)
  it('keeps memory flat over 512 MB and reports throughput', async () => {
    const n = 512_000_000;
    const before = process.memoryUsage().rss;
    let peak = before;
    const r = await runPipeline(
      { stages: [stage('head', 'head', '-c', String(n), '/dev/zero'), stage('cat', 'cat'), sh('sink', 'cat >/dev/null')] },
      { progressIntervalMs: 50, onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)) },
    );
    expect(r.bytes).to.equal(n);
    const t = performance.now();
    await execa('sh', ['-c', `head -c ${n} /dev/zero | cat | cat >/dev/null`]);
    const shell = (performance.now() - t) / 1000;
    const grow = (peak - before) / 1e6;
    console.log(
      `      pipeline ${(n / 1e6 / r.seconds).toFixed(0)} MB/s (${r.seconds.toFixed(2)} s), ` +
        `shell pipe ${(n / 1e6 / shell).toFixed(0)} MB/s (${shell.toFixed(2)} s), rss +${grow.toFixed(1)} MB`,
    );
    expect(grow).to.be.below(100);
  });

  describe("'pass' links: the processes hand the stream on among themselves, pv counts it", () => {
    const pass = (st: Stage): Stage => ({ ...st, input: 'pass' });
    const pv = (interval = 1): Stage => pass({ name: 'pv', host, argv: pvArgv(interval), monitor: new PvMeter() });

    before(() => {
      // the test bed installs pv (test/harness/bed.ts); without it these would prove nothing
      expect(onPath('pv'), 'pv is not on PATH').to.equal(true);
    });

    it('delivers every byte and counts them with pv; no byte passes through this process', async () => {
      const n = 300_000_000;
      const rss = process.memoryUsage().rss;
      const calls: number[] = [];
      const r = await runPipeline(
        { stages: [stage('head', 'head', '-c', String(n), '/dev/zero'), pv(0.1), pass(sh('count', 'wc -c'))] },
        { captureStdout: true, progressIntervalMs: 50, onProgress: (p) => calls.push(p.bytes) },
      );
      expect(r.stdout).to.equal(`${n}\n`);
      expect(r.bytes).to.equal(n);
      expect(calls.at(-1)).to.equal(n);
      expect(r.stages.map((s) => s.exitCode)).to.deep.equal([0, 0, 0]);
      // pv's counts are not kept as stderr text
      expect(r.stages[1]!.stderr).to.equal('');
      expect((process.memoryUsage().rss - rss) / 1e6).to.be.below(30);
    });

    it('a reader that fails early takes the writers down (EPIPE reaches them: this process holds no read end) and is blamed', async () => {
      const t = performance.now();
      const e = await expectFailure([
        stage('producer', 'head', '-c', '5000000000', '/dev/zero'),
        pv(),
        pass(sh('consumer', 'head -c 10 >/dev/null; echo boom >&2; exit 3')),
      ]);
      expect(performance.now() - t).to.be.below(3000);
      expect(e.culprit?.name).to.equal('consumer');
      expect(e.message).to.equal('consumer failed (exit code 3): boom');
      // pv ends quietly on EPIPE; the producer then gets SIGPIPE/EPIPE itself (or our SIGTERM)
      const producer = e.result.stages[0]!;
      expect(producer.signal === 'SIGPIPE' || producer.killedByUs || /broken pipe|connection reset/i.test(producer.stderr), JSON.stringify(producer)).to.equal(true);
      expect(e.result.bytes).to.be.below(5_000_000_000);
      expectAllGone(e.result);
    });

    it('a failing producer is blamed, and pv has counted what it sent', async () => {
      const e = await expectFailure([sh('producer', 'echo partial; echo nope >&2; exit 4'), pv(), pass(sh('consumer', 'cat >/dev/null'))]);
      expect(e.culprit?.name).to.equal('producer');
      expect(e.result.bytes).to.equal('partial\n'.length);
    });

    it('the stall watchdog sees a frozen stream through pv', async () => {
      const t = performance.now();
      const e = await expectFailure([sh('trickle', 'printf x; exec sleep 30'), pv(0.2), pass(sh('consumer', 'cat >/dev/null'))], { stallMs: 1500 });
      expect(performance.now() - t).to.be.within(1500, 3500);
      expect(e.reason).to.equal('stalled');
      expect(e.result.bytes).to.equal(1);
      expectAllGone(e.result);
    });

    // a killed process stays a zombie until its new parent reaps it: only running ones count
    const running = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    type Chain = Array<{ pid: number; argv: string[] }>;
    /**
     * runs test/fixtures/die-with-us in `mode` until its stream moves, then
     * `act` with the stand-in and its chain; whatever the outcome, the
     * stand-in and what is left of its chain are killed afterwards
     */
    const withStandIn = async (mode: string, act: (zb: ChildProcessByStdio<Writable, Readable, null>, chain: Chain) => Promise<void>): Promise<void> => {
      const fixture = fileURLToPath(new URL('../fixtures/die-with-us.js', import.meta.url));
      const zb = spawn(process.execPath, [fixture, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
      let chain: Chain = [];
      try {
        await new Promise<void>((resolve, reject) => {
          zb.stdout.on('data', (d: Buffer) => (/[1-9]/.test(String(d)) ? resolve() : undefined));
          zb.once('exit', () => reject(new Error('the stand-in ended early')));
        });
        chain = processes().filter((x) => ppidOf(x.pid) === zb.pid);
        expect(chain.map((x) => (x.argv[0] === 'cat' ? 'consumer' : x.argv[0] === 'pv' ? 'pv' : x.argv[0] === 'yes' ? 'producer' : x.argv.join(' '))).sort()).to.deep.equal(['consumer', 'producer', 'pv']);
        await act(zb, chain);
      } finally {
        zb.kill('SIGKILL');
        for (const x of chain) if (running(x.pid)) process.kill(x.pid, 'SIGKILL');
      }
    };
    const survivors = async (chain: Chain, waitMs: number, untilGone: boolean): Promise<Chain> => {
      const deadline = performance.now() + waitMs;
      while (performance.now() < deadline && (!untilGone || chain.some((x) => running(x.pid)))) await sleep(50);
      return chain.filter((x) => running(x.pid));
    };

    for (const [mode, dies] of [['watched', true], ['unwatched', false]] as const) {
      it(`zettabee killed with SIGKILL mid-stream: ${dies ? 'pv under dieWithUs ends, and with it the chain' : 'without dieWithUs the chain would go on (why it exists)'}`, async function () {
        await withStandIn(mode, async (zb, chain) => {
          zb.kill('SIGKILL');
          const left = await survivors(chain, dies ? 5000 : 1500, dies);
          if (dies) expect(left, JSON.stringify(left)).to.deep.equal([]);
          else expect(left.length).to.equal(3);
        });
      });
    }

    it('zettabee exits mid-stream (process.exit): the processes it started get SIGTERM and the chain ends', async function () {
      await withStandIn('exits', async (zb, chain) => {
        const exited = new Promise<number | null>((r) => zb.once('exit', (code) => r(code)));
        zb.stdin.write('exit\n');
        expect(await exited).to.equal(3);
        const left = await survivors(chain, 5000, true);
        expect(left, JSON.stringify(left)).to.deep.equal([]);
      });
    });

    it('a pass link cannot start a pipeline', async () => {
      let err: unknown;
      await runPipeline({ stages: [pv(), stage('cat', 'cat')] }).catch((e: unknown) => (err = e));
      expect(String(err)).to.match(/the first stage pv has no stage to read from/);
    });
  });
});

// The batch script runs for real under /bin/sh: the same text ssh would run remotely.
import { expect } from 'chai';
import { execa } from 'execa';
import { batchScript, LocalHost, parseBatchOutput, SKIPPED } from '../../src/exec/host.js';

async function runScript(argvs: string[][], guard = 0) {
  const r = await execa('sh', ['-c', batchScript(argvs, guard)], { reject: false, stripFinalNewline: false });
  return parseBatchOutput(String(r.stdout), argvs.length, guard);
}

describe('exec: batches of commands in one shell (real /bin/sh)', () => {
  it('gives each command its own output and exit code, quoting every word', async () => {
    const r = await runScript([['echo', "it's; $HOME `x`"], ['sh', '-c', 'echo oops >&2; exit 3'], ['printf', 'no newline']]);
    expect(r).to.not.equal(null);
    expect(r!.map((x) => x.exitCode)).to.deep.equal([0, 3, 0]);
    expect(r![0]!.stdout).to.equal("it's; $HOME `x`\n");
    expect(r![1]!.stderr).to.equal('oops\n');
    expect(r![2]!.stdout).to.equal('no newline');
  });

  it('skips the rest when a guard command fails', async () => {
    const r = await runScript([['true'], ['false'], ['echo', 'must not run']], 2);
    expect(r!.map((x) => x.exitCode)).to.deep.equal([0, 1, SKIPPED]);
    const ok = await runScript([['true'], ['echo', 'runs']], 1);
    expect(ok!.map((x) => x.exitCode)).to.deep.equal([0, 0]);
  });

  it('a batch cut short (no marker) is not mistaken for success', () => {
    expect(parseBatchOutput('partial output', 2)).to.equal(null);
  });

  it('LocalHost runs the same batch semantics without a shell', async () => {
    const r = await new LocalHost().batch([['false'], ['echo', 'x']], { guard: 1 });
    expect(r.map((x) => x.exitCode)).to.deep.equal([1, SKIPPED]);
  });
});

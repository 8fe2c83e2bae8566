// Spare processes (src/exec/spawn.ts) against real shells and commands: what
// a caller gets from a spare must be what it gets from a spawn of its own.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { LocalHost } from '../../src/exec/host.js';
import { lineFor, Spares, spawnLocal, useSpares } from '../../src/exec/spawn.js';
import { runPipeline } from '../../src/transport/pipeline.js';
import { sleep } from '../e2e/procs.js';

interface Ended {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

function ended(c: ChildProcess): Promise<Ended> {
  const out: Buffer[] = [];
  let err = '';
  c.stdout!.on('data', (b: Buffer) => out.push(b));
  c.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => c.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err })));
}

/** the pids of the spares waiting now */
function waitingPids(s: Spares): number[] {
  return ((s as unknown as { idle: ChildProcess[] }).idle ?? []).map((c) => c.pid!);
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readStatus(pid));
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

describe('spare processes (exec/spawn)', function () {
  let spares: Spares;

  beforeEach(async function () {
    spares = new Spares(3);
    spares.fill();
    useSpares(spares);
    // each is a shell blocked on its stdin
    await sleep(50);
  });

  afterEach(async function () {
    useSpares(undefined);
    await spares.close();
  });

  it('runs a command as the spare itself: its pid, output and exit code', async function () {
    const pids = waitingPids(spares);
    expect(pids).to.have.length(3);
    const c = spawnLocal('sh', ['-c', 'echo "out $$"; echo err >&2; exit 7'], ['ignore', 'pipe', 'pipe']);
    expect(c.pid).to.equal(pids[0]);
    const r = await ended(c);
    expect(r.code).to.equal(7);
    expect(r.stdout.toString()).to.equal(`out ${pids[0]}\n`);
    expect(r.stderr).to.equal('err\n');
    expect(spares.waiting).to.equal(2);
  });

  it('runs `sh -c SCRIPT NAME ARGS` in the spare itself: ARGS as "$@", the same pid, no shell of its own', async function () {
    const pids = waitingPids(spares);
    const c = spawnLocal('sh', ['-c', `printf '%s|' "$#" "$@" "$$"; exec sh -c 'echo " $PPID"'`, 'zettabee-send', 'a', "b 'c'", ''], ['ignore', 'pipe', 'pipe']);
    expect(c.pid).to.equal(pids[0]);
    const r = await ended(c);
    expect(r.code).to.equal(0);
    // the inner sh (exec'd: the spare's pid) has the daemon as its parent: no shell came between
    expect(r.stdout.toString()).to.equal(`3|a|b 'c'||${pids[0]}| ${process.pid}\n`);
    expect(lineFor(['sh', '-c', 'exit 3'])).to.equal('set --; exit 3');
    expect(lineFor(['zfs', 'send', 'p/a@b'])).to.equal('exec zfs send p/a@b');
    const d = spawnLocal('sh', ['-c', 'exit 5', 'x'], ['ignore', 'pipe', 'pipe']);
    expect((await ended(d)).code).to.equal(5);
  });

  it('passes every word literally: quotes, blanks, $, backslashes, globs', async function () {
    const words = ["it's", 'a b', '$HOME', '`id`', 'back\\slash', '*', '', '"quoted"', '-n'];
    const c = spawnLocal('printf', ['[%s]', ...words], ['ignore', 'pipe', 'pipe']);
    expect(waitingPids(spares)).to.not.include(c.pid);
    const r = await ended(c);
    expect(r.code).to.equal(0);
    expect(r.stdout.toString()).to.equal(words.map((w) => `[${w}]`).join(''));
  });

  it('hands the command every byte written to its stdin after the line (1 MiB through cat)', async function () {
    const data = randomBytes(1024 * 1024);
    const c = spawnLocal('cat', [], ['pipe', 'pipe', 'pipe']);
    const r = ended(c);
    c.stdin!.end(data);
    const got = await r;
    expect(got.code).to.equal(0);
    expect(got.stdout.equals(data)).to.equal(true);
  });

  it("gives a command without input an empty stdin ('ignore')", async function () {
    const c = spawnLocal('cat', [], ['ignore', 'pipe', 'pipe']);
    const r = await ended(c);
    expect(r.code).to.equal(0);
    expect(r.stdout.length).to.equal(0);
  });

  it('forks as usual a program that is not on PATH: ENOENT, as without spares', async function () {
    const c = spawnLocal('zettabee-no-such-program', ['x'], ['ignore', 'pipe', 'pipe']);
    const e = await new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve));
    expect(e.code).to.equal('ENOENT');
    expect(c.pid).to.equal(undefined);
    expect(spares.waiting).to.equal(3);
  });

  it('runs a command with newlines in its words (a multi-line script for ssh), each word intact', async function () {
    const pids = waitingPids(spares);
    const script = 'a=1\nb="two\n\nlines"\nprintf "%s|%s|%s" "$a" "$b" "$1"\n';
    const c = spawnLocal('sh', ['-c', script, 'name', 'x\ny\n'], ['ignore', 'pipe', 'pipe']);
    expect(c.pid).to.equal(pids[0]);
    const r = await ended(c);
    expect(r.code).to.equal(0);
    expect(r.stdout.toString()).to.equal('1|two\n\nlines|x\ny\n');
    expect(lineFor(['printf', '%s', '\nx\n'])).to.equal(`exec printf %s ''"$zettabee_nl"x"$zettabee_nl"''`);
  });

  it('forks as usual a command with a fourth fd', async function () {
    const d = spawnLocal('true', [], ['ignore', 'pipe', 'pipe', 'pipe']);
    expect(spares.waiting).to.equal(3);
    expect((await ended(d)).code).to.equal(0);
  });

  it('skips a spare that died while it waited, and forks when none is left', async function () {
    const [first, second, third] = waitingPids(spares);
    process.kill(first!, 'SIGKILL');
    await sleep(100);
    const c = spawnLocal('true', [], ['ignore', 'pipe', 'pipe']);
    expect(c.pid).to.equal(second);
    await ended(c);
    const d = spawnLocal('true', [], ['ignore', 'pipe', 'pipe']);
    expect(d.pid).to.equal(third);
    await ended(d);
    const e = spawnLocal('true', [], ['ignore', 'pipe', 'pipe']);
    expect([first, second, third]).to.not.include(e.pid);
    expect((await ended(e)).code).to.equal(0);
    spares.fill();
    expect(spares.waiting).to.equal(3);
  });

  it('kills the command, not a shell around it (the pid is the command after exec)', async function () {
    const c = spawnLocal('sleep', ['30'], ['ignore', 'pipe', 'pipe']);
    await sleep(100);
    expect(readStatus(c.pid!)).to.match(/^Name:\s+sleep$/m);
    c.kill('SIGTERM');
    const r = await ended(c);
    expect(r.signal).to.equal('SIGTERM');
  });

  it('runs host commands and pipeline stages from spares, with the same results', async function () {
    const host = new LocalHost();
    const pids = waitingPids(spares);
    const r = await host.exec(['sh', '-c', 'cat; echo "rc $$" >&2; exit 3'], { input: 'fed\n' });
    expect(r).to.deep.equal({ stdout: 'fed\n', stderr: `rc ${pids[0]}\n`, exitCode: 3 });
    const p = await runPipeline({ stages: [{ name: 'gen', host, argv: ['head', '-c', '300000', '/dev/zero'] }, { name: 'count', host, argv: ['wc', '-c'] }] }, { captureStdout: true });
    expect(p.stdout?.trim()).to.equal('300000');
    expect(p.bytes).to.equal(300000);
    expect(spares.waiting).to.equal(0);
  });

  it('refill(): one fork per turn of the event loop, up to the size', async function () {
    for (let i = 0; i < 3; i++) await ended(spawnLocal('true', [], ['ignore', 'pipe', 'pipe']));
    expect(spares.waiting).to.equal(0);
    spares.refill();
    spares.refill();
    expect(spares.waiting).to.equal(0);
    await new Promise((r) => setImmediate(r));
    expect(spares.waiting).to.equal(1);
    await sleep(50);
    expect(spares.waiting).to.equal(3);
    const c = spawnLocal('echo', ['again'], ['ignore', 'pipe', 'pipe']);
    expect((await ended(c)).stdout.toString()).to.equal('again\n');
  });

  it('close(): the idle spares exit, and no spare is forked after it', async function () {
    const pids = waitingPids(spares);
    expect(pids.every(alive)).to.equal(true);
    await spares.close();
    expect(pids.some(alive)).to.equal(false);
    spares.fill();
    expect(spares.waiting).to.equal(0);
  });
});

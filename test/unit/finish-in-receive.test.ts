// The destination's finish batch in the receive's own session: the remote
// command string (a pipeline, then the batch only if the last process
// succeeded) and the guid guard run for real under /bin/sh, with a stand-in
// `zfs` on the PATH; the topology only attaches it where the receive's
// stdout can be read back.
import { expect } from 'chai';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePairs, type Pair } from '../../src/config/pairs.js';
import { batchArgv, LocalHost, readBatch, SKIPPED, SshHost, type RunResult } from '../../src/exec/host.js';
import { remotePipelineArgv, type RemotePart } from '../../src/transport/remote.js';
import { finishInReceive, streamPipeline } from '../../src/transport/topology.js';
import { verifyGuid } from '../../src/zfs/argv.js';

const GUID = '1234567890123456789';

describe('finish in the receive session', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-finish-'));
    // a zfs that knows one snapshot, tank/a@s, by its guid; others do not exist
    writeFileSync(
      join(dir, 'zfs'),
      `#!/bin/sh\nlast=; for a; do last=$a; done\nif [ "$last" = tank/a@s ]; then echo ${GUID}; else echo "cannot open '$last': dataset does not exist" >&2; exit 1; fi\n`,
    );
    chmodSync(join(dir, 'zfs'), 0o755);
    env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sh = async (argv: readonly string[], input = ''): Promise<RunResult> => {
    const r = await execa(argv[0]!, argv.slice(1), { reject: false, input, env, stripFinalNewline: false });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  };

  describe('verifyGuid, the guard (table, real sh)', () => {
    const cases: Array<[string, string, string, number, string]> = [
      ['the snapshot sent', 'tank/a@s', GUID, 0, `${GUID}\n`],
      ['another guid', 'tank/a@s', '42', 1, `${GUID}\n`],
      ['no such snapshot: zfs status and message', 'tank/a@gone', GUID, 1, ''],
    ];
    for (const [what, snap, guid, code, stdout] of cases) {
      it(what, async () => {
        const r = await sh(verifyGuid(snap, guid));
        expect(r.exitCode).to.equal(code);
        expect(r.stdout).to.equal(stdout);
        if (stdout === '') expect(r.stderr).to.match(/dataset does not exist/);
      });
    }

    it('refuses what is not a guid or would be an option', () => {
      expect(() => verifyGuid('tank/a@s', '12; rm -rf /')).to.throw(/not a guid/);
      expect(() => verifyGuid('-r', GUID)).to.throw(/starts with '-'/);
    });

    it('as a batch guard: nothing after it runs unless the guid matches', async () => {
      for (const [guid, ran] of [[GUID, true], ['42', false]] as const) {
        const mark = join(dir, `ran-${guid}`);
        const argvs = [verifyGuid('tank/a@s', guid), ['touch', mark]];
        const r = readBatch('h', argvs, 1, await sh(batchArgv(argvs, 1)));
        expect(r.map((x) => x.exitCode)).to.deep.equal(ran ? [0, 0] : [1, SKIPPED]);
        expect(r[0]!.stdout.trim()).to.equal(GUID);
        expect(existsSync(mark)).to.equal(ran);
      }
    });

    it('LocalHost.batch keeps the same guard (a local destination)', async () => {
      const mark = join(dir, 'ran-local');
      const old = process.env.PATH;
      process.env.PATH = env.PATH;
      try {
        const r = await new LocalHost().batch([verifyGuid('tank/a@s', '42'), ['touch', mark]], { guard: 1 });
        expect(r.map((x) => x.exitCode)).to.deep.equal([1, SKIPPED]);
      } finally {
        process.env.PATH = old;
      }
      expect(existsSync(mark)).to.equal(false);
    });
  });

  describe('remotePipelineArgv with then (real sh)', () => {
    const batch = (mark: string) => [verifyGuid('tank/a@s', GUID), ['sh', '-c', 'echo "set $1"; touch "$2"', 'x', "it's; $HOME", mark]];

    // with an mbuffer before it (a pipeline of wrapped processes), and zfs receive alone (the session's sh runs it)
    const shapes: Array<[string, RemotePart[]]> = [
      ['two processes', [{ name: 'mbuffer', argv: ['cat'] }]],
      ['zfs receive alone', []],
    ];
    for (const [shape, before] of shapes) {
      const last = before.length;
      it(`${shape}: after a successful last process: the batch runs, its output is all of stdout, the exit markers stay on stderr`, async () => {
        const mark = join(dir, `after-ok-${last}`);
        const argvs = batch(mark);
        const argv = remotePipelineArgv(
          [
            ...before,
            // a receive that reads its stream and prints something on stdout: it must not reach the batch's output
            { name: 'zfs receive', argv: ['sh', '-c', 'wc -c; echo received'] },
          ],
          { watch: false, then: batchArgv(argvs, 1) },
        );
        const r = await sh(argv, 'x'.repeat(5000));
        expect(r.exitCode).to.equal(0);
        const results = readBatch('h', argvs, 1, r);
        expect(results.map((x) => x.exitCode)).to.deep.equal([0, 0]);
        expect(results[0]!.stdout.trim()).to.equal(GUID);
        expect(results[1]!.stdout).to.equal("set it's; $HOME\n");
        expect(existsSync(mark)).to.equal(true);
        expect(r.stderr).to.match(new RegExp(`^@@zettabee-exit:${last}:0$`, 'm')).and.match(/^5000$/m);
        if (last) expect(r.stderr).to.match(/^@@zettabee-exit:0:0$/m);
      });

      it(`${shape}: after a failed last process: nothing of the batch runs, the status is the process status`, async () => {
        const mark = join(dir, `after-failed-${last}`);
        const argv = remotePipelineArgv(
          [...before, { name: 'zfs receive', argv: ['sh', '-c', 'cat >/dev/null; echo "cannot receive: destination has been modified" >&2; exit 1'] }],
          { watch: false, then: batchArgv(batch(mark), 1) },
        );
        const r = await sh(argv, 'stream');
        expect(r.exitCode).to.equal(1);
        expect(r.stdout).to.equal('');
        expect(r.stderr).to.match(new RegExp(`^@@zettabee-exit:${last}:1$`, 'm'));
        expect(existsSync(mark)).to.equal(false);
      });
    }

    it('a batch whose output was cut short is an error, not a success', () => {
      expect(() => readBatch('h', [['true'], ['true']], 1, { stdout: '\n@@zettabee-batch:0:0\n', stderr: '', exitCode: 0 })).to.throw(/batch of 2 commands did not finish/);
    });
  });

  describe('where the topology attaches it (table)', () => {
    const pairOf = (line: string): Pair => parsePairs(line, 'test.cfg', {}).pairs[0]!;
    const local = new LocalHost();
    const remote = (name: string) => new SshHost({ host: name }, { connectTimeout: 10, options: [] });
    const cases: Array<[string, boolean]> = [
      ['tank/a backuphost:backup/a transport=ssh', true],
      ['srchost:tank/a backuphost:backup/a transport=ssh', true],
      ['srchost:tank/a backup/a transport=ssh', false],
      ['tank/a backup/a transport=local', false],
      ['tank/a backuphost:backup/a transport=mbuffer,port=9090', false],
    ];
    for (const [line, want] of cases) {
      it(`${line}: ${want ? 'in the receive session' : 'a session of its own'}`, () => {
        const p = pairOf(line);
        const dst = p.destination.local ? local : remote(p.destination.host);
        const src = p.source.local ? local : remote(p.source.host);
        expect(finishInReceive(p, dst)).to.equal(want);
        const then = ['sh', '-c', 'echo done'];
        const build = () => streamPipeline(p, src, dst, ['zfs', 'send', 'tank/a@s'], ['zfs', 'receive', 'backup/a'], { afterReceive: then });
        if (!want) {
          expect(build).to.throw(/afterReceive/);
          return;
        }
        const spec = build();
        const last = spec.stages[spec.stages.length - 1]!;
        expect(last.host).to.equal(dst);
        // zfs receive alone: the session's sh runs it and then the batch's script, no shell of their own
        expect(last.argv.slice(3)).to.deep.equal(['zettabee', 'zfs', 'receive', 'backup/a']);
        expect(last.argv[2]).to.match(/^"\$@" >&2; s=\$\?; /).and.contain('\n{\necho done\n} </dev/null');
      });
    }
  });
});

// pre= and post= hooks, props=yes, and recv_set= / recv_exclude= where the
// destination's zfs cannot take them: the real launcher on real zfs-fuse
// pools. The hooks are real programs (/bin/sh scripts) that write what they
// saw into files the test reads.
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { makeSite, snapshotsOf, propOf, type Site } from './support.js';
import { sleep } from './procs.js';

describe('e2e: hooks (pre=, post=), props=yes, receive options on zfs-fuse', function () {
  this.timeout(120_000);
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;
  let dir: string;
  const s = () => `${src}/db`;
  const d = () => `${dst}/bk/db`;
  const fp = () => fingerprint('localhost', s(), 'localhost', d());
  /** a hook script that records its environment and the source's snapshots at the time, then exits with $1 */
  let recorder: string;

  const line = (opts: string) => `${s()} ${d()} ${opts}`;

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('hksrc', 256);
    dst = await bed.createPool('hkdst', 256);
    await bed.run(['zfs', 'create', s()]);
    await bed.run(['zfs', 'create', `${dst}/bk`]);
    site = makeSite(bed);
    dir = site.dir;
    recorder = join(dir, 'record.sh');
    writeFileSync(
      recorder,
      [
        '#!/bin/sh',
        'out="$1"; code="$2"',
        'env | grep ^ZETTABEE_ | sort > "$out.env"',
        'zfs list -H -t snapshot -o name -r "$ZETTABEE_SOURCE_DATASET" > "$out.snaps"',
        'echo "hook output line for the log"',
        '[ "$code" = 0 ] || echo "flush failed: database busy" >&2',
        'exit "$code"',
        '',
      ].join('\n'),
    );
    chmodSync(recorder, 0o755);
  });

  const env = (file: string) => Object.fromEntries(readFileSync(`${file}.env`, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

  it('initialize and update with pre and post: pre runs before the snapshot exists, post after, both with the pair and snapshot in their environment; silent, exit 0', async () => {
    const pre = join(dir, 'pre');
    const post = join(dir, 'post');
    site.writePairs([line(`pre="${recorder} ${pre} 0",post="${recorder} ${post} 0"`)]);
    const r = await site.run(['initialize', d()]);
    expect(r, r.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    const e = env(pre);
    expect(e).to.deep.include({ ZETTABEE_HOOK: 'pre', ZETTABEE_ACTION: 'initialize', ZETTABEE_PAIR: d(), ZETTABEE_FINGERPRINT: fp(), ZETTABEE_SOURCE_DATASET: s(), ZETTABEE_DESTINATION_DATASET: d() });
    const [snap] = await snapshotsOf(bed, s());
    expect(e.ZETTABEE_SNAPSHOT).to.equal(`${s()}@${snap}`);
    expect(readFileSync(`${pre}.snaps`, 'utf8')).to.not.contain(`@${snap}`);
    expect(env(post)).to.deep.include({ ZETTABEE_HOOK: 'post', ZETTABEE_SNAPSHOT: `${s()}@${snap}`, ZETTABEE_SNAPSHOT_TAKEN: 'yes' });
    expect(readFileSync(`${post}.snaps`, 'utf8')).to.contain(`${s()}@${snap}`);
    const log = readFileSync(join(site.paths.log, `${fp()}.log`), 'utf8');
    expect(log).to.match(/pre hook: \| hook output line for the log/);
    expect(log).to.match(/post hook: done in/);
    const u = await site.run(['update', d()]);
    expect(u, u.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
    expect(env(pre).ZETTABEE_ACTION).to.equal('update');
    expect(env(pre).ZETTABEE_SNAPSHOT).to.equal(`${s()}@${(await snapshotsOf(bed, s()))[0]}`);
  });

  it('--dry-run names both hooks in the plan and runs neither', async () => {
    const marker = join(dir, 'dry');
    site.writePairs([line(`pre="${recorder} ${marker} 0",post="${recorder} ${marker} 0"`)]);
    const r = await site.run(['update', '-n', d()]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^ {2}run the pre hook on this host \(before the snapshot.*killed after 300 s\): .*record\.sh .*dry 0$/m);
    expect(r.stdout).to.match(/^ {2}run the post hook on this host/m);
    expect(r.stdout.indexOf('pre hook')).to.be.below(r.stdout.indexOf('  snapshot '));
    expect(existsSync(`${marker}.env`)).to.equal(false);
  });

  it('a failing pre: exit 1 naming the hook, its exit code and last line; no snapshot taken; post not run; the status says failed', async () => {
    const before = await snapshotsOf(bed, s());
    const post = join(dir, 'post-after-failed-pre');
    site.writePairs([line(`pre="${recorder} ${join(dir, 'badpre')} 3",post="${recorder} ${post} 0"`)]);
    const r = await site.run(['update', d()]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('the pre hook failed (exit 3): flush failed: database busy; no snapshot was taken');
    expect(await snapshotsOf(bed, s())).to.deep.equal(before);
    expect(existsSync(`${post}.env`)).to.equal(false);
    const st = await site.run(['status', d()]);
    expect(st.stdout).to.match(/failed/i);
    const c = await site.run(['check', d()]);
    expect(c.code).to.be.oneOf([1, 2]);
  });

  it('a failing post: the update is done (exit 0), with a warning on stderr and WARNING from check', async () => {
    site.writePairs([line(`post="${recorder} ${join(dir, 'badpost')} 4"`)]);
    const before = (await snapshotsOf(bed, s()))[0];
    const r = await site.run(['update', d()]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/^zettabee: warning: update .*: the post hook failed \(exit 4\): flush failed: database busy$/m);
    const now = (await snapshotsOf(bed, s()))[0];
    expect(now).to.not.equal(before);
    expect(await snapshotsOf(bed, d())).to.include(now);
    const c = await site.run(['check', d()]);
    expect(c.code, c.stdout).to.equal(1);
    expect(c.stdout).to.match(/^ZETTABEE WARNING - .*post hook failed/);
  });

  it('a pre that hangs is killed with everything it started after hook_timeout; the run fails, no snapshot', async () => {
    // an odd duration names the sleeps this hook starts (pgrep -f)
    const tag = `${60 + (process.pid % 900)}.7531`;
    const hang = join(dir, 'hang.sh');
    writeFileSync(hang, `#!/bin/sh\n/bin/sleep ${tag} &\n/bin/sleep ${tag}\n`);
    chmodSync(hang, 0o755);
    site.writePairs([line(`pre=${hang},hook_timeout=2s`)]);
    const before = await snapshotsOf(bed, s());
    const t0 = Date.now();
    const r = await site.run(['update', d()]);
    const took = (Date.now() - t0) / 1000;
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('the pre hook did not finish within 2 s (hook_timeout) and was killed; no snapshot was taken');
    expect(took).to.be.below(30);
    expect(await snapshotsOf(bed, s())).to.deep.equal(before);
    let left = '';
    for (let i = 0; i < 20; i++) {
      left = (await execa('pgrep', ['-af', `sleep ${tag}`], { reject: false })).stdout.trim();
      if (!left) break;
      await sleep(250);
    }
    expect(left, 'processes the hook started').to.equal('');
  });

  it('props=yes sends the properties: a user property and compression set on the source arrive (zfs send -p)', async () => {
    await bed.run(['zfs', 'set', 'com.example:owner=dba', s()]);
    await bed.run(['zfs', 'set', 'compression=on', s()]);
    site.writePairs([line('props=yes')]);
    const r = await site.run(['update', d()]);
    expect(r, r.stderr).to.deep.include({ code: 0, stderr: '' });
    expect(await propOf(bed, d(), 'com.example:owner')).to.equal('dba');
    expect(await propOf(bed, d(), 'compression')).to.equal('on');
    expect(readFileSync(join(site.paths.log, `${fp()}.log`), 'utf8')).to.match(/plan: stream local: zfs send -p /);
  });

  for (const [opts, flag] of [['recv_set="canmount=noauto"', '-o'], ['recv_exclude=mountpoint', '-x']] as const) {
    it(`${opts} where the destination's zfs lacks receive ${flag} (zfs-fuse): refused, exit 1, nothing done`, async () => {
      const before = { src: await snapshotsOf(bed, s()), dst: await snapshotsOf(bed, d()) };
      site.writePairs([line(opts)]);
      for (const action of [['update', d()], ['update', '-n', d()]]) {
        const r = await site.run(action);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).to.contain(`${opts.split('=')[0]}= needs zfs receive ${flag}, which the destination's zfs on localhost lacks`);
      }
      expect({ src: await snapshotsOf(bed, s()), dst: await snapshotsOf(bed, d()) }).to.deep.equal(before);
    });
  }
});

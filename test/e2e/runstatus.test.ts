// runstatus follows a real transfer through the progress file the running
// update publishes; the transfer is slowed by pausing the real zfs send.
import { expect } from 'chai';
import { existsSync, rmSync } from 'node:fs';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { freezeSend, ppidOf, processes, sleep, stopProcs, thaw, waitFor, type Proc } from './procs.js';
import { makeSite, mountpointOf, writeRandom, type Site } from './support.js';

describe('e2e: runstatus (real zfs-fuse)', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('rssrc', 384);
    dst = await bed.createPool('rsdst', 384);
    await bed.run(['zfs', 'create', `${src}/data`]);
    await bed.run(['zfs', 'create', `${dst}/backup`]);
    site = makeSite(bed);
    site.writePairs([`${src}/data  ${dst}/backup/data`]);
    const r = await site.run(['initialize', 'data']);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('says plainly when nothing is running, with the last run', async () => {
    const r = await site.run(['runstatus', 'data']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^\S+\/backup\/data: no transfer is running \(last run: initialize ok at \S+, [\d.]+ \S+ in [\d.]+ s \(.*\/s\)\)$/);
  });

  const fp = () => fingerprint(undefined, `${src}/data`, undefined, `${dst}/backup/data`);

  /** the pv of a running update (it counts a local stream), as soon as it exists */
  async function pvOf(update: { pid?: number | undefined }, exited: () => boolean): Promise<Proc[]> {
    // zfs-fuse's daemon, not the zfs process, writes the stream, so slow the
    // stream where it passes a process of ours: the pv that counts it
    thaw(await freezeSend(`${src}/data`, update, exited));
    const descends = (pid: number): boolean => {
      for (let p = pid, i = 0; p > 1 && i < 10; p = ppidOf(p), i++) if (p === update.pid) return true;
      return false;
    };
    return waitFor('the pv of the update', 30_000, () => {
      const pv = processes().filter((x) => x.argv[0] === 'pv' && descends(x.pid));
      return pv.length ? pv : null;
    }, 5);
  }

  /**
   * Let pv run 5 ms, pause it 200 ms, until stopped: some 25 MB/s here, so a
   * stream of tens of MiB takes seconds and pv, which reports once a second,
   * reports several times.
   */
  function throttle(me: Proc[], exited: () => boolean): { stop(): Promise<void> } {
    let stop = false;
    const done = (async () => {
      while (!stop && !exited()) {
        thaw(me);
        await sleep(5);
        if (stop || exited()) break;
        stopProcs(me);
        await sleep(200);
      }
      thaw(me);
    })();
    return {
      stop: async () => {
        stop = true;
        await done;
      },
    };
  }

  it('while an update runs: plain lines with bytes, rate and elapsed; ends with the run, exit 0', async () => {
    writeRandom(`${await mountpointOf(bed, `${src}/data`)}/big.bin`, 96 * 1024 * 1024);
    const update = site.spawn(['update', 'data']);
    let exited = false;
    void update.finally(() => (exited = true)).catch(() => {});
    const slow = throttle(await pvOf(update, () => exited), () => exited);
    try {
      await waitFor('the progress file', 30_000, () => existsSync(`${site.paths.state}/${fp()}.progress`));
      const r = await site.run(['runstatus', 'data', '--interval', '0.3']);
      await slow.stop();
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      const lines = r.stdout.split('\n');
      const moving = lines.filter((l) => /: update \(pid \d+\)  [\d.]+ (B|KiB|MiB)  [\d.]+ (B|KiB|MiB)\/s  elapsed \d+:\d\d:\d\d$/.test(l));
      expect(moving.length, r.stdout).to.be.greaterThan(1);
      expect(lines.at(-1)).to.match(/: ended: update ok at \S+, [\d.]+ MiB in [\d.]+ s \([\d.]+ (KiB|MiB)\/s\)$/);
    } finally {
      await slow.stop();
    }
    const u = await update;
    expect(u.exitCode, String(u.stderr)).to.equal(0);
    expect(existsSync(`${site.paths.state}/${fp()}.progress`)).to.equal(false);
  });

  it('an update that fails mid-stream (the destination is out of quota): runstatus ends with it and exits 1, the error on stderr', async () => {
    const target = `${dst}/backup/data`;
    const used = Number((await bed.run(['zfs', 'get', '-Hp', '-o', 'value', 'used', target])).trim());
    await bed.run(['zfs', 'set', `quota=${used + 8 * 1024 * 1024}`, target]);
    const file = `${await mountpointOf(bed, `${src}/data`)}/big2.bin`;
    writeRandom(file, 48 * 1024 * 1024);
    const update = site.spawn(['update', 'data']);
    let exited = false;
    void update.finally(() => (exited = true)).catch(() => {});
    const me = await pvOf(update, () => exited);
    // hold the stream until runstatus has seen the run, so it follows it
    expect(stopProcs(me), 'the pv processes, stopped').to.have.length(me.length);
    let slow: { stop(): Promise<void> } | undefined;
    try {
      const follow = site.spawn(['runstatus', 'data', '--interval', '0.3']);
      let out = '';
      follow.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      await waitFor('runstatus to follow the update', 30_000, () => / update \(pid \d+\)/.test(out));
      slow = throttle(me, () => exited);
      const r = await follow;
      const u = await update;
      expect(u.exitCode, String(u.stdout)).to.equal(1);
      const error = /^zettabee: error: update data: (.*)$/m.exec(String(u.stderr))?.[1];
      expect(error, String(u.stderr)).to.be.a('string');
      expect(r.exitCode, `stdout: ${String(r.stdout)}\nstderr: ${String(r.stderr)}`).to.equal(1);
      const lines = String(r.stdout).split('\n');
      const end = lines.filter(Boolean).at(-1)!;
      expect(end).to.match(new RegExp(`^${target}: ended: update failed at \\S+: `));
      expect(end.endsWith(`: ${error!}`), end).to.equal(true);
      expect(String(r.stderr).split('\n')[0]).to.equal(`zettabee: error: runstatus data: the update failed: ${error}`);
    } finally {
      await slow?.stop();
      thaw(me);
      await bed.run(['zfs', 'set', 'quota=none', target]);
      rmSync(file, { force: true });
    }
    expect(existsSync(`${site.paths.state}/${fp()}.progress`)).to.equal(false);
    // the pair recovers once the destination has room again
    const again = await site.run(['update', 'data']);
    expect(again.code, again.stderr).to.equal(0);
  });
});

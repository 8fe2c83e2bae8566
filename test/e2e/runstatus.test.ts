// runstatus follows a real transfer through the progress file the running
// update publishes; the transfer is slowed by pausing the real zfs send.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { freezeSend, ppidOf, processes, sleep, thaw, waitFor } from './procs.js';
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

  it('while an update runs: plain lines with bytes, rate and elapsed; ends with the run', async () => {
    writeRandom(`${await mountpointOf(bed, `${src}/data`)}/big.bin`, 96 * 1024 * 1024);
    const fp = fingerprint(undefined, `${src}/data`, undefined, `${dst}/backup/data`);
    const update = site.spawn(['update', 'data']);
    let exited = false;
    void update.finally(() => (exited = true)).catch(() => {});
    // zfs-fuse's daemon, not the zfs process, writes the stream, so slow the
    // stream where it passes a process of ours: the pv that counts a local
    // stream (run it 5 ms, pause it 200 ms: some 25 MB/s here, so the 96 MiB
    // take seconds and pv, which reports once a second, reports several times)
    thaw(await freezeSend(`${src}/data`, update, () => exited));
    const descends = (pid: number): boolean => {
      for (let p = pid, i = 0; p > 1 && i < 10; p = ppidOf(p), i++) if (p === update.pid) return true;
      return false;
    };
    const me = await waitFor('the pv of the update', 30_000, () => {
      const pv = processes().filter((x) => x.argv[0] === 'pv' && descends(x.pid));
      return pv.length ? pv : null;
    }, 5);
    const [meter] = me;
    let stop = false;
    const throttle = (async () => {
      while (!stop && !exited) {
        thaw(me);
        await sleep(5);
        if (stop || exited) break;
        try {
          process.kill(meter!.pid, 'SIGSTOP');
        } catch {
          /* done */
        }
        await sleep(200);
      }
      thaw(me);
    })();
    try {
      await waitFor('the progress file', 30_000, () => existsSync(`${site.paths.state}/${fp}.progress`));
      const r = await site.run(['runstatus', 'data', '--interval', '0.3']);
      stop = true;
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.split('\n');
      const moving = lines.filter((l) => /: update \(pid \d+\)  [\d.]+ (B|KiB|MiB)  [\d.]+ (B|KiB|MiB)\/s  elapsed \d+:\d\d:\d\d$/.test(l));
      expect(moving.length, r.stdout).to.be.greaterThan(1);
      expect(lines.at(-1)).to.match(/: ended: update ok at \S+, [\d.]+ MiB in [\d.]+ s/);
    } finally {
      stop = true;
      await throttle;
    }
    const u = await update;
    expect(u.exitCode, String(u.stderr)).to.equal(0);
    expect(existsSync(`${site.paths.state}/${fp}.progress`)).to.equal(false);
  });
});

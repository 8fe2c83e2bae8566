// The stall watchdog on every transport: a stream frozen with SIGSTOP moves
// no byte; with stall=3s the run must end with exit 1 and the stall message
// within seconds, and while the frozen process would still be frozen,
// nothing of the transfer may be left on either side: no zfs send or
// receive, no mbuffer, no listening port. The next update must then be an
// incremental that works.
//
// What to freeze: zfs-fuse's `zfs send` is a thin client that hands its
// stdout to the zfs-fuse daemon, which then writes the stream itself; a
// SIGSTOP after that hand-off freezes nothing. So a zfs send is frozen only
// while it is still parsing its arguments (zfs-fuse overwrites the '@' of
// its snapshot arguments first: while /proc still shows the '@', nothing was
// handed off), and a run where the freeze came too late is let finish and
// tried again. With mbuffer in the stream, the mbuffer itself is frozen: a
// real mover of bytes, on the far side of ssh or here.
import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { freePort, mbuffersOn, nothingLeft } from './ports.js';
import { sleep, stopProcs, thaw, waitFor, zfsSendOf, type Proc } from './procs.js';
import { makeSite, mountpointOf, snapshotsOf, sshKeys, treeHashes, writeRandom, type Site } from './support.js';

const MiB = 1024 * 1024;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

type Freeze = (child: { pid?: number }, exited: () => boolean) => Promise<Proc[] | null>;

/** the zfs send of ds, stopped before it handed the stream to the daemon; null when it came too late (then thawed) */
function zfsSendBeforeHandOff(ds: string): Freeze {
  return async (child, exited) => {
    const procs = await waitFor(`zfs send of ${ds}`, 60_000, () => {
      if (exited()) throw new Error(`zettabee (pid ${child.pid}) ended before its zfs send of ${ds} was seen`);
      const p = zfsSendOf(ds);
      return p.length ? p : null;
    }, 2);
    // one that ended before the signal came too late as well
    const stopped = stopProcs(procs);
    if (stopped.length === procs.length && procs.every((p) => cmdline(p.pid).includes(`${ds}@`))) return procs;
    thaw(stopped);
    return null;
  };
}

/** the mbuffer on port with this flag (-I: receiving, -O: sending), stopped once the stream flows */
function mbufferOf(port: number, flag: '-I' | '-O'): Freeze {
  return async (child, exited) => {
    const procs = await waitFor(`mbuffer ${flag} on port ${port}`, 60_000, () => {
      if (exited()) throw new Error(`zettabee (pid ${child.pid}) ended before its mbuffer was seen`);
      const p = mbuffersOn(port).filter((m) => m.argv.includes(flag));
      return p.length ? p : null;
    }, 5);
    await sleep(500);
    const stopped = stopProcs(procs);
    if (stopped.length === 0) throw new Error(`mbuffer ${flag} on port ${port} ended before it could be stopped`);
    return stopped;
  };
}

describe('e2e: the stall watchdog (stall=3s, a frozen stream)', function () {
  let bed: Bed;
  let src: string;
  let dst: string;
  let site: Site;
  const port: Record<string, number> = {};
  const cases = [
    // name, source host, destination host, keys, what is frozen
    ['local', 'localhost', 'localhost', '', 'its zfs send'],
    ['sshpull', '127.0.0.1', 'localhost', 'SSH', 'the remote zfs send'],
    // slow and with small buffers, so the freeze lands mid-stream and stops it soon
    ['mbpull', '127.0.0.1', 'localhost', 'transport=mbuffer,port=PORT,bwlimit=4M,buffer=1M,SSH', 'the remote sending mbuffer'],
    ['mbpush', 'localhost', '127.0.0.1', 'transport=mbuffer,port=PORT,bwlimit=4M,buffer=1M,SSH', 'the remote receiving mbuffer'],
  ] as const;
  const s = (n: string) => `${src}/${n}`;
  const d = (n: string) => `${dst}/wd/${n}`;
  const at = (host: string, ds: string) => (host === 'localhost' ? ds : `${host}:${ds}`);
  const freezer = (n: string): Freeze =>
    n === 'mbpull' ? mbufferOf(port[n]!, '-O') : n === 'mbpush' ? mbufferOf(port[n]!, '-I') : zfsSendBeforeHandOff(s(n));

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('wdsrc', 512);
    dst = await bed.createPool('wddst', 512);
    await bed.run(['zfs', 'create', `${dst}/wd`]);
    site = makeSite(bed, '\n[defaults]\nstall = 3s\n');
    const lines: string[] = [];
    for (const [n, sh, dh, keys] of cases) {
      port[n] = await freePort();
      const k = keys.replace('PORT', String(port[n])).replace('SSH', sshKeys(bed));
      lines.push(`${at(sh, s(n))}  ${at(dh, d(n))}  ${k}`);
    }
    site.writePairs(lines);
    for (const [n] of cases) {
      await bed.run(['zfs', 'create', s(n)]);
      writeFileSync(`${await mountpointOf(bed, s(n))}/hello.txt`, 'hello\n');
      const r = await site.run(['initialize', d(n)]);
      expect(r, r.stderr).to.deep.include({ code: 0, stderr: '' });
    }
  });

  for (const [n, sh, dh, keys, what] of cases) {
    it(`${n}: ${what} frozen: exit 1 with the stall message, nothing left on either side while it is frozen, the next update works`, async () => {
      const fp = fingerprint(sh, s(n), dh, d(n));
      const mnt = await mountpointOf(bed, s(n));
      let frozen: Proc[] | null = null;
      let r;
      let took = 0;
      let base: string[] = [];
      for (let attempt = 1; !frozen; attempt++) {
        // the window between the send's exec and its hand-off is a few ms, and
        // under load a scan of /proc can miss it several times running
        if (attempt > 20) expect.fail('the zfs send was never caught before it handed its stream to zfs-fuse (20 attempts)');
        base = await snapshotsOf(bed, d(n));
        writeRandom(`${mnt}/big-${attempt}.bin`, 8 * MiB);
        const child = site.spawn(['update', d(n)]);
        let exited = false;
        void child.finally(() => (exited = true));
        frozen = await freezer(n)(child, () => exited);
        const t0 = Date.now();
        try {
          r = await child;
          took = (Date.now() - t0) / 1000;
          // too late to freeze: this update went through, try again (its file
          // goes, so that twenty tries do not fill the pools)
          if (!frozen) {
            expect(r.exitCode, String(r.stderr)).to.equal(0);
            rmSync(`${mnt}/big-${attempt}.bin`, { force: true });
          }
          else {
            // the frozen process is not left behind, frozen or otherwise
            await nothingLeft([s(n), d(n)], keys.includes('mbuffer') ? port[n] : undefined);
            expect(frozen.filter((p) => alive(p.pid))).to.deep.equal([]);
          }
        } finally {
          if (frozen) thaw(frozen);
        }
      }
      const stderr = String(r!.stderr);
      expect(r!.exitCode, stderr).to.equal(1);
      expect(stderr).to.match(/^zettabee: error: update \S+: the transfer stalled: no data moved for 3 s \(stall=3s\); killed every process of it( on both hosts)?\n/);
      expect(stderr.includes('on both hosts')).to.equal(n !== 'local');
      console.log(`      ${n}: the run ended ${took.toFixed(1)} s after the freeze`);
      expect(took).to.be.within(2.5, 12);
      expect(await snapshotsOf(bed, d(n))).to.deep.equal(base);
      const log = readFileSync(join(site.paths.log, `${fp}.log`), 'utf8');
      expect(log).to.match(/ERROR \[\d+\] update FAILED after [\d.]+ s: the transfer stalled: no data moved for 3 s/);

      const next = await site.run(['update', d(n)]);
      expect(next, next.stderr).to.deep.include({ code: 0, stdout: '', stderr: '' });
      const after = readFileSync(join(site.paths.log, `${fp}.log`), 'utf8');
      const last = after.slice(after.lastIndexOf(' update START '));
      expect(last).to.match(/incremental from @zettabee\./);
      expect(last).to.match(/ update END @zettabee\.\S+: [\d.]+ MiB in /);
      expect(treeHashes(await mountpointOf(bed, d(n)))).to.deep.equal(treeHashes(mnt));
    });
  }
});

// failover, takeover and failback end to end, the usual way round: zettabee
// runs on the backup host only and pulls over ssh; after a failover it must
// push from that same host, with the same pairs-file line. Then the primary
// "crashes" (its sshd stops), the backup takes over, both sides write, the
// primary comes back: update refuses (split brain, CRITICAL), failback keeps
// what the primary wrote and replication resumes. Real zfs-fuse and sshd.
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getBed, type Bed } from '../harness/bed.js';
import { makeSite, mountpointOf, propOf, snapshotsOf, sshKeys, treeHashes, type Result, type Site } from './support.js';

function ok(r: Result): void {
  expect(r.code, `stdout: ${r.stdout}; stderr: ${r.stderr}`).to.equal(0);
}

describe('e2e: failover, takeover and failback (pull over ssh, real zfs-fuse and sshd)', function () {
  this.timeout(300_000);
  let bed: Bed;
  let site: Site;
  let primary: string;
  let backup: string;
  let fp: string;
  const label = () => backup;

  before(async function () {
    bed = await getBed();
    const a = await bed.createPool('fosrc', 256);
    const b = await bed.createPool('fodst', 256);
    primary = `${a}/data`;
    backup = `${b}/data`;
    await bed.run(['zfs', 'create', primary]);
    site = makeSite(bed);
    site.writePairs([`127.0.0.1:${primary}  ${backup}  ${sshKeys(bed)}`]);
    fp = fingerprint('127.0.0.1', primary, 'localhost', backup);
    writeFileSync(`${await mountpointOf(bed, primary)}/one.txt`, 'one\n');
    ok(await site.run(['initialize', label()]));
  });

  after(async () => {
    if (bed && !bed.ssh.running) await bed.ssh.start();
  });

  const same = async () => expect(treeHashes(await mountpointOf(bed, backup))).to.deep.equal(treeHashes(await mountpointOf(bed, primary)));
  const mounted = async (ds: string) => {
    if ((await propOf(bed, ds, 'mounted')) !== 'yes') await bed.run(['zfs', 'mount', ds]);
    return mountpointOf(bed, ds);
  };

  it('failover --dry-run prints the plan and changes nothing; failover swaps the roles; the next update pushes from this host, data identical; a second failover switches back', async () => {
    const before = await snapshotsOf(bed, primary);
    const dry = await site.run(['failover', label(), '--dry-run']);
    ok(dry);
    expect(dry.stdout).to.match(/failover .* \(dry run, nothing done\) would:/);
    expect(dry.stdout).to.contain(`zfs set readonly=on ${primary}`);
    expect(dry.stdout).to.contain('a final update:');
    expect(dry.stdout).to.contain(`zettabee:${fp}:role=source`);
    expect(await snapshotsOf(bed, primary)).to.deep.equal(before);
    expect(await propOf(bed, primary, 'readonly')).to.equal('off');

    writeFileSync(`${await mountpointOf(bed, primary)}/two.txt`, 'written just before the switch\n');
    const f = await site.run(['failover', label()]);
    ok(f);
    expect(f.stdout).to.contain(`done: localhost:${backup} -> 127.0.0.1:${primary}`);
    expect(await propOf(bed, backup, `zettabee:${fp}:role`)).to.equal(`source ${backup}`);
    expect(await propOf(bed, primary, `zettabee:${fp}:role`)).to.equal(`destination ${primary}`);
    // the final update carried the last write; both newest snapshots are one
    expect((await snapshotsOf(bed, backup)).at(-1)).to.equal((await snapshotsOf(bed, primary)).at(-1));
    await same();
    const bm = await mounted(backup);
    writeFileSync(`${bm}/three.txt`, 'written on the new source\n');
    const pm = await mountpointOf(bed, primary);
    expect(() => writeFileSync(`${pm}/intruder`, 'x')).to.throw(/EROFS|read-only/i);
    const st = await site.run(['status', '--fullstatus', label()]);
    ok(st);
    expect(st.stdout).to.match(/Synchronized\s+\S+\s+\S*R\s/);
    expect(st.stdout).to.contain(`reversed since`);
    // same pairs-file line, same fingerprint: this host now pushes
    ok(await site.run(['update', label()]));
    await same();
    expect(existsSync(`${await mountpointOf(bed, primary)}/three.txt`)).to.equal(true);
    const c = await site.run(['check', label()]);
    expect(c.code, c.stdout).to.equal(0);
    expect(c.stdout).to.match(/^ZETTABEE OK - .*reversed since .*\(failover on .*\): \S+ -> 127\.0\.0\.1:/);

    ok(await site.run(['failover', label()]));
    expect(await propOf(bed, primary, `zettabee:${fp}:role`)).to.equal(`source ${primary}`);
    expect(() => writeFileSync(`${bm}/intruder`, 'x')).to.throw(/EROFS|read-only/i);
    writeFileSync(`${await mountpointOf(bed, primary)}/four.txt`, 'back on the primary\n');
    ok(await site.run(['update', label()]));
    await same();
    const back = await site.run(['status', label()]);
    expect(back.stdout).to.match(/Synchronized\s+\S+\s+-\s/);
  });

  it('a local pair (transport=local): failover, a write on the new source, update: identical; failover back; a failover that fails puts the start back; failback --discard rolls the loser back', async () => {
    const a = `${primary}-local`;
    const b = `${backup}-local`;
    await bed.run(['zfs', 'create', a]);
    writeFileSync(`${await mountpointOf(bed, a)}/l.txt`, 'local\n');
    const other = makeSite(bed);
    other.writePairs([`${a}  ${b}`]);
    ok(await other.run(['initialize', b]));
    ok(await other.run(['failover', b]));
    writeFileSync(`${await mounted(b)}/l2.txt`, 'on the new source\n');
    ok(await other.run(['update', b]));
    expect(treeHashes(await mountpointOf(bed, a))).to.deep.equal(treeHashes(await mountpointOf(bed, b)));
    expect(existsSync(`${await mountpointOf(bed, a)}/l2.txt`)).to.equal(true);
    ok(await other.run(['failover', b]));
    ok(await other.run(['update', b]));
    // a failover whose final update fails (someone wrote on the destination) puts the start back and says so
    await bed.run(['zfs', 'set', 'readonly=off', b]);
    writeFileSync(`${await mounted(b)}/intruder.txt`, 'written on the destination\n');
    const failed = await other.run(['failover', b]);
    expect(failed.code, failed.stderr).to.equal(1);
    expect(failed.stderr).to.match(/failover failed: .*was changed after its last snapshot.*; restored the starting state: localhost:\S+ -> localhost:\S+, \S+ writable again/);
    writeFileSync(`${await mountpointOf(bed, a)}/still-writable.txt`, 'the source is writable again\n');
    expect(await propOf(bed, a, 'readonly')).to.equal('off');
    // takeover while the source is in fact there: a split brain by construction; failback --discard rolls the loser back
    await bed.run(['zfs', 'rollback', `${b}@${(await snapshotsOf(bed, b)).at(-1)}`]);
    ok(await other.run(['takeover', b, '--yes']));
    expect((await other.run(['update', b])).stderr).to.contain('split brain');
    const plan = await other.run(['failback', b, '--discard', '--dry-run']);
    expect(plan.stdout).to.contain(`zfs rollback -r ${a}@`);
    ok(await other.run(['failback', b, '--discard']));
    expect(existsSync(`${await mountpointOf(bed, a)}/still-writable.txt`)).to.equal(false);
    expect(treeHashes(await mountpointOf(bed, a))).to.deep.equal(treeHashes(await mounted(b)));
    expect((await bed.run(['zfs', 'list', '-H', '-o', 'name'])).split('\n').filter((n) => n.startsWith(`${a}-diverged-`))).to.deep.equal([]);
  });

  it("takeover with the primary's sshd stopped; both sides write; update refuses when it is back (split brain, CRITICAL); failback keeps what the primary wrote; update works again", async () => {
    await bed.ssh.stop();
    const refused = await site.run(['takeover', label()]);
    expect(refused.code, refused.stderr).to.equal(2);
    expect(refused.stderr).to.contain('--yes');
    const dry = await site.run(['takeover', label(), '--dry-run']);
    ok(dry);
    expect(dry.stdout).to.contain('is not contacted');
    const t = await site.run(['takeover', label(), '--yes']);
    ok(t);
    let c = await site.run(['check', label()]);
    expect(c.code, c.stdout).to.equal(2);
    expect(c.stdout).to.match(/^ZETTABEE CRITICAL - taken over: \S+ is the source since .* \(takeover on .*\); the old source 127\.0\.0\.1:\S+ was not reached/);
    writeFileSync(`${await mounted(backup)}/after-takeover.txt`, 'the backup serves now\n');
    // the primary never learned of it: it is still writable, and it writes
    writeFileSync(`${await mountpointOf(bed, primary)}/lost-write.txt`, 'the primary wrote this after the takeover\n');
    await bed.run(['zfs', 'snapshot', `${primary}@app-after-crash`]);
    const down = await site.run(['update', label()]);
    expect(down.code, down.stderr).to.equal(1);

    await bed.ssh.start();
    const u = await site.run(['update', label()]);
    expect(u.code, u.stderr).to.equal(1);
    expect(u.stderr).to.match(/split brain: both sides are sources: localhost:\S+ took over \(takeover on .* at .*\)/);
    expect(u.stderr).to.contain(`since then 127.0.0.1:${primary} wrote 1 snapshot (@app-after-crash)`);
    c = await site.run(['check', label()]);
    expect(c.code, c.stdout).to.equal(2);
    expect(c.stdout).to.match(/^ZETTABEE CRITICAL - inconsistent: split brain/);
    const st = await site.run(['status', label()]);
    expect(st.stdout).to.match(/Inconsistent/);

    const fdry = await site.run(['failback', label(), '--dry-run']);
    ok(fdry);
    expect(fdry.stdout).to.match(/kept as \S+-diverged-\d{14}UTC/);
    expect(await snapshotsOf(bed, primary)).to.include('app-after-crash');
    const fb = await site.run(['failback', label()]);
    ok(fb);
    const kept = /kept in (\S+) \(mountable/.exec(fb.stdout)?.[1];
    expect(kept, fb.stdout).to.be.a('string');
    // the divergent history: named after the pair and the time, mounted, with its snapshot
    expect(kept).to.match(new RegExp(`^${primary}-diverged-\\d{14}UTC$`));
    expect(readFileSync(`${await mounted(kept!)}/lost-write.txt`, 'utf8')).to.contain('after the takeover');
    expect(await snapshotsOf(bed, kept!)).to.include('app-after-crash');
    // the primary is the backup's destination now, read-only, with the backup's data
    expect(await propOf(bed, primary, `zettabee:${fp}:role`)).to.equal(`destination ${primary}`);
    const pmnt = await mounted(primary);
    expect(() => writeFileSync(`${pmnt}/intruder`, 'x')).to.throw(/EROFS|read-only/i);
    await same();
    expect(existsSync(`${await mountpointOf(bed, primary)}/lost-write.txt`)).to.equal(false);
    writeFileSync(`${await mounted(backup)}/five.txt`, 'replicating again\n');
    ok(await site.run(['update', label()]));
    await same();
    c = await site.run(['check', label()]);
    expect(c.code, c.stdout).to.equal(0);
    expect(c.stdout).to.match(/reversed since .*\(failback on /);
  });
});

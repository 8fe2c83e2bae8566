// What only OpenZFS has, exercised for real in a guest: raw sends of
// encrypted datasets, bookmarks as base protection, resumable receive with a
// stale token, send -c -L -e and receive -u / -o readonly=on, size estimates
// (a refusal with the numbers, runstatus percent and ETA), the holders of a
// snapshot retention cannot destroy, and the mbuffer transport into a guest
// and between guests. Each test says what the destination ends up with.
import { expect } from 'chai';
import { fingerprint } from '../../../src/domain/fingerprint.js';
import { ZPOOL_CREATE, type Guest } from '../../harness/openzfs/guest.js';
import { freePort } from '../../harness/bed.js';
import { sleep } from '../procs.js';
import type { Result } from '../support.js';
import { exists, getNodes, hostSite, prop, snapshots, treeHash, writeRandom, writeText, zfs, type Nodes, type TestSite, type ZfsNode } from './nodes.js';
import { poolOn } from './worlds.js';

const MiB = 1024 * 1024;
const PASS = 'zettabee-test-passphrase';

function ok(r: Result): void {
  expect(r, `stderr: ${r.stderr}`).to.deep.include({ code: 0, stdout: '', stderr: '' });
}

function pairSnaps(list: readonly string[], fp: string): string[] {
  return list.filter((s) => s.startsWith(`zettabee.${fp}.`));
}

type Flavour = '2.1' | '2.3';

/**
 * Where each test runs. Raw encrypted sends (whose rules changed between
 * the releases) run on both; each of the others exercises what 2.1 and 2.3
 * do alike (their outputs are table-tested from fixtures recorded on both),
 * so it runs on one, to keep the suite's time. The mbuffer transport
 * between the guests runs from 2.3 to 2.1: the other direction's streams
 * are the replication matrix's row from 2.1 to 2.3 (over ssh), and mbuffer
 * and zettabee's two remote ends are the same either way.
 */
const ROWS: Record<string, readonly Flavour[]> = {
  bookmarks: ['2.1'],
  resume: ['2.3'],
  compressed: ['2.1'],
  'receive -u': ['2.3'],
  props: ['2.1'],
  'size estimate': ['2.3'],
  holders: ['2.1'],
  'mbuffer from zfs-fuse': ['2.3'],
  'mbuffer between the guests': ['2.3'],
};

export function defineFeatures(flavour: Flavour): void {
  /** a test of ROWS, defined on its row only */
  const row = (name: keyof typeof ROWS & string, title: string, fn: () => Promise<void>) => {
    if (!ROWS[name]) throw new Error(`no row for ${name}`);
    if (ROWS[name]!.includes(flavour)) it(title, fn);
  };
  describe(`e2e OpenZFS ${flavour} features: raw encrypted send, bookmarks, resume tokens, send -c -L -e, receive -u, size estimates, holders, mbuffer`, function () {
    this.timeout(300_000);
    let n: Nodes;
    let node: ZfsNode;
    let g: Guest;
    let pool: string;
    let site: TestSite;
    const src = (name: string) => `${pool}/ft${name}`;
    const dst = (name: string) => `${pool}/bk/ft${name}`;
    const spec = (ds: string) => `${g.address}:${ds}`;
    const fp = (s: string, d: string) => fingerprint(g.address, s, g.address, d);
    /** the pairs of this file, by name: source, destination, keys */
    const pairs = new Map<string, [string, string, string]>();
    const writePairs = () => site.writePairs([...pairs.values()].map(([s, d, k]) => `${s}  ${d}  ${k}`));
    const pair = async (name: string, keys = '', s = spec(src(name)), d = spec(dst(name))) => {
      pairs.set(name, [s, d, [g.sshKeys, keys].filter(Boolean).join(',')]);
      await writePairs();
    };

    before(async function () {
      this.timeout(40 * 60_000); // a bare machine builds the guest images first
      n = await getNodes();
      node = flavour === '2.1' ? n.oz21 : n.oz23;
      g = n.guests[flavour];
      pool = await poolOn(node, 'src');
      site = hostSite(n.bed);
    });

    describe('raw send of encrypted datasets', () => {
      const create = (ds: string) => node.sh('printf "%s" "$2" | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt "$1"', [ds, PASS]);

      it('an encrypted source is sent raw by default: the destination holds ciphertext without the key, updates go raw, and the key loads there', async () => {
        await create(src('enc'));
        await writeRandom(node, src('enc'), 'secret.bin', 512 * 1024);
        await writeText(node, src('enc'), 'note.txt', 'not for the backup host\n');
        await pair('enc');
        ok(await site.run(['initialize', spec(dst('enc'))]));
        expect(await prop(node, dst('enc'), 'encryption')).to.equal('aes-256-gcm');
        expect(await prop(node, dst('enc'), 'keystatus')).to.equal('unavailable');
        expect(await prop(node, dst('enc'), 'encryptionroot')).to.equal(dst('enc'));
        const f = fp(src('enc'), dst('enc'));
        expect(await site.log(f)).to.contain('sending raw (zfs send -w)');
        await writeRandom(node, src('enc'), 'more.bin', 256 * 1024);
        ok(await site.run(['update', spec(dst('enc'))]));
        expect(await site.log(f)).to.match(/ update START .* incremental from @zettabee\.\S+, raw/);
        // the admin's way in: the source's passphrase, on the destination
        await node.sh('printf "%s" "$2" | zfs load-key "$1" && zfs mount "$1"', [dst('enc'), PASS]);
        expect(await treeHash(node, dst('enc'))).to.deep.equal(await treeHash(node, src('enc')));
      });

      it('raw=no sends it decrypted, on purpose; a pair never switches between the two (refused before any snapshot)', async () => {
        await pair('encplain', 'raw=no', spec(src('enc')), spec(dst('encplain')));
        ok(await site.run(['initialize', spec(dst('encplain'))]));
        expect(await prop(node, dst('encplain'), 'encryption')).to.equal('off');
        expect(await treeHash(node, dst('encplain'))).to.deep.equal(await treeHash(node, src('enc')));
        expect(await site.log(fp(src('enc'), dst('encplain')))).to.contain('raw=no: sending');
        const before = await snapshots(node, src('enc'));
        // switched: the raw copy asked to go decrypted, the decrypted one raw
        pairs.set('enc', [spec(src('enc')), spec(dst('enc')), `${g.sshKeys},raw=no`]);
        pairs.set('encplain', [spec(src('enc')), spec(dst('encplain')), g.sshKeys]);
        await writePairs();
        const a = await site.run(['update', spec(dst('enc'))]);
        expect(a.code, a.stderr).to.equal(1);
        expect(a.stderr).to.contain('holds the raw encrypted copy');
        const b = await site.run(['update', spec(dst('encplain'))]);
        expect(b.code, b.stderr).to.equal(1);
        expect(b.stderr).to.contain('holds a decrypted copy');
        expect(b.stderr).to.contain('set raw=no');
        expect(await snapshots(node, src('enc'))).to.deep.equal(before);
        pairs.set('enc', [spec(src('enc')), spec(dst('enc')), g.sshKeys]);
        pairs.set('encplain', [spec(src('enc')), spec(dst('encplain')), `${g.sshKeys},raw=no`]);
        await writePairs();
      });

      it('an encrypted source to a pool without feature@encryption, or to zfs-fuse: refused before a snapshot is taken, saying why', async () => {
        const noenc = `${pool}ne`;
        await node.sh(`${ZPOOL_CREATE}; truncate -s 256M "/var/tmp/$1.img" && zpool_create "$1" -f -o feature@encryption=disabled -O "mountpoint=/pools/$1" "$1" "/var/tmp/$1.img"`, [noenc]);
        await pair('encnoenc', '', spec(src('enc')), spec(`${noenc}/enc`));
        const before = await snapshots(node, src('enc'));
        const r = await site.run(['initialize', spec(`${noenc}/enc`)]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr, r.stderr).to.contain('cannot receive a raw stream: its pool does not have feature@encryption enabled');
        expect(r.stderr).to.contain('raw=no');
        expect(await snapshots(node, src('enc'))).to.deep.equal(before);
        expect(await exists(node, `${noenc}/enc`)).to.equal(false);
        // zfs-fuse is refused sooner still: its pool (version 23) cannot take an OpenZFS stream at all
        const fusePool = await poolOn(n.fuse, 'dst');
        const target = `${fusePool}/bk/enc${flavour.replace('.', '')}`;
        await pair('encfuse', '', spec(src('enc')), target);
        const f = await site.run(['initialize', target]);
        expect(f.code, f.stderr).to.equal(1);
        expect(f.stderr, f.stderr).to.match(/the destination pool is version 23, older than the source pool/);
        expect(await snapshots(node, src('enc'))).to.deep.equal(before);
        expect(await exists(n.fuse, target)).to.equal(false);
        pairs.delete('encfuse');
        pairs.delete('encnoenc');
        await writePairs();
      });
    });

    row('bookmarks', 'bookmarks: after the base snapshot was destroyed on the source, the next update goes incremental from its bookmark', async () => {
      await zfs(node, 'zfs', 'create', src('bm'));
      await writeRandom(node, src('bm'), 'a.bin', 256 * 1024);
      await pair('bm');
      ok(await site.run(['initialize', spec(dst('bm'))]));
      const f = fp(src('bm'), dst('bm'));
      const marks = (await zfs(node, 'zfs', 'list', '-H', '-o', 'name', '-t', 'bookmark', src('bm'))).split('\n').filter(Boolean);
      const [base] = pairSnaps(await snapshots(node, src('bm')), f);
      expect(marks).to.deep.equal([`${src('bm')}#${base}`]);
      // someone destroys the base on the source (after releasing zettabee's hold)
      await zfs(node, 'zfs', 'release', `zettabee.${f}`, `${src('bm')}@${base}`);
      await zfs(node, 'zfs', 'destroy', `${src('bm')}@${base}`);
      await writeRandom(node, src('bm'), 'b.bin', 256 * 1024);
      ok(await site.run(['update', spec(dst('bm'))]));
      expect(await site.log(f)).to.contain(`incremental from #${base}`);
      expect(await treeHash(node, dst('bm'))).to.deep.equal(await treeHash(node, src('bm')));
      // the new base has its bookmark; the destination's older snapshot keeps its own
      const now = (await zfs(node, 'zfs', 'list', '-H', '-o', 'name', '-t', 'bookmark', src('bm'))).split('\n').filter(Boolean);
      const [newBase] = pairSnaps(await snapshots(node, src('bm')), f);
      expect(now).to.include(`${src('bm')}#${newBase}`);
    });

    row('resume', 'resumable receive: a stale resume token is dropped (zfs receive -A) with a log line, and the update goes on', async () => {
      await zfs(node, 'zfs', 'create', src('rs'));
      await writeRandom(node, src('rs'), 'a.bin', 128 * 1024);
      await pair('rs');
      ok(await site.run(['initialize', spec(dst('rs'))]));
      const [base] = await snapshots(node, src('rs'));
      // a receive cut off mid-way, from a snapshot that is then destroyed: its token leads nowhere
      await writeRandom(node, src('rs'), 'big.bin', 4 * MiB);
      await node.sh('zfs snapshot "$1@cut" && { zfs send -i "@$2" "$1@cut" | head -c 1000000 | zfs receive -s "$3" || true; } && zfs destroy "$1@cut"', [src('rs'), base!, dst('rs')]);
      expect(await prop(node, dst('rs'), 'receive_resume_token')).to.match(/^1-/);
      ok(await site.run(['update', spec(dst('rs'))]));
      expect(await site.log(fp(src('rs'), dst('rs')))).to.match(/dropping the partial receive on \S+: /);
      expect(await prop(node, dst('rs'), 'receive_resume_token')).to.equal('-');
      expect(await treeHash(node, dst('rs'))).to.deep.equal(await treeHash(node, src('rs')));
    });

    row('compressed', 'send -c -L -e: blocks compressed on the source arrive compressed under a parent with compression=off; receive -u -s -o readonly=on', async () => {
      await node.sh('zfs create -o compression=lz4 -o recordsize=1M "$1" && zfs create -o compression=off "$2"', [src('cmp'), `${pool}/bkoff`]);
      await node.sh('m=$(zfs get -H -o value mountpoint "$1") && yes "zettabee compresses this line" | head -c 8388608 > "$m/text"', [src('cmp')]);
      await pair('cmp', '', spec(src('cmp')), spec(`${pool}/bkoff/cmp`));
      const r = await site.run(['-d', 'initialize', spec(`${pool}/bkoff/cmp`)]);
      expect(r.code, r.stderr).to.equal(0);
      const log = await site.log(fp(src('cmp'), `${pool}/bkoff/cmp`));
      expect(log).to.match(/stream: zfs send -c -L -e \S+@zettabee\.\S+ \| zfs receive -u -s -o readonly=on /);
      expect(await prop(node, `${pool}/bkoff/cmp`, 'compression')).to.equal('off');
      expect(Number(await prop(node, `${pool}/bkoff/cmp`, 'compressratio'))).to.be.above(2);
      expect(await treeHash(node, `${pool}/bkoff/cmp`)).to.deep.equal(await treeHash(node, src('cmp')));
    });

    row('receive -u', "receive -u: a recursive stream's mountpoints never land on the destination host's paths; what lies below the destination is mounted", async () => {
      const where = `/srv/zb-${g.name}-${pool}`;
      await node.sh('zfs create "$1" && zfs create -o mountpoint="$3" "$1/home" && echo top > "$(zfs get -H -o value mountpoint "$1")/top.txt" && echo home > "$3/h.txt" && zfs create "$1/plain"', [src('mnt'), '', where]);
      await pair('mnt', 'recursive=yes');
      ok(await site.run(['initialize', spec(dst('mnt'))]));
      expect(await prop(node, `${dst('mnt')}/home`, 'mountpoint')).to.equal(where);
      expect(await prop(node, `${dst('mnt')}/home`, 'mounted')).to.equal('no');
      expect(await prop(node, dst('mnt'), 'mounted')).to.equal('yes');
      expect(await prop(node, `${dst('mnt')}/plain`, 'mounted')).to.equal('yes');
      // the source's own file system is still the one mounted there
      expect((await node.sh('cat "$1/h.txt"', [where])).trim()).to.equal('home');
      expect(await node.sh('findmnt -n -o SOURCE --target "$1"', [where]).then((o) => o.trim())).to.equal(`${src('mnt')}/home`);
    });

    row('props', 'props=yes, recv_exclude=mountpoint, recv_set="canmount=noauto,...": the properties arrive, the mountpoint stays the destination\'s own, canmount is set on arrival; an update carries a changed property; a dry run estimates the size', async () => {
      const where = `/srv/zb-props-${g.name}-${pool}`;
      await node.sh('zfs create -o mountpoint="$2" -o compression=lz4 -o com.example:owner=dba "$1" && head -c 262144 /dev/urandom > "$2/data.bin"', [src('pr'), where]);
      await pair('pr', 'props=yes,recv_exclude=mountpoint,recv_set="canmount=noauto,com.example:site=backup"');
      ok(await site.run(['initialize', spec(dst('pr'))]));
      const f = fp(src('pr'), dst('pr'));
      expect(await site.log(f)).to.match(/plan: stream ssh: zfs send -p .* \| zfs receive -u -s -o canmount=noauto -o com\.example:site=backup -o readonly=on -x mountpoint /);
      expect(await prop(node, dst('pr'), 'com.example:owner')).to.equal('dba');
      expect(await prop(node, dst('pr'), 'compression')).to.equal('lz4');
      expect(await prop(node, dst('pr'), 'com.example:site')).to.equal('backup');
      expect(await prop(node, dst('pr'), 'canmount')).to.equal('noauto');
      expect(await prop(node, dst('pr'), 'readonly')).to.equal('on');
      expect(await prop(node, dst('pr'), 'mountpoint')).to.equal(`${await prop(node, `${pool}/bk`, 'mountpoint')}/ftpr`);
      await node.sh('zfs set com.example:owner=ops "$1" && head -c 131072 /dev/urandom > "$2/more.bin" && sync && zpool sync', [src('pr'), where]);
      const dry = await site.run(['update', '-n', spec(dst('pr'))]);
      expect(dry.code, dry.stderr).to.equal(0);
      expect(dry.stdout, dry.stdout).to.match(/^ {2}the stream would carry about \d+(\.\d+)? KiB: what the source has written since @zettabee\.\S+ \(zfs get\)$/m);
      ok(await site.run(['update', spec(dst('pr'))]));
      expect(await prop(node, dst('pr'), 'com.example:owner')).to.equal('ops');
      expect(await prop(node, dst('pr'), 'canmount')).to.equal('noauto');
      await zfs(node, 'zfs', 'mount', dst('pr'));
      expect(await treeHash(node, dst('pr'))).to.deep.equal(await treeHash(node, src('pr')));
    });

    row('size estimate', 'size estimate: an update the destination has no room for is refused at once with the numbers; runstatus shows percent and ETA', async () => {
      const small = await node.createPool('small', { small: true });
      await zfs(node, 'zfs', 'create', src('sp'));
      await writeRandom(node, src('sp'), 'a.bin', 256 * 1024);
      await pair('sp', '', spec(src('sp')), spec(`${small}/sp`));
      ok(await site.run(['initialize', spec(`${small}/sp`)]));
      const f = fp(src('sp'), `${small}/sp`);
      const before = await snapshots(node, src('sp'));
      await writeRandom(node, src('sp'), 'big.bin', 56 * MiB);
      const t0 = Date.now();
      const r = await site.run(['update', spec(`${small}/sp`)]);
      const seconds = (Date.now() - t0) / 1000;
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr, r.stderr).to.match(/the stream needs about 5\d(\.\d+)? MiB \(zfs send -nvP\), but \S+ on .+ has only [\d.]+ (MiB|KiB) available; nothing was sent/);
      expect(await snapshots(node, src('sp'))).to.deep.equal(before);
      expect(pairSnaps(await snapshots(node, `${small}/sp`), f)).to.have.length(1);
      console.log(`      refused in ${seconds.toFixed(1)} s`);

      // runstatus follows a slow update (bwlimit) with the estimate
      await zfs(node, 'zfs', 'create', src('pg'));
      await pair('pg', 'bwlimit=2M');
      ok(await site.run(['initialize', spec(dst('pg'))]));
      await writeRandom(node, src('pg'), 'p.bin', 6 * MiB);
      const child = site.spawnDetached!(['update', spec(dst('pg'))]);
      await sleep(1500);
      const follow = await site.run(['runstatus', spec(dst('pg')), '--interval', '1'], { timeoutMs: 120_000 });
      const done = await child;
      expect(done.exitCode, String(done.stderr)).to.equal(0);
      expect(follow.code, follow.stderr).to.equal(0);
      expect(follow.stdout).to.match(/\d+% of 6(\.\d+)? MiB/);
      expect(follow.stdout).to.match(/ETA \d/);
    });

    row('holders', 'retention that cannot destroy a snapshot someone else holds warns with the holder (zfs holds) and how to release it', async () => {
      await zfs(node, 'zfs', 'create', src('hd'));
      await writeRandom(node, src('hd'), 'a.bin', 64 * 1024);
      await pair('hd', 'keep=0');
      ok(await site.run(['initialize', spec(dst('hd'))]));
      const [first] = await snapshots(node, dst('hd'));
      await zfs(node, 'zfs', 'hold', 'keepme', `${dst('hd')}@${first}`);
      await writeRandom(node, src('hd'), 'b.bin', 64 * 1024);
      const r = await site.run(['update', spec(dst('hd'))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr, r.stderr).to.contain(`held by keepme: zfs release keepme ${dst('hd')}@${first}`);
      expect(await snapshots(node, dst('hd'))).to.include(first);
    });

    if (flavour === '2.3') {
      it('a stream 2.1 cannot receive (file names over 255 bytes, longname=on) is refused before sending, with the reason', async () => {
        const target = `${await poolOn(n.oz21, 'dst')}/bk/longname`;
        await node.sh('zfs create -o longname=on "$1" && touch "$(zfs get -H -o value mountpoint "$1")/$(printf "n%.0s" $(seq 300))"', [src('ln')]);
        await pair('ln', '', spec(src('ln')), `${n.guests['2.1'].address}:${target}`);
        const before = await snapshots(node, src('ln'));
        const r = await site.run(['initialize', `${n.guests['2.1'].address}:${target}`]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr, r.stderr).to.contain('allows file names longer than 255 bytes (longname=on), but the destination\'s pool has no feature@longname');
        expect(await snapshots(node, src('ln'))).to.deep.equal(before);
        expect(await exists(n.oz21, target)).to.equal(false);
        pairs.delete('ln');
        await writePairs();
      });
    }

    describe('transport=mbuffer into the guest', () => {
      row('mbuffer from zfs-fuse', 'from zfs-fuse on this machine to the guest, through a forwarded port: initialize and update, identical data', async () => {
        const fusePool = await poolOn(n.fuse, 'src');
        const s = `${fusePool}/mbin${flavour.replace('.', '')}`;
        await zfs(n.fuse, 'zfs', 'create', s);
        await writeRandom(n.fuse, s, 'a.bin', 2 * MiB);
        const port = await freePort();
        await g.forward(port);
        try {
          // the guest sees this machine's connection come from 10.0.2.2; this machine reaches the guest's port at 127.0.0.1
          await pair('mbin', `transport=mbuffer,port=${port},accept=10.0.2.2,connect=127.0.0.1`, s, spec(dst('mbin')));
          ok(await site.run(['initialize', spec(dst('mbin'))]));
          await writeRandom(n.fuse, s, 'b.bin', 1 * MiB);
          ok(await site.run(['update', spec(dst('mbin'))]));
          expect(await treeHash(node, dst('mbin'))).to.deep.equal(await treeHash(n.fuse, s));
        } finally {
          await g.unforward(port);
        }
      });

      row('mbuffer between the guests', `between the guests, OpenZFS ${flavour} to ${flavour === '2.1' ? '2.3' : '2.1'} (10.0.2.2 and a forwarded port): initialize and update, identical data`, async () => {
        const other = flavour === '2.1' ? n.guests['2.3'] : n.guests['2.1'];
        const otherNode = flavour === '2.1' ? n.oz23 : n.oz21;
        const otherPool = await poolOn(otherNode, 'dst');
        const target = `${otherPool}/bk/mbx${flavour.replace('.', '')}`;
        await zfs(node, 'zfs', 'create', src('mbx'));
        await writeRandom(node, src('mbx'), 'a.bin', 2 * MiB);
        const port = await freePort();
        await other.forward(port);
        try {
          await pair('mbx', `transport=mbuffer,port=${port},accept=10.0.2.2,connect=10.0.2.2`, spec(src('mbx')), `${other.address}:${target}`);
          ok(await site.run(['initialize', `${other.address}:${target}`]));
          await writeRandom(node, src('mbx'), 'b.bin', 1 * MiB);
          ok(await site.run(['update', `${other.address}:${target}`]));
          expect(await treeHash(otherNode, target)).to.deep.equal(await treeHash(node, src('mbx')));
        } finally {
          await other.unforward(port);
        }
      });
    });
  });
}

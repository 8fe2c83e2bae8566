// The rows of the replication matrix: where the source and the destination
// live, and where zettabee runs. The same test bodies run on every row.
import { fingerprint } from '../../../src/domain/fingerprint.js';
import { getFuse, getNodes, guestSite, hostSite, sshKeys, tag, zfs, type TestSite, type ZfsNode } from './nodes.js';

export interface World {
  name: string;
  src: ZfsNode;
  dst: ZfsNode;
  site: TestSite;
  /** pools this world may use (shared with other worlds on the same node) */
  srcPool: string;
  dstPool: string;
  /** a tag that makes this world's dataset names unique */
  tag: string;
  /** the pairs-file line of a pair of this world, with its keys */
  line(sds: string, dds: string, keys?: string): string;
  /** the fingerprint of that pair */
  fp(sds: string, dds: string): string;
  /** the DEST argument that names it */
  dest(dds: string): string;
  /** zettabee runs on this machine (so it can be killed from here) */
  hostRunner: boolean;
  /** the ssh keys of the pair, '' for a local pair */
  keys: string;
}

const pools = new Map<string, Promise<string>>();

/**
 * The pool a world uses on a node, one per node and test process, shared by
 * its worlds: sources under <pool>/<tag>, destinations under <pool>/bk.
 * On zfs-fuse one pool per role (the bed's pools are small files).
 */
export function poolOn(node: ZfsNode, role: 'src' | 'dst'): Promise<string> {
  const key = node.kind === 'fuse' ? `fuse ${role}` : node.label;
  let p = pools.get(key);
  if (!p) {
    p = (async () => {
      const name = await node.createPool(node.kind === 'fuse' ? `mx${role}` : 'mx');
      await zfs(node, 'zfs', 'create', '-p', `${name}/bk`);
      return name;
    })();
    pools.set(key, p);
  }
  return p;
}

type Where = 'here' | 'fuse-ssh' | 'oz21' | 'oz23';

/** how a pairs file on the runner names a dataset, and the host part of its fingerprint */
function spelling(where: Where, ds: string, runnerIsGuest: boolean): { text: string; host: string } {
  if (where === 'here' || runnerIsGuest) return { text: ds, host: 'localhost' };
  if (where === 'fuse-ssh') return { text: `127.0.0.1:${ds}`, host: '127.0.0.1' };
  const address = where === 'oz21' ? '127.0.0.2' : '127.0.0.3';
  return { text: `${address}:${ds}`, host: address };
}

function world(name: string, src: ZfsNode, dst: ZfsNode, site: TestSite, srcPool: string, dstPool: string, where: [Where, Where], keys: string): World {
  const guestRunner = site.where !== 'this machine';
  const [sw, dw] = where;
  return {
    name,
    src,
    dst,
    site,
    srcPool,
    dstPool,
    tag: `w${tag(name)}`,
    hostRunner: !guestRunner,
    keys,
    line: (sds, dds, extra) => {
      const k = [keys, extra].filter(Boolean).join(',');
      return `${spelling(sw, sds, guestRunner).text}  ${spelling(dw, dds, guestRunner).text}${k ? `  ${k}` : ''}`;
    },
    fp: (sds, dds) => fingerprint(spelling(sw, sds, guestRunner).host, sds, spelling(dw, dds, guestRunner).host, dds),
    dest: (dds) => spelling(dw, dds, guestRunner).text,
  };
}

export type WorldName =
  | 'zfs-fuse'
  | 'OpenZFS 2.1'
  | 'OpenZFS 2.3'
  | 'OpenZFS 2.1, zettabee in the guest'
  | 'OpenZFS 2.3, zettabee in the guest'
  | 'zfs-fuse to OpenZFS 2.1'
  | 'zfs-fuse to OpenZFS 2.3'
  | 'OpenZFS 2.1 to 2.3'
  | 'OpenZFS 2.3 to 2.1';

/** a world by name, with its site made (zettabee installed in the guest where it runs there) */
export async function makeWorld(name: WorldName): Promise<World> {
  if (name === 'zfs-fuse') {
    const { bed, fuse } = await getFuse();
    // a push over the bed's sshd: a remote destination, like the OpenZFS rows
    return world(name, fuse, fuse, hostSite(bed), await poolOn(fuse, 'src'), await poolOn(fuse, 'dst'), ['here', 'fuse-ssh'], sshKeys(bed));
  }
  const { bed, fuse, oz21, oz23, guests } = await getNodes();
  const g21 = guests['2.1'];
  const g23 = guests['2.3'];
  const on = async (src: ZfsNode, dst: ZfsNode) => [await poolOn(src, 'src'), await poolOn(dst, 'dst')] as const;
  switch (name) {
    case 'OpenZFS 2.1':
      return world(name, oz21, oz21, hostSite(bed), ...(await on(oz21, oz21)), ['oz21', 'oz21'], g21.sshKeys);
    case 'OpenZFS 2.3':
      return world(name, oz23, oz23, hostSite(bed), ...(await on(oz23, oz23)), ['oz23', 'oz23'], g23.sshKeys);
    case 'OpenZFS 2.1, zettabee in the guest':
      return world(name, oz21, oz21, await guestSite(g21), ...(await on(oz21, oz21)), ['oz21', 'oz21'], '');
    case 'OpenZFS 2.3, zettabee in the guest':
      return world(name, oz23, oz23, await guestSite(g23), ...(await on(oz23, oz23)), ['oz23', 'oz23'], '');
    case 'zfs-fuse to OpenZFS 2.1':
      return world(name, fuse, oz21, hostSite(bed), ...(await on(fuse, oz21)), ['here', 'oz21'], g21.sshKeys);
    case 'zfs-fuse to OpenZFS 2.3':
      return world(name, fuse, oz23, hostSite(bed), ...(await on(fuse, oz23)), ['here', 'oz23'], g23.sshKeys);
    case 'OpenZFS 2.1 to 2.3':
      // both guests share one ssh port and key: one pairs-file line names both
      return world(name, oz21, oz23, hostSite(bed), ...(await on(oz21, oz23)), ['oz21', 'oz23'], g21.sshKeys);
    case 'OpenZFS 2.3 to 2.1':
      return world(name, oz23, oz21, hostSite(bed), ...(await on(oz23, oz21)), ['oz23', 'oz21'], g23.sshKeys);
  }
}

/**
 * A test file's datasets and pairs in the world `get` returns (made in its
 * before hook): sources <srcPool>/<tag><n>, destinations
 * <dstPool>/bk/<tag><n>, and pair(n) writes the pairs file with every pair
 * the file added so far (a pairs file is one file).
 */
export function pairsIn(get: () => World): { s(n: string): string; d(n: string): string; pair(n: string, keys?: string): Promise<void>; lines: Map<string, string> } {
  const s = (n: string) => `${get().srcPool}/${get().tag}${n}`;
  const d = (n: string) => `${get().dstPool}/bk/${get().tag}${n}`;
  const lines = new Map<string, string>();
  return {
    s,
    d,
    lines,
    pair: async (n, keys = '') => {
      lines.set(n, get().line(s(n), d(n), keys));
      await get().site.writePairs([...lines.values()]);
    },
  };
}

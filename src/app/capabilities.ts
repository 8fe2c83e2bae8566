// What each end's zfs can do, probed once and remembered in the pair's status
// record for a day: an update then costs no probe commands at all.
import { ActionError } from '../errors.js';
import type { Host } from '../exec/host.js';
import { noZfsCapabilities, probeCapabilities, type Capabilities } from '../zfs/probe.js';
import type { PairRun } from './pair-run.js';

const MAX_AGE_MS = 24 * 3600 * 1000;

/** what a probe answers today: a record of an older zettabee that lacks some of it is probed again */
const KNOWN = Object.keys(noZfsCapabilities());

function complete(c: Capabilities): boolean {
  return KNOWN.every((k) => k in c);
}

interface Cached {
  host: string;
  pool: string;
  probed: string;
  caps: Capabilities;
}

export interface BothCapabilities {
  source: Capabilities;
  destination: Capabilities;
}

function poolOf(ds: string): string {
  return ds.split('/')[0]!;
}

export async function side(run: PairRun, which: 'source' | 'destination', host: Host, fresh: boolean): Promise<Capabilities> {
  const ds = run.pair[which].dataset;
  const pool = poolOf(ds);
  const store = (run.cache.capabilities ??= {}) as Record<string, Cached | undefined>;
  const c = store[which];
  const now = run.now().getTime();
  if (!fresh && c && c.host === host.name && c.pool === pool && now - Date.parse(c.probed) < MAX_AGE_MS && complete(c.caps)) return c.caps;
  const caps = await probeCapabilities(host, pool);
  if (!caps.zfsPresent) throw new ActionError(`zfs is not available on the ${which} host ${host.name}`, caps.notes.join('; ') || 'install ZFS there, or put zfs on the PATH of the ssh user');
  if (!caps.poolExists) throw new ActionError(`pool ${pool} is not imported on the ${which} host ${host.name}`, 'check the pairs file, or import the pool (zpool import)');
  store[which] = { host: host.name, pool, probed: new Date(now).toISOString(), caps };
  return caps;
}

/** both ends' capabilities; `fresh` probes even when a recent answer is cached */
export async function capabilities(run: PairRun, fresh = false): Promise<BothCapabilities> {
  const [source, destination] = await Promise.all([side(run, 'source', run.src, fresh), side(run, 'destination', run.dst, fresh)]);
  return { source, destination };
}

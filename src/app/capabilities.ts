// What each end's zfs can do, probed once and remembered in the pair's status
// record for a day (the daemon: a few hours, and again after a failed run):
// an update then costs no probe commands at all.
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

export interface Cached {
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

/**
 * whether a cached probe answer may stand in for a probe now: the same host
 * and pool, complete, younger than the policy's age (a day by default), and
 * (with afterFailure, the daemon's) the pair's last run did not fail
 */
export function cachedStillGood(
  c: Cached | undefined,
  host: string,
  pool: string,
  now: number,
  policy: { maxAgeMs: number; afterFailure: boolean } | undefined,
  lastResult: string | undefined,
): boolean {
  if (!c || c.host !== host || c.pool !== pool || !complete(c.caps)) return false;
  if (policy?.afterFailure && lastResult === 'failed') return false;
  return now - Date.parse(c.probed) < (policy?.maxAgeMs ?? MAX_AGE_MS);
}

function store(run: PairRun): Record<string, Cached | undefined> {
  return (run.cache.capabilities ??= {}) as Record<string, Cached | undefined>;
}

/**
 * one end's capabilities: cached, or `known` (the other end's record, the
 * same login and pool: it keeps its time of probing), or probed now
 */
export async function side(run: PairRun, which: 'source' | 'destination', host: Host, fresh: boolean, known?: Cached): Promise<Capabilities> {
  const ds = run.pair[which].dataset;
  const pool = poolOf(ds);
  const c = store(run)[which];
  const now = run.now().getTime();
  if (!fresh && cachedStillGood(c, host.name, pool, now, run.deps.probe, run.status.run?.result)) return c!.caps;
  if (known) {
    store(run)[which] = { ...known };
    return known.caps;
  }
  const caps = await probeCapabilities(host, pool);
  if (!caps.zfsPresent) throw new ActionError(`zfs is not available on the ${which} host ${host.name}`, caps.notes.join('; ') || 'install ZFS there, or put zfs on the PATH of the ssh user');
  if (!caps.poolExists) throw new ActionError(`pool ${pool} is not imported on the ${which} host ${host.name}`, 'check the pairs file, or import the pool (zpool import)');
  store(run)[which] = { host: host.name, pool, probed: new Date(now).toISOString(), caps };
  return caps;
}

/** both ends' capabilities; `fresh` probes even when a recent answer is cached */
export async function capabilities(run: PairRun, fresh = false): Promise<BothCapabilities> {
  // both ends one login (one Host: same address, port, user and key) and one
  // pool, a pair within a pool: one probe answers for both
  if (run.src === run.dst && poolOf(run.pair.source.dataset) === poolOf(run.pair.destination.dataset)) {
    const source = await side(run, 'source', run.src, fresh);
    return { source, destination: await side(run, 'destination', run.dst, fresh, store(run).source) };
  }
  const [source, destination] = await Promise.all([side(run, 'source', run.src, fresh), side(run, 'destination', run.dst, fresh)]);
  return { source, destination };
}

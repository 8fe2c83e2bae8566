// purge: retire a pair. Its snapshots go from the source, its properties
// from both sides, its status and lock files from this machine. The
// destination dataset stays, and its snapshots too unless asked.
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { pairSnapshots } from '../domain/plan.js';
import { ActionError } from '../errors.js';
import type { Host, RunResult } from '../exec/host.js';
import { Hosts } from '../exec/hosts.js';
import { PairLock } from '../state/lock.js';
import type { PairLogs } from '../state/log.js';
import { removeStatus } from '../state/status.js';
import * as zargv from '../zfs/argv.js';
import { classifyZfsError } from '../zfs/classify.js';
import { getProps, listSnapshots, userProp, ZfsFailure } from '../zfs/ops.js';
import { FINGERPRINT_PROP, holdTag, pairProps } from './replicate.js';

export interface PurgeOptions {
  settings: Settings;
  hosts: Hosts;
  logs: PairLogs;
  destinationSnapshots: boolean;
  /** shown the plan; resolves true to go ahead */
  confirm: (plan: string[]) => Promise<boolean>;
  /** return the plan's lines and do nothing (purge --dry-run) */
  dryRun?: boolean;
}

interface SideWork {
  host: Host;
  where: string;
  argvs: string[][];
}

function describeFailure(argv: readonly string[], r: RunResult): string {
  return `\`${argv.join(' ')}\`: ${classifyZfsError(r.stderr, r.exitCode, r.stdout).message}`;
}

/** returns the lines of what was done (of what would be done, with dryRun) */
export async function purgePair(pair: Pair, o: PurgeOptions): Promise<string[]> {
  const fp = pair.fingerprint;
  const log = o.logs.for(fp);
  const lock = await PairLock.acquire(o.settings, fp, { action: 'purge', label: pair.label, recoverStale: false });
  let released = false;
  try {
    const src = o.hosts.for(pair.source, pair);
    const dst = o.hosts.for(pair.destination, pair);
    const sds = pair.source.dataset;
    const dds = pair.destination.dataset;
    const props = pairProps(fp);
    const tag = holdTag(fp);
    const recursive = Boolean(pair.options.recursive);
    let srcList, dstList, dstProps;
    try {
      [srcList, dstList, dstProps] = await Promise.all([listSnapshots(src, sds), listSnapshots(dst, dds), getProps(dst, dds, [FINGERPRINT_PROP])]);
    } catch (e) {
      if (e instanceof ZfsFailure) throw new ActionError(`cannot look at the pair: ${e.message}; nothing was changed`, e.zfs.hint);
      throw e;
    }
    const plan: string[] = [];
    const work: SideWork[] = [];
    const srcHost = Hosts.describe(pair.source, pair);
    const dstHost = Hosts.describe(pair.destination, pair);
    if (srcList) {
      const snaps = pairSnapshots(fp, srcList.snapshots);
      const argvs: string[][] = [];
      for (const s of snaps) {
        argvs.push(zargv.release(tag, [`${sds}@${s.snapshot}`], { recursive }), zargv.destroy(`${sds}@${s.snapshot}`, { recursive }));
      }
      for (const p of Object.values(props)) argvs.push(zargv.inheritProp(p, sds));
      plan.push(`destroy ${snaps.length} snapshot${snaps.length === 1 ? '' : 's'} of this pair on the source ${sds} (${srcHost})${snaps.length ? `: ${snaps.map((s) => `@${s.snapshot}`).join(' ')}` : ''}`);
      plan.push(`remove the zettabee:${fp}:* properties from ${sds}`);
      work.push({ host: src, where: `source ${srcHost}`, argvs });
    } else {
      plan.push(`the source ${sds} does not exist on ${srcHost}: nothing to do there`);
    }
    if (dstList) {
      const snaps = pairSnapshots(fp, dstList.snapshots);
      const argvs: string[][] = [];
      for (const s of snaps) {
        argvs.push(zargv.release(tag, [`${dds}@${s.snapshot}`], { recursive }));
        if (o.destinationSnapshots) argvs.push(zargv.destroy(`${dds}@${s.snapshot}`, { recursive }));
      }
      for (const p of Object.values(props)) argvs.push(zargv.inheritProp(p, dds));
      if (userProp(dstProps ?? null, FINGERPRINT_PROP) === fp) argvs.push(zargv.inheritProp(FINGERPRINT_PROP, dds));
      plan.push(
        o.destinationSnapshots
          ? `destroy ${snaps.length} snapshot${snaps.length === 1 ? '' : 's'} of this pair on the destination ${dds} (${dstHost}); ${dds} itself stays`
          : `keep the destination ${dds} (${dstHost}) and its snapshots; release this pair's holds there`,
      );
      plan.push(`remove the zettabee properties of this pair from ${dds}`);
      work.push({ host: dst, where: `destination ${dstHost}`, argvs });
    } else {
      plan.push(`the destination ${dds} does not exist on ${dstHost}: nothing to do there`);
    }
    plan.push(`remove the status and lock files of ${fp} (the log file stays)`);
    if (o.dryRun) return plan;
    if (!(await o.confirm(plan))) throw new ActionError('not confirmed; nothing was changed');

    log.warn(`purge START (pid ${process.pid})`);
    const problems: string[] = [];
    await Promise.all(
      work.map(async (w) => {
        const results = await w.host.batch(w.argvs);
        results.forEach((r, i) => {
          const argv = w.argvs[i]!;
          if (r.exitCode === 0) {
            log.info(`purge: ${argv.join(' ')} on ${w.host.name}`);
            return;
          }
          const kind = classifyZfsError(r.stderr, r.exitCode, r.stdout).kind;
          if (argv[1] === 'release' && (kind === 'noSuchTag' || kind === 'datasetMissing')) return;
          if (argv[1] === 'inherit' && kind === 'invalidProperty') return;
          problems.push(`${w.where}: ${describeFailure(argv, r)}`);
        });
      }),
    );
    if (problems.length) {
      problems.forEach((p) => log.error(`purge: ${p}`));
      throw new ActionError(`purge did not finish: ${problems.length} step${problems.length === 1 ? '' : 's'} failed; the status file is kept so purge can be run again`, 'fix the cause and run purge again', problems);
    }
    removeStatus(o.settings, fp);
    await lock.release();
    released = true;
    log.warn('purge END: the pair is retired; remove its line from the pairs file');
    return plan;
  } finally {
    if (!released) await lock.release();
  }
}

// failover, takeover and failback: the pair's roles reversed, recorded on
// both datasets (zettabee:<fp>:role, zettabee:<fp>:switched: see
// domain/direction.ts), so the same pairs-file line keeps working the other
// way round. Each is a plan of its own (steps as data): a dry run prints it,
// a run logs it and carries it out under the pair's lock.
//
// - failover: planned, both ends reachable. Source read-only, a final
//   update, the newest snapshots compared by guid, then the roles swapped. A
//   step that fails puts the starting state back (or, once the old source is
//   a destination, completes the reversal) and says which.
// - takeover: the source is gone. Only the destination is touched: its
//   partial receive dropped, made writable and the source, the takeover
//   recorded. check stays CRITICAL until the old source is dealt with.
// - failback: after a takeover the old source is back and both claim to be
//   the source (update refuses: split brain). What the old source wrote since
//   the common snapshot is kept (the dataset renamed aside, its copy at the
//   common snapshot cloned back in place), it becomes the destination, and
//   replication resumes. --discard rolls it back instead (destroys).
import { hostname } from 'node:os';
import type { Pair } from '../config/pairs.js';
import { endpointName, formatRole, formatSwitched, roleProps, type DirectionRecord, type Switched, type SwitchHow } from '../domain/direction.js';
import { stampOf } from '../domain/snapshot-name.js';
import type { SnapshotInfo } from '../domain/plan.js';
import { ActionError } from '../errors.js';
import type { Host, RunResult } from '../exec/host.js';
import { Hosts } from '../exec/hosts.js';
import { quoteArgv } from '../exec/quote.js';
import * as zargv from '../zfs/argv.js';
import { classifyZfsError } from '../zfs/classify.js';
import { getProps, getTreeProps, listDatasets, must, userProp } from '../zfs/ops.js';
import type { PropValue } from '../zfs/parse.js';
import { side } from './capabilities.js';
import { PairError, runPairAction, withPairReadOnly, type EngineDeps, type Outcome, type PairRun } from './pair-run.js';
import {
  commonSnapshot,
  describePlan,
  executeUpdate,
  FINGERPRINT_PROP,
  gatherOriented,
  gatherUpdate,
  lastSnapshotOf,
  markOf,
  orient,
  orientationOf,
  pairProps,
  planUpdateRun,
  step,
  type UpdateState,
} from './replicate.js';

/** what a switch did, for the command to print */
export interface Switch {
  lines: string[];
}

/** one step of a switch's plan: where it runs, what it says, its commands */
interface SwitchStep {
  where: 'source' | 'destination';
  text: string;
  argvs: string[][];
}

function hostOf(run: PairRun, where: 'source' | 'destination'): Host {
  return where === 'source' ? run.src : run.dst;
}

function where(run: PairRun, w: 'source' | 'destination'): string {
  return `${w} ${Hosts.describe(run.pair[w], run.pair)}`;
}

function stepLines(run: PairRun, steps: readonly SwitchStep[]): string[] {
  return steps.map((s) => `on the ${where(run, s.where)}: ${s.text}${s.argvs.length ? `: ${s.argvs.map((a) => (a[0] === 'sh' ? `(${a[3]} ${a.slice(4).join(' ')})` : quoteArgv(a))).join('; ')}` : ''}`);
}

async function runStep(run: PairRun, s: SwitchStep): Promise<RunResult[]> {
  run.log.info(`${s.text} on the ${where(run, s.where)}`);
  const host = hostOf(run, s.where);
  const out: RunResult[] = [];
  for (const a of s.argvs) out.push(await step(`${s.text}: cannot run ${a[0] === 'sh' ? a[3] : a.slice(0, 2).join(' ')} on ${Hosts.describe(run.pair[s.where], run.pair)}`, must(host, a)));
  return out;
}

function switched(run: PairRun, how: SwitchHow): Switched {
  return { how, at: run.now().toISOString().replace(/\.\d{3}Z$/, 'Z'), host: hostname() };
}

/** the commands that give a dataset its role */
function markArgvs(run: PairRun, ds: string, role: 'source' | 'destination', s: Switched, many: boolean): string[][] {
  const fp = run.pair.fingerprint;
  const names = roleProps(fp);
  const props: Record<string, string> = { [names.role]: formatRole(role, ds), [names.switched]: formatSwitched(s) };
  if (role === 'destination') Object.assign(props, { readonly: 'on', [FINGERPRINT_PROP]: fp });
  return [...(many ? [zargv.setPropsAtOnce(ds, props)] : zargv.setProps(ds, props)), ...(role === 'source' ? [zargv.makeWritable(ds, Boolean(run.pair.options.recursive))] : [])];
}

/** `readonly` as it was on a side, to put back: its own value, or inherited */
function readonlyRestore(ds: string, p: PropValue | undefined): string[] {
  return p?.source === 'local' ? zargv.setProp(ds, 'readonly', p.value) : zargv.inheritProp('readonly', ds);
}

function direction(run: PairRun, s: Switched, extra: Partial<DirectionRecord> = {}): DirectionRecord {
  // the copy an earlier failback kept stays known (retention leaves its origin alone) until a new one replaces it
  const kept = run.status.direction?.kept;
  return { reversed: Boolean(run.reversed), since: s.at, how: s.how, host: s.host, ...(kept ? { kept } : {}), ...extra };
}

function now(run: PairRun): string {
  return `${endpointName(run.pair.source)} -> ${endpointName(run.pair.destination)}`;
}

// ---------------------------------------------------------------------------
// failover

interface FailoverPlan {
  /** the run as it goes now (src: the source to retire) */
  run: PairRun;
  /** the turned run, once it is done */
  after: PairRun;
  freeze: SwitchStep;
  update: string[];
  demote: SwitchStep;
  promote: SwitchStep;
  mount: SwitchStep;
  /** how the source's readonly is put back when the switch is undone */
  undo: SwitchStep;
  switched: Switched;
}

async function planFailover(frame: PairRun): Promise<{ plan: FailoverPlan; g: UpdateState }> {
  const { run, g } = await gatherOriented(frame);
  const { pair } = run;
  if (!run.status.lastSnapshot && g.dstList.snapshots.length === 0) throw new PairError('the pair is not initialized', `run: zettabee initialize ${pair.label}`);
  const sds = pair.source.dataset;
  const dds = pair.destination.dataset;
  const srcProps = await step(`cannot read ${sds} on ${Hosts.describe(pair.source, pair)}`, getProps(run.src, sds, ['readonly']));
  const s = switched(run, 'failover');
  const after = orient(frame, !run.reversed);
  const recursive = Boolean(pair.options.recursive);
  const plan: FailoverPlan = {
    run,
    after,
    switched: s,
    freeze: { where: 'source', text: `make ${sds} read-only (no new writes)`, argvs: [zargv.makeReadonly(sds, recursive)] },
    update: describePlan(planUpdateRun(run, g), run),
    demote: { where: 'source', text: `mark ${sds} as the destination`, argvs: markArgvs(run, sds, 'destination', s, g.caps.source.setMany) },
    promote: { where: 'destination', text: `mark ${dds} as the source and make it writable`, argvs: markArgvs(run, dds, 'source', s, g.caps.destination.setMany) },
    mount: { where: 'destination', text: `mount ${dds}${recursive ? ' and the file systems below it' : ''} where its mountpoint says`, argvs: [zargv.mountHere(dds, recursive)] },
    undo: { where: 'source', text: `put readonly back on ${sds}`, argvs: [readonlyRestore(sds, srcProps?.get('readonly'))] },
  };
  return { plan, g };
}

function failoverLines(p: FailoverPlan): string[] {
  const { run } = p;
  return [
    `now: ${now(run)}; after the failover: ${now(p.after)}`,
    ...stepLines(run, [p.freeze]),
    'a final update:',
    ...p.update.map((l) => `  ${l}`),
    `check that the newest snapshot of ${run.pair.source.dataset}${run.pair.options.recursive ? ' and of each file system below it' : ''} has the same guid on both sides`,
    ...stepLines(run, [p.demote, p.promote, p.mount]),
    `record the direction in the status file: ${now(p.after)}`,
  ];
}

/** the newest snapshot of every dataset of the pair has the same guid on both sides, or why not */
async function sameNewest(run: PairRun, g: UpdateState): Promise<string | null> {
  const { pair } = run;
  const recursive = Boolean(pair.options.recursive);
  const [a, b] = await Promise.all([
    step('cannot list the source', listDatasets(run.src, pair.source.dataset, { wholeTree: recursive, parsable: g.caps.source.listParsable })),
    step('cannot list the destination', listDatasets(run.dst, pair.destination.dataset, { wholeTree: recursive, parsable: g.caps.destination.listParsable })),
  ]);
  for (const [name, l] of a ?? []) {
    const there = b?.get(pair.destination.dataset + name.slice(pair.source.dataset.length));
    const x = l.snapshots[l.snapshots.length - 1];
    const y = there?.snapshots[there.snapshots.length - 1];
    if (!x || !y || x.guid !== y.guid) return `${name}: newest @${x?.snapshot ?? 'none'} (guid ${x?.guid ?? '-'}) on the source, @${y?.snapshot ?? 'none'} (guid ${y?.guid ?? '-'}) on the destination`;
  }
  return null;
}

export function failoverDryRun(pair: Pair, deps: EngineDeps): Promise<Switch> {
  return withPairReadOnly(pair, deps, 'failover', async (frame) => ({ lines: failoverLines((await planFailover(frame)).plan) }));
}

export function failoverPair(pair: Pair, deps: EngineDeps): Promise<Outcome & Switch> {
  let lines: string[] = [];
  return runPairAction(pair, deps, 'failover', async (frame) => {
    const { plan } = await planFailover(frame);
    const { run, after } = plan;
    for (const l of failoverLines(plan)) run.log.info(`plan: ${l}`);
    // 1-4: freeze, final update, compare; a failure puts the source's readonly back
    let outcome: Outcome;
    let demoted = false;
    try {
      await runStep(run, plan.freeze);
      const g = await gatherUpdate(run);
      outcome = await executeUpdate(run, planUpdateRun(run, g));
      const differs = await sameNewest(run, g);
      if (differs) throw new ActionError(`after the final update the two sides differ: ${differs}`);
      await runStep(run, plan.demote);
      demoted = true;
      await runStep(run, plan.promote);
    } catch (e) {
      throw await undoFailover(run, plan, demoted, e);
    }
    frame.setDirection(direction(after, plan.switched));
    const notMounted = (await runStep(after, { ...plan.mount, where: 'source' }).catch(() => [] as RunResult[]))[0]?.stdout.split('\n').filter(Boolean) ?? [];
    const warnings = notMounted.length ? [`${notMounted.join(', ')} could not be mounted: mount ${notMounted.length === 1 ? 'it' : 'them'} by hand (zfs mount)`] : [];
    for (const w of warnings) run.log.warn(w);
    lines = [`done: ${now(after)} (the next update sends this way; failover again switches back)`];
    run.log.info(`failover: ${lines[0]}`);
    return { ...outcome, warnings: [...outcome.warnings, ...warnings] };
  }).then((o) => ({ ...o, lines }));
}

/** a failover step failed: put the start back (the source writable again), or say what state it is in */
async function undoFailover(run: PairRun, plan: FailoverPlan, demoted: boolean, e: unknown): Promise<unknown> {
  const why = e instanceof Error ? e.message : String(e);
  const sds = run.pair.source.dataset;
  const undo: SwitchStep[] = [];
  if (demoted) {
    const names = roleProps(run.pair.fingerprint);
    undo.push({ where: 'source', text: `mark ${sds} as the source again`, argvs: [zargv.setProp(sds, names.role, formatRole('source', sds))] });
  }
  undo.push(plan.undo);
  try {
    for (const s of undo) await runStep(run, s);
  } catch (u) {
    const message = `failover failed (${why}), and putting the start back failed too (${u instanceof Error ? u.message : String(u)}): ${sds} is read-only${demoted ? ' and marked as the destination; no side is the source' : ''}`;
    const hint = `fix the cause, then run zettabee failover ${run.pair.label} again, or make ${sds} writable by hand (zfs set readonly=off)`;
    return new PairError(message, hint, [], demoted ? 'Inconsistent' : undefined, demoted ? { kind: 'noSource', message, hint } : undefined);
  }
  const hint = e instanceof ActionError ? e.hint : undefined;
  return new ActionError(`failover failed: ${why}; restored the starting state: ${now(run)}, ${sds} writable again`, hint, e instanceof ActionError ? e.details : []);
}

// ---------------------------------------------------------------------------
// takeover

interface TakeoverPlan {
  run: PairRun;
  newest: SnapshotInfo;
  drop: SwitchStep | null;
  promote: SwitchStep;
  mount: SwitchStep;
  switched: Switched;
  lagging: string[];
}

async function planTakeover(frame: PairRun): Promise<TakeoverPlan> {
  // the source is not asked anything: it may be gone
  const run = orient(frame, frame.status.direction?.reversed ?? false);
  const { pair } = run;
  const dds = pair.destination.dataset;
  const dname = Hosts.describe(pair.destination, pair);
  const caps = await side(run, 'destination', run.dst, false);
  const recursive = Boolean(pair.options.recursive);
  const names = roleProps(pair.fingerprint);
  const [lists, props] = await Promise.all([
    step(`cannot list ${dds} on ${dname}`, listDatasets(run.dst, dds, { wholeTree: recursive, parsable: caps.listParsable })),
    step(`cannot read ${dds} on ${dname}`, getTreeProps(run.dst, dds, [names.role, names.switched, ...(caps.recvResumable ? ['receive_resume_token'] : [])], { tree: recursive && caps.sendRaw })),
  ]);
  const list = lists?.get(dds);
  if (!list) throw new PairError(`the destination ${dds} does not exist on ${dname}`, 'there is nothing to take over');
  const mark = markOf(pair.fingerprint, props?.get(dds) ?? null, dds);
  if (mark.role === 'source') {
    throw new PairError(`${dds} on ${dname} is the source already${mark.switched ? ` (${mark.switched.how} on ${mark.switched.host} at ${mark.switched.at})` : ''}`, `zettabee status ${pair.label} shows the direction`);
  }
  const newest = list.snapshots[list.snapshots.length - 1];
  if (!newest) throw new PairError(`${dds} on ${dname} has no snapshot: it never received one`, 'there is nothing to take over');
  const partial = [...(props ?? [])].filter(([, p]) => /^[0-9a-f]+-/.test(userProp(p, 'receive_resume_token') ?? '-')).map(([n]) => n);
  const lagging = recursive ? [...(lists ?? [])].filter(([n, l]) => n !== dds && !l.snapshots.some((x) => x.guid === newest.guid || x.snapshot === newest.snapshot)).map(([n]) => n) : [];
  const s = switched(run, 'takeover');
  return {
    run,
    newest,
    switched: s,
    lagging,
    drop: partial.length ? { where: 'destination', text: `drop the partial receive${partial.length === 1 ? '' : 's'} (what arrived after @${newest.snapshot} is incomplete)`, argvs: partial.map((n) => zargv.recvAbort(n)) } : null,
    promote: { where: 'destination', text: `mark ${dds} as the source at @${newest.snapshot} and make it writable`, argvs: markArgvs(run, dds, 'source', s, caps.setMany) },
    mount: { where: 'destination', text: `mount ${dds}${recursive ? ' and the file systems below it' : ''} where its mountpoint says`, argvs: [zargv.mountHere(dds, recursive)] },
  };
}

function takeoverLines(p: TakeoverPlan): string[] {
  const { run } = p;
  const taken = new Date(p.newest.creation * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [
    `the source ${endpointName(run.pair.source)} is not contacted; what it wrote after @${p.newest.snapshot} (taken ${taken}) is not on the destination`,
    ...(p.lagging.length ? [`warning: ${p.lagging.join(', ')} lack @${p.newest.snapshot} (a recursive receive stopped half-way): they stay at their own newest snapshot`] : []),
    ...stepLines(run, [...(p.drop ? [p.drop] : []), p.promote, p.mount]),
    `record the takeover in the status file: ${endpointName(run.pair.destination)} -> ${endpointName(run.pair.source)}, CRITICAL until the old source is back and zettabee failback ${run.pair.label} ran`,
  ];
}

export function takeoverDryRun(pair: Pair, deps: EngineDeps): Promise<Switch> {
  return withPairReadOnly(pair, deps, 'takeover', async (frame) => ({ lines: takeoverLines(await planTakeover(frame)) }));
}

export function takeoverPair(pair: Pair, deps: EngineDeps, confirm: (lines: string[]) => Promise<boolean>): Promise<Outcome & Switch> {
  let lines: string[] = [];
  return runPairAction(pair, deps, 'takeover', async (frame) => {
    const plan = await planTakeover(frame);
    const { run } = plan;
    const planned = takeoverLines(plan);
    if (!(await confirm(planned))) throw new ActionError('takeover not confirmed; nothing was done');
    for (const l of planned) run.log.info(`plan: ${l}`);
    if (plan.drop) await runStep(run, plan.drop);
    await runStep(run, plan.promote);
    const after = orient(frame, !run.reversed);
    frame.setDirection(direction(after, plan.switched, { unreached: endpointName(run.pair.source) }));
    const notMounted = (await runStep(run, plan.mount).catch(() => [] as RunResult[]))[0]?.stdout.split('\n').filter(Boolean) ?? [];
    const warnings = [
      ...plan.lagging.map((n) => `${n} stays at an older snapshot than @${plan.newest.snapshot} (a recursive receive stopped half-way)`),
      ...(notMounted.length ? [`${notMounted.join(', ')} could not be mounted: mount ${notMounted.length === 1 ? 'it' : 'them'} by hand (zfs mount)`] : []),
    ];
    for (const w of warnings) run.log.warn(w);
    lines = [
      `done: ${endpointName(run.pair.destination)} is the source at @${plan.newest.snapshot}, writable`,
      `when ${endpointName(run.pair.source)} is back, update refuses (split brain) until zettabee failback ${pair.label} makes it the destination, keeping what it wrote`,
    ];
    run.log.info(`takeover: ${lines[0]}`);
    const last = lastSnapshotOf(pair.fingerprint, (await listDatasets(run.dst, run.pair.destination.dataset))?.get(run.pair.destination.dataset)?.snapshots ?? []) ?? run.status.lastSnapshot;
    return { lastSnapshot: last ?? { name: plan.newest.snapshot, guid: plan.newest.guid, creation: plan.newest.creation }, bytes: 0, snapshot: plan.newest.snapshot, warnings };
  }).then((o) => ({ ...o, lines }));
}

// ---------------------------------------------------------------------------
// failback

interface FailbackPlan {
  /** oriented so that src is the side that took over, dst the side that rejoins */
  run: PairRun;
  common: SnapshotInfo;
  /** what the rejoining side wrote since the common snapshot, in words */
  diverged: string[];
  /** the rejoining side's steps, in order */
  steps: SwitchStep[];
  /** where its divergent history is kept (none: nothing to keep, or --discard) */
  kept?: string;
  switched: Switched;
}

async function planFailback(frame: PairRun, discard: boolean): Promise<FailbackPlan> {
  const first = orient(frame, frame.status.direction?.reversed ?? false);
  const g0 = await gatherUpdate(first);
  const o = orientationOf(first, g0.marks);
  const { pair } = frame;
  if (o.kind !== 'splitBrain') {
    const now = o.kind === 'reversed' ? orient(frame, true) : o.kind === 'forward' ? frame : first;
    throw new PairError(
      o.kind === 'noSource' ? 'no side is the source: failback needs one that took over' : `there is no split brain to resolve: ${endpointName(now.pair.source)} is the source, ${endpointName(now.pair.destination)} the destination`,
      o.kind === 'noSource' ? `see zettabee update ${pair.label} for what to do` : `zettabee update ${pair.label} replicates; zettabee failover ${pair.label} switches the roles`,
    );
  }
  if (o.tookOver === 'unknown') {
    throw new PairError('both sides are sources, and neither says it took over (zettabee:<fp>:switched): failback cannot tell which side wins', `set zettabee:${pair.fingerprint}:role=destination on the side that should rejoin as the destination, after saving what it wrote`);
  }
  const run = orient(frame, o.tookOver === 'destination');
  const g = run === first ? g0 : await gatherUpdate(run);
  const dds = run.pair.destination.dataset;
  const common = commonSnapshot(g.dstList.snapshots, g.srcList.snapshots);
  if (!common) throw new PairError(`${endpointName(run.pair.source)} and ${endpointName(run.pair.destination)} have no snapshot in common`, `failback cannot rejoin them; keep what ${dds} holds, destroy it and run zettabee initialize ${pair.label}`);
  const onDst = g.dstList.snapshots.find((x) => x.guid === common.guid)!;
  const after = g.dstList.snapshots.filter((x) => x.createtxg > onDst.createtxg);
  const written = await getProps(run.dst, dds, [`written@${onDst.snapshot}`]).then((x) => userProp(x, `written@${onDst.snapshot}`)).catch(() => undefined);
  const mp = (await step(`cannot read ${dds}`, getProps(run.dst, dds, ['mountpoint'])))?.get('mountpoint');
  const bytes = written !== undefined && /^\d+$/.test(written) ? Number(written) : undefined;
  const diverged = [`${after.length} snapshot${after.length === 1 ? '' : 's'} after @${onDst.snapshot}${after.length ? ` (${after.map((x) => `@${x.snapshot}`).join(', ')})` : ''}`, bytes === undefined ? 'zfs cannot say how many bytes (no written@ on this zfs)' : `${bytes} bytes written since @${onDst.snapshot} (written@)`];
  const nothing = after.length === 0 && bytes === 0;
  const s = switched(run, 'failback');
  const recursive = Boolean(pair.options.recursive);
  const caps = g.caps.destination;
  const steps: SwitchStep[] = [{ where: 'destination', text: `make ${dds} read-only (no new writes)`, argvs: [zargv.makeReadonly(dds, recursive)] }];
  let kept: string | undefined;
  const tree = [...(g.dstLists?.keys() ?? [dds])].filter((n) => n === dds || recursive).sort();
  if (nothing) {
    // nothing written since the common snapshot: nothing to keep, nothing to roll back
  } else if (discard) {
    steps.push({ where: 'destination', text: `roll ${dds} back to @${onDst.snapshot}, destroying what it wrote since (--discard)`, argvs: tree.map((n) => zargv.rollback(`${n}@${onDst.snapshot}`, { destroyNewer: true })) });
  } else {
    const stamp = stampOf(run.now());
    kept = `${dds}-diverged-${stamp}`;
    const clones = tree.flatMap((n) => {
      const has = g.dstLists?.get(n)?.snapshots.some((x) => x.snapshot === onDst.snapshot) ?? n === dds;
      const k = kept + n.slice(dds.length);
      return has ? [zargv.clone(`${k}@${onDst.snapshot}`, n), zargv.promote(n), zargv.setProp(n, 'readonly', 'on')] : [];
    });
    const fp = pair.fingerprint;
    steps.push(
      { where: 'destination', text: `keep what ${dds} wrote since @${onDst.snapshot} in a snapshot`, argvs: [zargv.snapshot([`${dds}@diverged-${stamp}`], { recursive })] },
      { where: 'destination', text: `rename ${dds} aside to ${kept}, with all its snapshots (zfs-fuse renames only what is not mounted)`, argvs: [zargv.unmount(dds), zargv.rename(dds, kept)] },
      {
        where: 'destination',
        text: `put ${dds} back at @${onDst.snapshot}: a clone of ${kept}@${onDst.snapshot}, promoted (it owns the snapshots up to there; ${kept} keeps the later ones)`,
        argvs: [...clones, zargv.rollback(`${dds}@${onDst.snapshot}`)],
      },
      {
        where: 'destination',
        text: `label ${kept} as this pair's divergent copy and mount it`,
        argvs: [
          zargv.inheritProp(roleProps(fp).role, kept),
          zargv.inheritProp(roleProps(fp).switched, kept),
          zargv.setProp(kept, `zettabee:${fp}:diverged`, `${s.at} ${dds} after @${onDst.snapshot}`),
          ...(mp?.source === 'local' && mp.value.startsWith('/') ? [zargv.setProp(dds, 'mountpoint', mp.value), zargv.setProp(kept, 'mountpoint', `${mp.value}-diverged-${stamp}`)] : []),
          zargv.mountHere(kept, recursive),
        ],
      },
    );
    const names = pairProps(fp);
    steps.push({ where: 'destination', text: `set the pair's bookkeeping properties on ${dds}`, argvs: zargv.setProps(dds, { [names.source]: endpointName(pair.source), [names.destination]: endpointName(pair.destination), [names.lastsnap]: onDst.snapshot }) });
  }
  steps.push({ where: 'destination', text: `mark ${dds} as the destination of ${run.pair.source.dataset}`, argvs: markArgvs(run, dds, 'destination', s, caps.setMany) });
  return { run, common: onDst, diverged, steps, ...(kept ? { kept } : {}), switched: s };
}

function failbackLines(p: FailbackPlan, update: string[]): string[] {
  const { run } = p;
  return [
    `split brain: ${endpointName(run.pair.source)} took over; ${endpointName(run.pair.destination)} rejoins as its destination`,
    `common snapshot: @${p.common.snapshot}; since then ${endpointName(run.pair.destination)} wrote: ${p.diverged.join('; ')}`,
    ...(p.kept ? [`its divergent history is kept as ${p.kept} (nothing is destroyed)`] : []),
    ...stepLines(run, p.steps),
    `record the direction in the status file: ${now(run)}`,
    'then an update:',
    ...update.map((l) => `  ${l}`),
  ];
}

export function failbackDryRun(pair: Pair, deps: EngineDeps, discard: boolean): Promise<Switch> {
  return withPairReadOnly(pair, deps, 'failback', async (frame) => {
    const p = await planFailback(frame, discard);
    return { lines: failbackLines(p, ['(planned once the destination is back at the common snapshot)']) };
  });
}

export function failbackPair(pair: Pair, deps: EngineDeps, discard: boolean): Promise<Outcome & Switch> {
  let lines: string[] = [];
  return runPairAction(pair, deps, 'failback', async (frame) => {
    const p = await planFailback(frame, discard);
    const { run } = p;
    for (const l of failbackLines(p, ['(planned once the destination is back at the common snapshot)'])) run.log.info(`plan: ${l}`);
    let done = 0;
    try {
      for (const s of p.steps) {
        if (s.argvs.some((a) => a[1] === 'rename')) await renameRetrying(run, s);
        else await runStep(run, s);
        done++;
      }
    } catch (e) {
      throw await undoFailback(run, p, done, e);
    }
    const d = direction(run, p.switched, p.kept ? { kept: p.kept } : {});
    frame.setDirection(d);
    run.status.direction = d;
    const outcome = await executeUpdate(run, planUpdateRun(run, await gatherUpdate(run)));
    lines = [
      `done: ${now(run)}, replicating again${p.kept ? `; what ${run.pair.destination.dataset} wrote after @${p.common.snapshot} is kept in ${p.kept} (mountable; destroy it with zfs destroy -r once it is saved)` : ''}`,
    ];
    run.log.info(`failback: ${lines[0]}`);
    return outcome;
  }).then((o) => ({ ...o, lines }));
}

/** the rename step: zfs-fuse calls a file system busy for a moment after its unmount */
async function renameRetrying(run: PairRun, s: SwitchStep): Promise<void> {
  const [unmount, rename] = s.argvs as [string[], string[]];
  run.log.info(`${s.text} on the ${where(run, s.where)}`);
  const r = await run.dst.exec(unmount);
  if (r.exitCode !== 0 && !/not currently mounted|not mounted/.test(r.stderr)) run.log.debug(`unmount: ${r.stderr.trim()}`);
  for (let i = 0; ; i++) {
    const x = await run.dst.exec(rename);
    if (x.exitCode === 0) return;
    if (i >= 20 || !/busy/.test(x.stderr)) throw new ActionError(`cannot rename ${rename[2]} to ${rename[3]}: ${classifyZfsError(x.stderr, x.exitCode).message}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

async function undoFailback(run: PairRun, p: FailbackPlan, done: number, e: unknown): Promise<unknown> {
  const why = e instanceof Error ? e.message : String(e);
  const dds = run.pair.destination.dataset;
  const hint = `the pair is still in split brain; fix the cause and run zettabee failback ${run.pair.label} again`;
  // renamed aside but not put back: rename it back, so nothing is missing
  if (p.kept && done >= 2 && done < 4) {
    const back = await run.dst.exec(zargv.exists(dds));
    if (back.exitCode !== 0) {
      const r = await run.dst.exec(zargv.rename(p.kept, dds));
      if (r.exitCode !== 0) {
        return new PairError(`failback failed (${why}); ${dds} is renamed to ${p.kept} and could not be renamed back: ${classifyZfsError(r.stderr, r.exitCode).message}`, `rename it back by hand: zfs rename ${p.kept} ${dds}`, [], 'Inconsistent', {
          kind: 'splitBrain',
          message: `failback stopped half-way: ${dds} is renamed to ${p.kept}`,
          hint: `zfs rename ${p.kept} ${dds}`,
        });
      }
      return new ActionError(`failback failed: ${why}; renamed ${p.kept} back to ${dds}, as it was (read-only)`, hint);
    }
  }
  const detail = p.kept && done >= 4 ? `; ${dds} is back at @${p.common.snapshot} and ${p.kept} keeps what it wrote` : '';
  return new ActionError(`failback failed: ${why}${detail}`, hint, e instanceof ActionError ? e.details : []);
}

// zfs on a Host: argv from argv.ts, output through parse.ts, failures through
// classify.ts into one ZfsFailure that says which host and what to do.
import { CommandError, type Host, type RunResult } from '../exec/host.js';
import * as zargv from './argv.js';
import { classifyZfsError, type ClassifiedZfsError } from './classify.js';
import { parseProps, parseSnapshotList, parseSnapshotListParsable, parseSnapshotTree, propsOf, type PropValue, type SnapshotListing } from './parse.js';

/** a zfs command failed; `zfs` says how, in words callers can branch on */
export class ZfsFailure extends Error {
  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly zfs: ClassifiedZfsError,
  ) {
    super(`${zfs.message} (on ${host})`);
    this.name = 'ZfsFailure';
  }
}

export function failure(host: Host, argv: readonly string[], r: RunResult): ZfsFailure {
  return new ZfsFailure(host.name, argv, classifyZfsError(r.stderr, r.exitCode, r.stdout));
}

async function exec(host: Host, argv: string[]): Promise<RunResult> {
  try {
    return await host.exec(argv);
  } catch (e) {
    // never started (no ssh / no zfs binary) or killed: classify like a failure
    if (e instanceof CommandError) return { stdout: '', stderr: `${e.stderr}\n${e.reason}`, exitCode: e.exitCode ?? 255 };
    throw e;
  }
}

export interface ListOptions {
  /** the host has `zfs list -p` (capabilities.listParsable): one line per snapshot */
  parsable?: boolean;
  /** list the file systems and volumes below the dataset too (a recursive pair) */
  wholeTree?: boolean;
}

export function listArgv(ds: string, o: ListOptions): string[] {
  if (o.wholeTree) return zargv.listTree(ds, { parsable: Boolean(o.parsable) });
  return o.parsable ? zargv.listSnapshotsParsable(ds) : zargv.listSnapshots(ds);
}

/** each dataset's listing of a tree (with wholeTree: every dataset below ds too); null when ds does not exist */
export async function listDatasets(host: Host, ds: string, opts: ListOptions = {}): Promise<Map<string, SnapshotListing> | null> {
  const argv = listArgv(ds, opts);
  return treeListingOf(host, ds, argv, await exec(host, argv), opts);
}

function treeListingOf(host: Host, ds: string, argv: string[], r: RunResult, o: ListOptions): Map<string, SnapshotListing> | null {
  if (!o.wholeTree) {
    const one = listingOf(host, ds, argv, r);
    return one ? new Map([[ds, one]]) : null;
  }
  if (r.exitCode !== 0) {
    const f = failure(host, argv, r);
    if (f.zfs.kind === 'datasetMissing') return null;
    throw f;
  }
  return parseSnapshotTree(r.stdout, ds, Boolean(o.parsable));
}

/** the dataset's snapshots by exact guid and createtxg; null when the dataset does not exist */
export async function listSnapshots(host: Host, ds: string, opts: ListOptions = {}): Promise<SnapshotListing | null> {
  const argv = listArgv(ds, opts);
  return listingOf(host, ds, argv, await exec(host, argv));
}

/** a listing (listArgv, without wholeTree) from the result of running it: null when the dataset does not exist, ZfsFailure when zfs failed */
export function listingOf(host: Host, ds: string, argv: string[], r: RunResult): SnapshotListing | null {
  if (r.exitCode !== 0) {
    const f = failure(host, argv, r);
    if (f.zfs.kind === 'datasetMissing') return null;
    throw f;
  }
  return argv[1] === 'list' ? parseSnapshotListParsable(r.stdout, ds) : parseSnapshotList(r.stdout, ds);
}

function propsFrom(host: Host, ds: string, argv: string[], r: RunResult): Map<string, PropValue> | null {
  const t = treeFrom(host, argv, r);
  return t ? propsOf(t, ds) : null;
}

/**
 * The snapshot listing of a dataset and some of its properties (with `tree`,
 * also of the file systems and volumes below it: OpenZFS), by name. Over ssh
 * both go in one session (one round trip instead of two); locally they run
 * side by side. No properties asked: the listing alone.
 */
export async function listAndProps(
  host: Host,
  ds: string,
  props: readonly string[],
  opts: { tree?: boolean } & ListOptions = {},
): Promise<[Map<string, SnapshotListing> | null, Map<string, Map<string, PropValue>> | null]> {
  const la = listArgv(ds, opts);
  if (props.length === 0) return [await listDatasets(host, ds, opts), new Map()];
  const pa = zargv.getProps(ds, props, opts);
  let rs: RunResult[];
  if (host.local) rs = await Promise.all([exec(host, la), exec(host, pa)]);
  else {
    try {
      rs = await host.batch([la, pa]);
    } catch (e) {
      if (e instanceof CommandError) throw failure(host, la, { stdout: '', stderr: `${e.stderr}\n${e.reason}`, exitCode: e.exitCode ?? 255 });
      throw e;
    }
  }
  return [treeListingOf(host, ds, la, rs[0]!, opts), treeFrom(host, pa, rs[1]!)];
}

function treeFrom(host: Host, argv: string[], r: RunResult): Map<string, Map<string, PropValue>> | null {
  if (r.exitCode !== 0) {
    const f = failure(host, argv, r);
    if (f.zfs.kind === 'datasetMissing') return null;
    throw f;
  }
  return parseProps(r.stdout);
}

/** properties of one dataset; null when it does not exist */
export async function getProps(host: Host, ds: string, props: readonly string[]): Promise<Map<string, PropValue> | null> {
  const argv = zargv.getProps(ds, props);
  return propsFrom(host, ds, argv, await exec(host, argv));
}

/** properties of a dataset (with `tree`, also of the file systems and volumes below it: OpenZFS), by name; null when it does not exist */
export async function getTreeProps(host: Host, ds: string, props: readonly string[], opts: { tree?: boolean } = {}): Promise<Map<string, Map<string, PropValue>> | null> {
  const argv = zargv.getProps(ds, props, opts);
  return treeFrom(host, argv, await exec(host, argv));
}

/** true when the dataset (or snapshot) exists */
export async function exists(host: Host, ds: string): Promise<boolean> {
  const argv = zargv.exists(ds);
  const r = await exec(host, argv);
  if (r.exitCode === 0) return true;
  const f = failure(host, argv, r);
  if (f.zfs.kind === 'datasetMissing') return false;
  throw f;
}

/** run argv, throw ZfsFailure unless it exits 0 */
export async function must(host: Host, argv: string[]): Promise<RunResult> {
  const r = await exec(host, argv);
  if (r.exitCode !== 0) throw failure(host, argv, r);
  return r;
}

/** a user property value, or undefined when unset ('-' with source '-') */
export function userProp(props: Map<string, PropValue> | null, name: string): string | undefined {
  const p = props?.get(name);
  if (!p || (p.value === '-' && p.source === '-')) return undefined;
  return p.value;
}

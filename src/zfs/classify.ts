// Named classifiers for what zfs/zpool print when they fail, for zfs-fuse 0.7
// and OpenZFS 2.1 and 2.3 (all recorded on the test bed: test/fixtures/zfs).
// Callers branch on `kind`, never on message text: the wording lives here.
import type { CommandError } from '../exec/host.js';

export type ZfsErrorKind =
  | 'commandNotFound'
  | 'permissionDenied'
  | 'zfsUnavailable'
  | 'holdsUnsupported'
  | 'unsupportedOption'
  | 'invalidProperty'
  | 'resumeTokenInvalid'
  | 'resumableState'
  | 'destinationModified'
  | 'noMatchingIncremental'
  | 'tagExists'
  | 'noSuchTag'
  | 'datasetExists'
  | 'moreRecentSnapshots'
  | 'busy'
  | 'noSpace'
  | 'poolMissing'
  | 'datasetMissing'
  | 'streamFailed'
  | 'encryption'
  | 'unsupportedStream'
  | 'unknown';

interface Base<K extends ZfsErrorKind> {
  kind: K;
  /** one human sentence */
  message: string;
  /** what to do about it */
  hint: string;
  /** the first lines of what zfs printed, trimmed */
  detail: string;
  exitCode: number | undefined;
  /** the dataset, snapshot or pool the message names, when it names one */
  dataset?: string;
}

export type ClassifiedZfsError =
  | (Base<'unsupportedOption'> & { option: string })
  | (Base<'invalidProperty'> & { property: string })
  | (Base<'resumableState'> & { resumeToken?: string })
  | Base<Exclude<ZfsErrorKind, 'unsupportedOption' | 'invalidProperty' | 'resumableState'>>;

// --- the named classifiers: each one answers for one class of failure -------

/** the zfs/zpool binary is not there (exit 127 from a shell, ENOENT locally) */
export function commandNotFound(text: string, exitCode?: number): boolean {
  return (
    exitCode === 127 ||
    /\bcommand not found\b/.test(text) ||
    /\b(zfs|zpool): not found\b/.test(text) ||
    /\bspawn \S+ ENOENT\b/.test(text)
  );
}

/** not allowed: not root / no `zfs allow` delegation / zfs-fuse socket refused */
export function permissionDenied(text: string): boolean {
  return /permission denied/i.test(text) || /must be run as root/i.test(text) || /operation not permitted/i.test(text);
}

/** the kernel module or the zfs-fuse daemon is not there (OpenZFS 2.3: "The ZFS modules cannot be auto-loaded") */
export function zfsUnavailable(text: string): boolean {
  return /failed to initialize ZFS library/.test(text) || /ZFS modules (?:are not loaded|cannot be auto-loaded)/.test(text) || /\/dev\/zfs/.test(text);
}

/**
 * zfs-fuse's `zfs holds` (and `allow`, `userspace`) run a python helper the
 * package does not ship: "internal error: /usr/lib/zfs/pyzfs.py not found",
 * exit 255, printed on stdout. `zfs hold` and `zfs release` work there.
 */
export function holdsUnsupported(text: string): boolean {
  return /pyzfs(\.py)? not found/.test(text) || /\bpyzfs\b.*(No such file|cannot import|ImportError)/.test(text);
}

const OPTION_PATTERNS = [
  /invalid option '([^']*)'/,
  /unrecognized command '([^']*)'/,
  /unrecognized option '([^']*)'/,
  /illegal option -- (\S)/,
  // zfs-fuse's zpool get has no -H: "bad property list: invalid property '-H'"
  /invalid property '(-[^']*)'/,
];

/** this zfs does not know the option or the subcommand */
export function unsupportedOption(text: string): string | null {
  for (const re of OPTION_PATTERNS) {
    const m = re.exec(text);
    if (m) return m[1]!;
  }
  return null;
}

/** this zfs does not know the property (e.g. receive_resume_token on zfs-fuse) */
export function invalidProperty(text: string): string | null {
  const m = /invalid property '([^'-][^']*)'/.exec(text);
  return m ? m[1]! : null;
}

/** `zfs send -t` with a token that no longer fits or is damaged */
export function resumeTokenInvalid(text: string): boolean {
  return (
    /cannot resume send/.test(text) ||
    /resume token (is )?(corrupt|invalid)/i.test(text) ||
    /invalid resume token/i.test(text) ||
    /resume token version/i.test(text)
  );
}

/** the target holds partial state of an interrupted `zfs receive -s` */
export function resumableState(text: string): boolean {
  return (
    /contains partially-complete state/.test(text) ||
    /Partially received snapshot is saved/i.test(text) ||
    /\bresum(e|ing) (token|stream)/i.test(text)
  );
}

/** incremental refused: the target changed after its newest snapshot */
export function destinationModified(text: string): boolean {
  return /has been modified\s+since most recent snapshot/.test(text);
}

/** incremental refused: its base is not the target's newest snapshot / not an ancestor */
export function noMatchingIncremental(text: string): boolean {
  return (
    /does not\s+match incremental source/.test(text) ||
    /incremental source .*does not\s+match/.test(text) ||
    /not an earlier snapshot from the same fs/.test(text) ||
    /incremental source must be in same filesystem/.test(text)
  );
}

/** `zfs hold`: this tag is already on the snapshot */
export function tagExists(text: string): boolean {
  return /tag already exists on this dataset/.test(text);
}

/** `zfs release`: no hold with this tag on the snapshot */
export function noSuchTag(text: string): boolean {
  return /no such tag on this dataset/.test(text);
}

/** the target exists (full receive without -F, create, snapshot name taken) */
export function datasetExists(text: string): boolean {
  return /destination '[^']*' exists/.test(text) || /already exists/.test(text) || /destination has snapshots/.test(text);
}

/** `zfs rollback` without -r: newer snapshots are in the way */
export function moreRecentSnapshots(text: string): boolean {
  return /more recent snapshots exist/.test(text);
}

/** in use: mounted and busy, held snapshot (OpenZFS 2.2+: "it's being held"), pool busy */
export function busy(text: string): boolean {
  return /dataset is busy/.test(text) || /it's being held/.test(text) || /pool or dataset is busy/.test(text) || /pool is busy/.test(text) || /device or resource busy/i.test(text);
}

export function noSpace(text: string): boolean {
  return /out of space/.test(text) || /no space left/i.test(text) || /quota exceeded/i.test(text);
}

/** the pool is not imported here */
export function poolMissing(text: string): boolean {
  return /no such pool(?! or dataset)/.test(text);
}

/** the dataset / snapshot / incremental source is not there */
export function datasetMissing(text: string): boolean {
  return (
    /dataset does not exist/.test(text) ||
    /\bdoes not exist\b/.test(text) ||
    /no such pool or dataset/.test(text) ||
    /could not find any snapshots/.test(text)
  );
}

/**
 * encrypted data and the wrong kind of stream or a missing key: a raw
 * stream onto a decrypted copy, a decrypted one onto a raw copy, a send of
 * properties of an encrypted dataset without -w, a key that is not loaded
 */
export function encryptionTrouble(text: string): boolean {
  return (
    /raw receive on top of existing unencrypted dataset/.test(text) ||
    /inherited key must be loaded/.test(text) ||
    /may not be sent with properties without the raw flag/.test(text) ||
    /encryption key (?:is )?not loaded/i.test(text) ||
    /key must be loaded/.test(text)
  );
}

/** the stream ended or broke: usually the sender or the transport died first */
export function streamFailed(text: string): boolean {
  return (
    /failed to read from stream/.test(text) ||
    /checksum mismatch or incomplete stream/.test(text) ||
    /invalid (backup )?stream/.test(text) ||
    /incomplete stream/.test(text) ||
    /Broken pipe/i.test(text)
  );
}

/**
 * What the ssh client prints when it, not the remote command, failed (it
 * then exits 255): the connection, the host key, the login, the key file.
 * Its own words need its own hint, never "see the zfs message".
 */
export function sshFailure(text: string, exitCode: number | undefined): boolean {
  return (
    exitCode === 255 &&
    /^ssh: |^ssh_|kex_exchange_identification|banner exchange|Connection (refused|closed|reset|timed out)|Connection to \S+ closed by remote host|Could not resolve hostname|No route to host|Network is unreachable|Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Permission denied \(|Bad owner or permissions|Load key|no such identity|Received disconnect|Too many authentication failures|mux_client|ControlPath|ControlSocket/m.test(text)
  );
}

/** the hint for an ssh failure, by what ssh said */
export function sshHint(text: string): string {
  if (/Host key verification failed|HOST IDENTIFICATION HAS CHANGED|No .*host key is known/.test(text)) return "the host's key is unknown or changed: check it, then add it to the known_hosts file ([ssh] known_hosts); zettabee setup shows which";
  if (/Permission denied \(|Too many authentication failures|no such identity|Load key|Bad owner or permissions/.test(text)) return 'ssh refused the login: check sshuser and sshkey for this pair (the key file must be readable only by its owner); zettabee setup checks it';
  if (/Could not resolve hostname/.test(text)) return 'the host name does not resolve: check it in the pairs file, or /etc/hosts and DNS';
  return 'check that ssh to that host works: zettabee setup';
}

// --- classification ----------------------------------------------------------

function detailOf(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 4).join(' / ');
}

const SUBJECT_PATTERNS = [
  /destination '?(?!already\b)([^'\s]+?)'? (?:has been modified|exists|does not exist|contains|space quota exceeded)/,
  /most recent snapshot of (\S+) does not/,
  /could not send (\S+):/,
  /from '([^']+)'/,
  /cannot [a-z]+(?: [a-z]+)* '([^']+)':/,
  /cannot [a-z]+ snapshot ([^\s':]+):/,
  /specified fs \(([^)]+)\)/,
  /'([^']+)' (?:used in|is no longer)/,
  // zpool get of a pool that is not there, OpenZFS 2.3 (2.1: "cannot open 'p': no such pool")
  /^Cannot get properties of ([^\s:]+):/m,
];

function subjectOf(text: string): string | undefined {
  for (const re of SUBJECT_PATTERNS) {
    const m = re.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

function make<K extends ZfsErrorKind>(
  kind: K,
  message: string,
  hint: string,
  text: string,
  exitCode: number | undefined,
  withSubject = true,
): Base<K> {
  const e: Base<K> = { kind, message, hint, detail: detailOf(text), exitCode };
  const s = withSubject ? subjectOf(text) : undefined;
  if (s !== undefined) e.dataset = s;
  return e;
}

/**
 * Classify a failed zfs/zpool command by what it printed. `stdout` is also
 * read because zfs-fuse prints its helper failure there.
 */
export function classifyZfsError(stderr: string, exitCode: number | undefined, stdout = ''): ClassifiedZfsError {
  const text = stdout.trim() ? `${stderr}\n${stdout}` : stderr;
  // a sentence about the named dataset, or about 'the dataset' when none is named
  const about = (named: (s: string) => string, unnamed: string) => (subj ? named(subj) : unnamed);
  const subj = subjectOf(text);

  if (commandNotFound(text, exitCode)) {
    return make('commandNotFound', 'zfs is not installed on this host (or not on its PATH)', 'install ZFS there, or put zfs and zpool on the PATH of the (ssh) user', text, exitCode, false);
  }
  if (/Permission denied \((publickey|password|keyboard)/.test(text)) {
    return make('permissionDenied', 'ssh refused the login', 'check the ssh user and key for this host', text, exitCode, false);
  }
  if (permissionDenied(text)) {
    return make('permissionDenied', 'permission denied by zfs', 'run as root, or delegate the needed permissions with `zfs allow` (snapshot, send, receive, hold, release, mount, create, destroy, rollback)', text, exitCode);
  }
  if (zfsUnavailable(text)) {
    return make('zfsUnavailable', 'zfs cannot reach the ZFS kernel module or zfs-fuse daemon', 'load the zfs module (modprobe zfs) or start zfs-fuse', text, exitCode, false);
  }
  if (holdsUnsupported(text)) {
    return make('holdsUnsupported', "this zfs cannot list holds: zfs-fuse's python helper (pyzfs.py) is missing", '`zfs hold`/`zfs release` still work; read the userrefs property instead of `zfs holds`', text, exitCode, false);
  }
  const option = unsupportedOption(text);
  if (option !== null) {
    return { ...make('unsupportedOption', `this zfs does not support ${option.length === 1 ? `option -${option}` : `'${option}'`}`, 'probe the host capabilities and leave the feature off for it', text, exitCode, false), option };
  }
  const property = invalidProperty(text);
  if (property !== null) {
    return { ...make('invalidProperty', `this zfs does not know the property ${property}`, 'the feature that needs it is not available on this host', text, exitCode, false), property };
  }
  if (resumeTokenInvalid(text)) {
    return make('resumeTokenInvalid', 'the resume token no longer matches the source', 'abort the partial receive with `zfs receive -A <target>` and send again', text, exitCode);
  }
  if (resumableState(text)) {
    const token = /zfs send -t (\S+)/.exec(text)?.[1];
    const e = make('resumableState', about((s) => `${s} holds the partial state of an interrupted resumable receive`, 'the target holds the partial state of an interrupted resumable receive'), 'resume with `zfs send -t <receive_resume_token>`, or drop it with `zfs receive -A <target>`', text, exitCode);
    return token ? { ...e, resumeToken: token } : e;
  }
  if (destinationModified(text)) {
    return make('destinationModified', about((s) => `${s} was modified since its newest snapshot`, 'the target was modified since its newest snapshot'), 'make the target read-only; roll it back to its newest snapshot only if that change may be lost', text, exitCode);
  }
  if (noMatchingIncremental(text)) {
    return make('noMatchingIncremental', 'the incremental base does not match the newest snapshot on the target', "list both sides' snapshots and find the newest common one by guid", text, exitCode);
  }
  if (tagExists(text)) {
    return make('tagExists', about((s) => `the hold tag is already on ${s}`, 'the hold tag is already on the snapshot'), 'nothing to do: the snapshot is already held with this tag', text, exitCode);
  }
  if (noSuchTag(text)) {
    return make('noSuchTag', about((s) => `no hold with this tag on ${s}`, 'no hold with this tag on the snapshot'), 'nothing to release', text, exitCode);
  }
  if (datasetExists(text)) {
    const snaps = /destination has snapshots/.test(text);
    return make('datasetExists', snaps ? 'the target already has snapshots, so a full stream cannot replace it' : about((s) => `${s} already exists`, 'the target already exists'), snaps ? 'receive incrementally from a common snapshot, or destroy the target deliberately' : 'receive incrementally, or choose a new target; -F would overwrite it', text, exitCode);
  }
  if (moreRecentSnapshots(text)) {
    return make('moreRecentSnapshots', 'newer snapshots exist after the rollback target', 'roll back with -r only if those snapshots may be destroyed', text, exitCode);
  }
  if (busy(text)) {
    return make('busy', about((s) => `${s} is busy`, 'the dataset or pool is busy'), 'it is held, mounted and in use, or the pool is busy: retry, unmount, or release holds', text, exitCode);
  }
  if (noSpace(text)) {
    return make('noSpace', 'out of space', 'free space on the target pool or raise its quota', text, exitCode);
  }
  if (poolMissing(text)) {
    return make('poolMissing', about((s) => `pool ${s} is not imported on this host`, 'the pool is not imported on this host'), 'check the pool name, or import the pool', text, exitCode);
  }
  if (datasetMissing(text)) {
    return make('datasetMissing', about((s) => `${s} does not exist`, 'the dataset does not exist'), 'check the dataset name, or create the target first', text, exitCode);
  }
  if (/stream has unsupported feature/.test(text)) {
    return make('unsupportedStream', "the destination's zfs cannot receive this stream: it uses a feature the destination's pool does not have", 'compare `zpool get all` of both pools (feature@...); replicate to a pool of an OpenZFS at least as new as the source', text, exitCode, false);
  }
  if (encryptionTrouble(text)) {
    return make('encryption', detailOf(text), 'an encrypted dataset goes raw (zfs send -w) or decrypted, never mixed on one pair: see raw= in zettabee.cfg(5)', text, exitCode);
  }
  if (streamFailed(text)) {
    return make('streamFailed', 'the send stream broke off', 'the sender or the transport failed first: look at their errors', text, exitCode, false);
  }
  return make('unknown', detailOf(text) || `zfs failed with exit code ${exitCode ?? 'unknown'}`, 'see the zfs message', text, exitCode);
}

/** classify a CommandError from Host.run (a binary that never started has no exit code) */
export function classifyCommandError(e: CommandError): ClassifiedZfsError {
  const text = e.stderr.trim() ? `${e.stderr}\n${e.reason}` : e.reason;
  return classifyZfsError(text, e.exitCode);
}

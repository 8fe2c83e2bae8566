// setup: create the state, lock and log directories, then run a preflight on
// every selected pair and report one line per check. Changes no ZFS data.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import type { Pair, Endpoint } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { parentDataset } from '../domain/names.js';
import { CommandError, type Host } from '../exec/host.js';
import { Hosts } from '../exec/hosts.js';
import { classifyZfsError } from '../zfs/classify.js';
import { describeCapabilities, probeCapabilities, summarizeCapabilities, type Capabilities } from '../zfs/probe.js';
import { FEATURE_FLAGS_VERSION } from '../zfs/parse.js';
import * as zfs from '../zfs/argv.js';
import { PairLogs } from '../state/log.js';
import { ActionError, ZettabeeError } from '../errors.js';
import { toolProbeArgv } from '../transport/compress.js';
import { onPath } from '../transport/meter.js';
import { bufferSettings, mbufferAddresses } from '../transport/topology.js';

export interface CheckResult {
  /** what the line is about: a pair label, or 'directories' */
  subject: string;
  check: string;
  ok: boolean;
  /** 'skipped' when an earlier check made this one impossible */
  skipped?: boolean;
  detail?: string;
  hint?: string;
  /** further lines, shown with --verbose */
  more?: string[];
  /**
   * done as far as zettabee can tell, but only the admin can confirm the
   * outcome (NSCA answers nothing): shown as CONFIRM, with `todo`
   */
  unconfirmed?: boolean;
  /** what the admin has to do or look at; always shown */
  todo?: string[];
}

export interface SetupOptions {
  settings: Settings;
  pairs: Pair[];
  /** true when a Nagios server is configured or --nagios was given */
  nagios: boolean;
  /** the --nagios HOST argument ('' or undefined: [nagios] server) */
  nagiosServer?: string;
  /** add the failing command to a failure's detail */
  debug?: boolean;
  /** called as each check finishes, so a slow host does not hide earlier lines */
  report: (r: CheckResult) => void;
}

/** the word a check is shown and logged with */
export function checkStatus(r: CheckResult): 'ok' | 'CONFIRM' | 'SKIPPED' | 'FAILED' {
  if (r.ok) return r.unconfirmed ? 'CONFIRM' : 'ok';
  return r.skipped ? 'SKIPPED' : 'FAILED';
}

const DIR_MODE = 0o750;

async function ensureDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  const st = await stat(path);
  if (!st.isDirectory()) throw new Error(`${path} exists and is not a directory`);
  // tighten a directory that was created earlier with looser permissions
  if ((st.mode & 0o027) !== 0) await chmod(path, st.mode & ~0o027 & 0o7777);
  await access(path, constants.W_OK);
  return path;
}

function why(e: unknown, showCommand = false): string {
  if (e instanceof CommandError) {
    const c = classifyZfsError(e.stderr, e.exitCode);
    const text = c.kind !== 'unknown' ? c.message : e.stderr.trim().split('\n')[0] || e.reason;
    return showCommand ? `${text}; command: ${e.argv.join(' ')} on ${e.host}` : text;
  }
  return e instanceof Error ? e.message : String(e);
}

function sshHint(e: unknown, name: string): string | undefined {
  const text = e instanceof CommandError ? e.stderr : '';
  if (/Host key verification failed|No .* host key is known/i.test(text)) {
    return `verify ${name}'s host key and add it to known_hosts (ssh-keyscan prints it; compare the fingerprint out of band)`;
  }
  if (/Permission denied/i.test(text)) return 'install the public key of sshkey in the remote authorized_keys, or set sshuser/sshkey';
  if (/Connection refused|timed out|No route|Could not resolve/i.test(text)) return `is sshd running on ${name} and reachable from here (sshport)?`;
  return undefined;
}

/**
 * Send each selected pair's real result, marked with a random token, to the
 * services nagios-config defines. NSCA never answers and nsca drops a packet
 * with a wrong password while send_nsca exits 0, so a hand-over that worked
 * is CONFIRM, with what to look for on the Nagios server; only a send_nsca
 * that failed (no connection, a bad config) is FAILED.
 */
async function nagiosTest(o: SetupOptions, usable: boolean): Promise<CheckResult> {
  const n = o.settings.nagios;
  const server = o.nagiosServer || n.server;
  const check = `a test result through send_nsca to ${server ?? '(no server)'}:${n.port}`;
  if (!usable) return { subject: 'nagios', check, ok: false, skipped: true, detail: 'skipped: send_nsca is not usable' };
  if (o.pairs.length === 0) return { subject: 'nagios', check, ok: false, skipped: true, detail: 'skipped: no pair to send a result for' };
  const mark = `zettabee setup test ${randomBytes(4).toString('hex')}`;
  try {
    const { sendMarkedToNagios } = await import('../monitor/report.js');
    const { services, outcome } = await sendMarkedToNagios(o.settings, o.nagiosServer ?? '', o.pairs, mark);
    if (!outcome.ok) {
      return { subject: 'nagios', check, ok: false, detail: outcome.why, hint: `is nsca running on ${server} and reachable on port ${n.port}? (server and port in [nagios], or --nagios HOST)` };
    }
    return {
      subject: 'nagios',
      check,
      ok: true,
      unconfirmed: true,
      detail: `handed to send_nsca; NSCA does not confirm delivery`,
      todo: [
        `confirm it arrived: within a minute, ${services.length === 1 ? 'this service shows' : `these ${services.length} services show`} its real state ending in "${mark}" on the Nagios server:`,
        ...services.map((s) => `  ${s}`),
        `for example: grep -F '${mark}' /var/log/nagios4/nagios.log (Nagios logs passive results with log_passive_checks=1, the default)`,
        `if it never arrives: the password or encryption_method in ${n.config} differs from nsca.cfg on ${server} (nsca says "possibly due to client using wrong password or crypto algorithm" in its syslog), or Nagios lacks the service (install zettabee nagios-config)`,
      ],
    };
  } catch (e) {
    return { subject: 'nagios', check, ok: false, detail: e instanceof Error ? e.message : String(e), hint: e instanceof ZettabeeError ? e.hint : undefined };
  }
}

export async function runSetup(o: SetupOptions): Promise<boolean> {
  const explain = (e: unknown) => why(e, o.debug);
  let allOk = true;
  const logs = new PairLogs();
  let logging = false;
  const emitFor = (r: CheckResult, fp?: string) => {
    if (!r.ok) allOk = false;
    o.report(r);
    if (fp && logging) {
      const line = `setup: ${checkStatus(r)}: ${r.check}${r.detail ? ` (${r.detail})` : ''}`;
      if (r.ok) logs.for(fp).info(line);
      else logs.for(fp).error(line);
    }
  };

  const emit = emitFor;
  for (const [name, path] of Object.entries(o.settings.paths)) {
    try {
      await ensureDir(path);
      emit({ subject: 'directories', check: `${name} directory ${path}`, ok: true });
    } catch (e) {
      emit({ subject: 'directories', check: `${name} directory ${path}`, ok: false, detail: explain(e), hint: 'run setup as a user that may create it, or change [paths] in the settings file' });
    }
  }

  if (o.nagios) {
    const n = o.settings.nagios;
    let usable = true;
    for (const [check, path, mode] of [
      [`send_nsca ${n.send_nsca} is executable`, n.send_nsca, constants.X_OK],
      [`send_nsca config ${n.config} is readable`, n.config, constants.R_OK],
    ] as const) {
      try {
        await access(path, mode);
        emit({ subject: 'nagios', check, ok: true });
      } catch (e) {
        usable = false;
        emit({ subject: 'nagios', check, ok: false, detail: explain(e), hint: 'install nsca-client or set [nagios] send_nsca / config in the settings file' });
      }
    }
    emit(await nagiosTest(o, usable));
  }

  // the pair logs, once the log directory is there: tail -f shows setup too
  try {
    await access(o.settings.paths.log, constants.W_OK);
    logs.open(o.settings, o.pairs.map((p) => p.fingerprint), o.debug);
    logging = true;
  } catch {
    // already reported as a FAILED directory line
  }

  const hosts = new Hosts(o.settings);
  // host-level checks are run once per host and reused by every pair on it
  const sshResults = new Map<Host, Promise<{ ok: boolean; detail?: string; hint?: string }>>();
  const probes = new Map<Host, Map<string, Promise<Capabilities | Error>>>();
  try {
    for (const pair of o.pairs) {
      const subject = pair.label;
      const emit = (r: CheckResult) => emitFor(r, pair.fingerprint);
      const ends = [['source', pair.source], ['destination', pair.destination]] as const;
      const reachable = new Map<Endpoint, boolean>();
      for (const [role, ep] of ends) {
        const host = hosts.for(ep, pair);
        const hostName = Hosts.describe(ep, pair);
        if (host.local) {
          reachable.set(ep, true);
          continue;
        }
        let r = sshResults.get(host);
        if (!r) {
          r = host.run(['true'], { timeoutMs: (o.settings.ssh.connect_timeout + 20) * 1000 }).then(
            () => ({ ok: true }),
            (e: unknown) => ({ ok: false, detail: explain(e), hint: sshHint(e, hostName) }),
          );
          sshResults.set(host, r);
        }
        const res = await r;
        reachable.set(ep, res.ok);
        emit({ subject, check: `ssh to ${role} host ${hostName} (BatchMode, strict host key)`, ...res });
      }

      const caps = new Map<Endpoint, Capabilities | null>();
      for (const [role, ep] of ends) {
        const host = hosts.for(ep, pair);
        const check = `zfs on ${role} host ${Hosts.describe(ep, pair)}`;
        if (!reachable.get(ep)) {
          emit({ subject, check, ok: false, skipped: true, detail: 'skipped: ssh failed' });
          caps.set(ep, null);
          continue;
        }
        const pool = ep.dataset.split('/')[0]!;
        const byPool = probes.get(host) ?? new Map<string, Promise<Capabilities | Error>>();
        probes.set(host, byPool);
        let p = byPool.get(pool);
        if (!p) {
          p = probeCapabilities(host, pool).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
          byPool.set(pool, p);
        }
        const c = await p;
        if (c instanceof Error) {
          emit({ subject, check, ok: false, detail: explain(c) });
          caps.set(ep, null);
        } else if (c.zfsPresent && !c.poolExists) {
          emit({ subject, check, ok: false, detail: `pool ${pool} is not imported`, hint: `import it (zpool import ${pool}) or fix the pairs file` });
          caps.set(ep, null);
        } else if (!c.zfsPresent) {
          emit({ subject, check, ok: false, detail: 'the zfs command was not found', hint: 'install ZFS (zfsutils-linux or zfs-fuse) and make sure zfs is on the PATH of the ssh user' });
          caps.set(ep, null);
        } else {
          emit({ subject, check, ok: true, detail: summarizeCapabilities(c), more: [...describeCapabilities(c), ...c.notes] });
          caps.set(ep, c);
        }
      }

      // the stream must fit the destination's pool: the check initialize makes, made here first
      const sc0 = caps.get(pair.source);
      const dc0 = caps.get(pair.destination);
      if (sc0 && dc0 && sc0.poolVersion !== null && dc0.poolVersion !== null) {
        const older = dc0.poolVersion < sc0.poolVersion;
        const name = (v: number) => (v >= FEATURE_FLAGS_VERSION ? 'feature flags' : `version ${v}`);
        emit({
          subject,
          check: `the destination's pool can receive the source's streams (source: ${name(sc0.poolVersion)}, destination: ${name(dc0.poolVersion)})`,
          ok: !older,
          ...(older ? { detail: `the destination pool is older than the source pool`, hint: 'upgrade the destination pool (zpool upgrade) or replicate to a newer pool; initialize would refuse this pair' } : {}),
        });
      }

      const src = pair.source;
      const srcHost = hosts.for(src, pair);
      const srcCheck = `source ${src.dataset} exists`;
      if (!caps.get(src)) emit({ subject, check: srcCheck, ok: false, skipped: true, detail: 'skipped: zfs unavailable' });
      else {
        try {
          await srcHost.run(zfs.exists(src.dataset));
          emit({ subject, check: srcCheck, ok: true });
        } catch (e) {
          emit({ subject, check: srcCheck, ok: false, detail: explain(e), hint: 'create the source file system or fix the pairs file' });
        }
      }

      const dst = pair.destination;
      const dstHost = hosts.for(dst, pair);
      const parent = parentDataset(dst.dataset)!;
      const parentCheck = `destination parent ${parent} exists`;
      if (!caps.get(dst)) emit({ subject, check: parentCheck, ok: false, skipped: true, detail: 'skipped: zfs unavailable' });
      else {
        try {
          await dstHost.run(zfs.exists(parent));
          const d = await dstHost.exec(zfs.exists(dst.dataset));
          emit({
            subject,
            check: parentCheck,
            ok: true,
            detail: d.exitCode === 0 ? `${dst.dataset} exists already` : `${dst.dataset} will be created by initialize`,
          });
        } catch (e) {
          emit({ subject, check: parentCheck, ok: false, detail: explain(e), hint: `create it first: zfs create -p ${parent}` });
        }
      }

      // the tools the pair's stream needs: mbuffer where it buffers, listens,
      // connects or limits the rate; the compressor on both hosts unless zfs
      // can send compressed blocks itself
      let buffers: ReturnType<typeof bufferSettings> | undefined;
      try {
        buffers = bufferSettings(pair);
        if (pair.transport === 'mbuffer') {
          const { accept, connect } = mbufferAddresses(pair);
          emit({
            subject,
            check: `mbuffer addresses: ${Hosts.describe(pair.source, pair)} connects to ${connect}:${pair.options.port}; ${Hosts.describe(pair.destination, pair)} accepts only ${accept}`,
            ok: true,
            more: ['mbuffer listens on every address of the receiving host while a transfer runs; firewall the port (see SECURITY in zettabee(1))'],
          });
        }
      } catch (e) {
        emit({ subject, check: 'mbuffer addresses', ok: false, detail: explain(e), hint: e instanceof ActionError ? e.hint : undefined });
      }
      const tools: Array<[string, 'source' | 'destination', Endpoint, string[], string]> = [];
      if (buffers?.send) tools.push(['mbuffer', 'source', pair.source, ['mbuffer', '-V'], 'install mbuffer (Debian: apt-get install mbuffer)']);
      if (buffers?.receive) tools.push(['mbuffer', 'destination', pair.destination, ['mbuffer', '-V'], 'install mbuffer (Debian: apt-get install mbuffer)']);
      const want = pair.options.compress ?? 'none';
      if (want !== 'none' && pair.transport !== 'local') {
        const sc = caps.get(pair.source);
        const dc = caps.get(pair.destination);
        if (sc && dc && sc.sendCompressed && dc.sendCompressed) {
          emit({ subject, check: `compress=${want}`, ok: true, detail: 'not needed: both ends support zfs send -c, which keeps the blocks compressed as on disk' });
        } else {
          for (const [role, ep] of ends) {
            tools.push([want, role, ep, toolProbeArgv(want), `install ${want} there, or set compress=none; until then the stream goes uncompressed`]);
          }
        }
      }
      if (pair.transport === 'local') {
        const check = 'pv on this host (optional)';
        if (onPath('pv')) emit({ subject, check, ok: true, detail: 'local streams go straight from zfs send to zfs receive; pv counts the bytes' });
        else emit({ subject, check, ok: true, detail: 'not installed: local streams pass through zettabee, about a fifth slower', more: ['install pv for full speed (Debian: apt-get install pv)'] });
      }
      for (const [tool, role, ep, argv, hint] of tools) {
        const check = `${tool} on ${role} host ${Hosts.describe(ep, pair)}`;
        if (!reachable.get(ep)) {
          emit({ subject, check, ok: false, skipped: true, detail: 'skipped: ssh failed' });
          continue;
        }
        const r = await hosts.for(ep, pair).exec(argv).catch((e: unknown) => e as Error);
        if (r instanceof Error || r.exitCode !== 0) {
          const detail = r instanceof Error ? explain(r) : r.stderr.trim().split('\n')[0] || `${tool} not found`;
          emit({ subject, check, ok: false, detail, hint });
        } else {
          emit({ subject, check, ok: true, detail: (r.stdout + r.stderr).trim().split('\n')[0] });
        }
      }
    }
  } finally {
    await hosts.close();
    await logs.close();
  }
  return allOk;
}

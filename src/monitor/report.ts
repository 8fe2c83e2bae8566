// The glue between actions and the passive-result emitters: when an action
// that touched some pairs ends (success, failure or busy), build each pair's
// result from its status file and lock as they are NOW, and send them
// through send_nsca (--nagios) and/or the Icinga 2 API (--icinga).
// Monitoring trouble is a warning (stderr and the pair's log), never a
// failure of the action; only a setting that makes sending impossible is
// refused up front, before anything runs.
import { hostname } from 'node:os';
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { ConfigError, UsageError } from '../errors.js';
import { PairLogs } from '../state/log.js';
import type { GlobalArgs, Io } from '../commands/context.js';
import { pluginOutput, STATE_NAMES, type CheckResult } from './check.js';
import { checkPair } from './current.js';
import { reportedNames, shortHostname } from './names.js';
import { freshnessWindow } from './config-gen.js';
import { nscaArgv, sendNsca, serverProblem, type NscaResult } from './nsca.js';
import { postResults, type IcingaResult, type IcingaSettings } from './icinga.js';

/**
 * How long a passive result stays fresh (the Icinga ttl): the window the
 * generated Icinga services use ([icinga] report_interval plus a margin), so
 * a result expires exactly when the monitor would call it stale.
 */
export function freshnessSeconds(settings: Settings): number {
  return freshnessWindow(settings.icinga.report_interval).seconds;
}

/** a pair's monitoring result from its status file and lock alone; UNKNOWN when they cannot be read */
export function currentResult(settings: Settings, pair: Pair, now = Date.now()): CheckResult {
  try {
    return checkPair(settings, pair, now);
  } catch (e) {
    // a bug in the evaluation must not keep the other pairs' results from going out
    return { state: 3, summary: `zettabee could not evaluate the pair: ${(e as Error).message}`, long: [], perfdata: [] };
  }
}

function renderOutput(r: CheckResult): string {
  try {
    return pluginOutput(r);
  } catch {
    const perf = r.perfdata.length ? ` | ${r.perfdata.join(' ')}` : '';
    return [`ZETTABEE ${STATE_NAMES[r.state]} - ${r.summary}${perf}`, ...r.long].join('\n');
  }
}

/** plugin output without the perfdata (the Icinga API takes that apart) */
function outputWithoutPerfdata(r: CheckResult): string {
  const [first = '', ...rest] = renderOutput(r).split('\n');
  const bar = first.indexOf('|');
  return [bar < 0 ? first : first.slice(0, bar).trimEnd(), ...rest].join('\n');
}

/**
 * What became of one result, in the words the log may truthfully use: `done`
 * says no more than the channel confirmed (send_nsca confirms only that it
 * took the result; the Icinga API answers for itself).
 */
export type Handover = { ok: true; done: string } | { ok: false; why: string };

interface Emitter {
  /** "Nagios" or "Icinga", for messages */
  name: string;
  /** one outcome per pair, in the order of `items` */
  send(items: ReadonlyArray<{ pair: Pair; result: CheckResult }>): Promise<Handover[]>;
  /** how a pair is named there, for log lines */
  nameOf(pair: Pair): string;
}

function nagiosEmitter(settings: Settings, override: string): Emitter {
  const n = settings.nagios;
  const where = settings.file ? `[nagios] of ${settings.file}` : '[nagios] of the settings file';
  if (override) {
    const p = serverProblem(override);
    if (p) throw new UsageError(`--nagios: ${p}`);
  } else if (!n.server) {
    throw new ConfigError('--nagios: no Nagios server to send to', [], `give one with --nagios HOST, or set server in ${where}`);
  }
  const argv = nscaArgv(n, override);
  const server = override || n.server!;
  const host = shortHostname();
  const names = (p: Pair) => reportedNames({ host: n.host, service: n.service }, p, host);
  const nameOf = (p: Pair) => {
    const x = names(p);
    return `${x.host};${x.service}`;
  };
  return {
    name: 'Nagios',
    nameOf,
    async send(items) {
      const results: NscaResult[] = items.map(({ pair, result }) => ({ ...names(pair), state: result.state, output: renderOutput(result) }));
      // one process for all: one connection, and a cron run's results arrive together
      const o = await sendNsca(n.send_nsca, argv, results);
      // send_nsca exits 0 even when nsca drops the packet (a wrong password
      // or encryption method): only the service's freshness notices a loss
      return items.map(({ pair, result }) =>
        o.ok ? { ok: true, done: `handed ${STATE_NAMES[result.state]} to send_nsca for ${server} (${nameOf(pair)}); NSCA does not confirm delivery` } : { ok: false, why: o.why },
      );
    },
  };
}

function icingaEmitter(settings: Settings): Emitter {
  const i = settings.icinga;
  const missing = (['url', 'user', 'password_file', 'ca'] as const).filter((k) => !i[k]);
  if (missing.length) {
    const where = settings.file ? `[icinga] of ${settings.file}` : '[icinga] of the settings file';
    throw new ConfigError(`--icinga: ${missing.join(', ')} not set in ${where}`, [], 'the Icinga API needs url, user, password_file and ca');
  }
  const s = i as IcingaSettings;
  const host = shortHostname();
  const checkSource = hostname();
  const names = (p: Pair) => reportedNames({ host: i.host, service: i.service }, p, host);
  const nameOf = (p: Pair) => {
    const x = names(p);
    return `${x.host}!${x.service}`;
  };
  return {
    name: 'Icinga',
    nameOf,
    async send(items) {
      const ttl = freshnessSeconds(settings);
      const results: IcingaResult[] = items.map(({ pair, result }) => ({
        ...names(pair),
        state: result.state,
        output: outputWithoutPerfdata(result),
        perfdata: result.perfdata,
        checkSource,
        ttl,
      }));
      const outcomes = await postResults(s, results);
      return outcomes.map((o, k) =>
        o.ok ? { ok: true, done: `posted ${STATE_NAMES[items[k]!.result.state]} to Icinga (${nameOf(items[k]!.pair)}); the API answered ${o.answer}` } : { ok: false, why: o.why },
      );
    },
  };
}

/**
 * `setup --nagios`'s end-to-end test: each pair's result as it is now, its
 * summary ending in `mark`, through the emitter the actions use (the same
 * names, one send_nsca run). The real state, so the test never shows a
 * false OK; the next report replaces it. Throws as makeReporter does when
 * there is no server to send to.
 */
export async function sendMarkedToNagios(
  settings: Settings,
  override: string,
  pairs: readonly Pair[],
  mark: string,
  now = Date.now(),
): Promise<{ services: string[]; outcome: Handover }> {
  const e = nagiosEmitter(settings, override);
  const items = pairs.map((pair) => {
    const result = currentResult(settings, pair, now);
    return { pair, result: { ...result, summary: `${result.summary}; ${mark}` } };
  });
  const outcomes = await e.send(items);
  return { services: pairs.map((p) => e.nameOf(p)), outcome: outcomes[0] ?? { ok: false, why: 'no pair to send a result for' } };
}

export interface Reporter {
  /**
   * Send the current result of each pair. Never throws. `logs`: the action's
   * open pair logs, when it has them; otherwise a failure opens the logs itself.
   */
  report(pairs: readonly Pair[], logs?: PairLogs): Promise<void>;
}

/**
 * The reporter the global options ask for, or null without --nagios/--icinga.
 * Throws (exit 2, before the action runs) when the settings cannot work:
 * no Nagios server, an incomplete [icinga] section.
 */
export function makeReporter(args: GlobalArgs, io: Io, settings: Settings, action: string): Reporter | null {
  const emitters: Emitter[] = [];
  if (args.nagios !== undefined) emitters.push(nagiosEmitter(settings, args.nagios));
  if (args.icinga) emitters.push(icingaEmitter(settings));
  if (emitters.length === 0) return null;
  return {
    async report(pairs, logs) {
      if (pairs.length === 0) return;
      const now = Date.now();
      const items = pairs.map((pair) => ({ pair, result: currentResult(settings, pair, now) }));
      const lines: Array<{ pair: Pair; level: 'info' | 'warn'; text: string }> = [];
      for (const e of emitters) {
        let outcomes: Handover[];
        try {
          outcomes = await e.send(items);
        } catch (err) {
          outcomes = items.map(() => ({ ok: false, why: `internal error: ${(err as Error).message}` }));
        }
        const failed = outcomes.flatMap((o, k) => (o.ok ? [] : [{ pair: items[k]!.pair, why: o.why }]));
        items.forEach(({ pair }, k) => {
          const o = outcomes[k] ?? { ok: false, why: 'no outcome (internal error)' };
          if (o.ok) lines.push({ pair, level: 'info', text: `${action}: ${o.done}` });
          else lines.push({ pair, level: 'warn', text: `${action}: could not send the result to ${e.name} (${e.nameOf(pair)}): ${o.why}` });
        });
        if (failed.length) {
          // one line per emitter and run, whatever the number of pairs: cron mails it once
          const first = failed[0]!.why;
          const several = new Set(failed.map((f) => f.why)).size > 1;
          const count = items.length > 1 ? ` (${failed.length} of ${items.length} results not sent${several ? '; each pair log says why' : ''})` : '';
          io.err(`zettabee: warning: ${action}: could not send results to ${e.name}: ${first}${count}`);
        }
      }
      await writeLog(settings, lines, logs, Boolean(args.debug));
    },
  };
}

/**
 * Successes go to the log only when the action keeps one open anyway (not
 * for status, which cron may run every few minutes); failures always do.
 */
async function writeLog(settings: Settings, lines: ReadonlyArray<{ pair: Pair; level: 'info' | 'warn'; text: string }>, logs: PairLogs | undefined, debug: boolean): Promise<void> {
  const wanted = logs ? lines : lines.filter((l) => l.level === 'warn');
  if (wanted.length === 0) return;
  let own: PairLogs | undefined;
  try {
    let target = logs;
    if (!target) {
      own = new PairLogs();
      own.open(settings, [...new Set(wanted.map((l) => l.pair.fingerprint))], debug);
      target = own;
    }
    for (const l of wanted) target.for(l.pair.fingerprint)[l.level](l.text);
  } catch {
    // an unwritable log must not turn into a failure either; stderr already has the warning
  } finally {
    await own?.close();
  }
}

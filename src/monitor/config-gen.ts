// Service definitions for the monitoring server (pure): one passive service
// per pair, named exactly as the emitters report it (names.ts), with a
// freshness window derived from how often results are sent (report_interval)
// so that a pair whose results stop arriving goes UNKNOWN "no result
// received" within minutes instead of staying green.
import type { Pair } from '../config/pairs.js';
import { endpointText } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { formatDuration } from '../config/duration.js';
import { reportedNames, type Template } from './names.js';

/** the least slack on top of report_interval: cron jitter, a slow send (send_nsca may take 40 s), a busy machine */
export const MIN_MARGIN = 300;
/** the slack of a long interval, as a share of it */
export const MARGIN_SHARE = 0.1;

export interface FreshnessWindow {
  /** seconds without a result before the service goes stale */
  seconds: number;
  /** report_interval: how often results are sent */
  interval: number;
  /** seconds - interval */
  margin: number;
}

/**
 * report_interval + max(5 min, 10% of it). A result is sent by every
 * `zettabee --nagios status` from cron (and by every update), so when none
 * has come for longer than the interval plus a margin for jitter, the
 * channel is broken: a wrong password, a dead cron job, a lost network.
 * Lag alerts do not depend on it: every result carries the lag measured
 * against wlag and clag. Also the ttl the Icinga emitter sends with each
 * result.
 */
export function freshnessWindow(reportInterval: number): FreshnessWindow {
  const margin = Math.max(MIN_MARGIN, Math.ceil(reportInterval * MARGIN_SHARE));
  return { seconds: reportInterval + margin, interval: reportInterval, margin };
}

export interface ServiceEntry {
  pair: Pair;
  host: string;
  service: string;
  window: FreshnessWindow;
}

export interface GenOptions {
  /** this machine's short host name (what a local {dhost} becomes) */
  shortHostname: string;
  /** shown in the header: the pairs file the definitions were made from */
  pairsFile?: string;
  /** service template to inherit from ('' for none) */
  use?: string;
  /** also define the hosts, inheriting this template ('' for none); undefined: do not define hosts */
  hosts?: string;
}

export interface Generated {
  text: string;
  /** mistakes that make the definitions unusable (two pairs under one name) */
  problems: string[];
  /** things worth knowing (names too long for NSCA, characters Nagios refuses) */
  warnings: string[];
}

/** NSCA's packet limits (host 63 bytes, service 127): longer names never arrive whole */
const NSCA_HOST_MAX = 63;
const NSCA_SERVICE_MAX = 127;
/** the stock illegal_object_name_chars of nagios.cfg */
const NAGIOS_ILLEGAL = /[`~!$%^&*|'"<>?,()=;]/;

export function serviceEntries(pairs: readonly Pair[], t: Template & { report_interval: number }, shortHostname: string): { entries: ServiceEntry[]; problems: string[] } {
  const window = freshnessWindow(t.report_interval);
  const entries = pairs.map((pair) => ({ pair, ...reportedNames(t, pair, shortHostname), window }));
  const problems: string[] = [];
  const seen = new Map<string, Pair>();
  for (const e of entries) {
    const key = `${e.host}\0${e.service}`;
    const prev = seen.get(key);
    if (prev) {
      problems.push(`${prev.label} and ${e.pair.label} would both report as host '${e.host}' service '${e.service}'; put {dhost} or {dzfs} (or {fingerprint}) into the templates`);
    } else seen.set(key, e.pair);
  }
  return { entries, problems };
}

function nameWarnings(entries: readonly ServiceEntry[], nagios: boolean): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (Buffer.byteLength(e.host) > NSCA_HOST_MAX) out.push(`host name '${e.host}' (${e.pair.label}) is longer than NSCA's ${NSCA_HOST_MAX} bytes`);
    if (Buffer.byteLength(e.service) > NSCA_SERVICE_MAX) out.push(`service name '${e.service}' (${e.pair.label}) is longer than NSCA's ${NSCA_SERVICE_MAX} bytes`);
    if (nagios && NAGIOS_ILLEGAL.test(`${e.host}${e.service}`)) out.push(`'${e.host}' / '${e.service}' (${e.pair.label}) holds a character Nagios refuses in object names by default`);
    if (!nagios && e.service.includes('!')) out.push(`service name '${e.service}' (${e.pair.label}) holds '!', which Icinga 2 does not allow`);
  }
  return out;
}

/** a report_interval longer than clag lets the lag pass clag unreported for that long */
function intervalWarnings(entries: readonly ServiceEntry[], section: 'nagios' | 'icinga'): string[] {
  return entries.flatMap((e) => {
    const clag = e.pair.options.clag;
    if (clag === undefined || e.window.interval <= clag) return [];
    return [
      `report_interval ${formatDuration(e.window.interval)} (in [${section}]) is longer than the clag ${formatDuration(clag)} of ${e.pair.label}: its lag can pass clag that long before a result says so; run zettabee --${section} status more often`,
    ];
  });
}

function uniqueHosts(entries: readonly ServiceEntry[]): string[] {
  return [...new Set(entries.map((e) => e.host))];
}

/** a Nagios directive line: name padded, as the stock configs write them */
function d(name: string, value: string | number): string {
  return `    ${name.padEnd(24)}${value}`;
}

/** "10m: report_interval 5m (in [nagios]) + 5m" */
function windowNote(w: FreshnessWindow, section: 'nagios' | 'icinga'): string {
  return `${formatDuration(w.seconds)}: report_interval ${formatDuration(w.interval)} (in [${section}]) + ${formatDuration(w.margin)}`;
}

/** `zettabee nagios-config`: object definitions to include from nagios.cfg */
export function nagiosConfig(pairs: readonly Pair[], settings: Settings, opts: GenOptions): Generated {
  const { entries, problems } = serviceEntries(pairs, settings.nagios, opts.shortHostname);
  const window = freshnessWindow(settings.nagios.report_interval);
  const use = opts.use ?? 'generic-service';
  const hosts = uniqueHosts(entries);
  const L: string[] = [];
  L.push(
    '# Nagios object definitions for zettabee passive checks.',
    `# Generated by \`zettabee nagios-config\`${opts.pairsFile ? ` from ${opts.pairsFile}` : ''}; regenerate when pairs change.`,
    '#',
    '# Results arrive through send_nsca: every `zettabee --nagios update` sends its',
    '# pairs\' results, and `zettabee --nagios status` from cron reports lag and stuck',
    '# runs between updates. send_nsca cannot tell whether a result arrived (a',
    '# wrong password is dropped silently): only freshness catches a lost result.',
    '# When no result arrives within a service\'s freshness_threshold, Nagios runs',
    '# zettabee-no-result, which makes the service UNKNOWN "no result received',
    '# from zettabee ...".',
    `# freshness_threshold = ${windowNote(window, 'nagios')}`,
    `# (report_interval + max(${formatDuration(MIN_MARGIN)}, 10%)); set report_interval to the period of the`,
    '# `zettabee --nagios status` cron line. Lag alerts come from wlag and clag.',
    '# Nagios needs check_service_freshness=1 in nagios.cfg (the default).',
    '#',
  );
  if (opts.hosts === undefined) {
    L.push(
      '# These services belong to the hosts below, which must already be defined',
      '# (`zettabee nagios-config --hosts` adds minimal definitions for them):',
      ...hosts.map((h) => `#   ${h}`),
    );
  } else {
    L.push('# The hosts are defined below too (--hosts): leave them out if your', '# configuration already defines them (Nagios refuses duplicates).');
  }
  L.push(
    '',
    '# $USER1$ is the plugin directory (resource.cfg)',
    'define command {',
    d('command_name', 'zettabee-no-result'),
    d('command_line', '$USER1$/check_dummy 3 "no result received from zettabee for $ARG1$ in $ARG2$ (is its cron job running?)"'),
    '}',
    '',
    '# what every zettabee service shares: passive, freshness-checked, hard at once',
    'define service {',
    d('name', 'zettabee-service'),
    ...(use ? [d('use', use)] : []),
    d('register', 0),
    d('active_checks_enabled', 0),
    d('passive_checks_enabled', 1),
    d('check_freshness', 1),
    d('max_check_attempts', 1),
    '}',
  );
  if (opts.hosts !== undefined) {
    for (const h of hosts) {
      L.push(
        '',
        '# no check_command: Nagios takes the host as UP; it exists to hold the services',
        'define host {',
        ...(opts.hosts ? [d('use', opts.hosts)] : []),
        d('host_name', h),
        d('alias', `${h} (zettabee)`),
        d('address', h),
        d('max_check_attempts', 1),
        '}',
      );
    }
  }
  for (const e of entries) {
    L.push(
      '',
      `# ${endpointText(e.pair.source)} -> ${endpointText(e.pair.destination)} (fingerprint ${e.pair.fingerprint})`,
      'define service {',
      d('use', 'zettabee-service'),
      d('host_name', e.host),
      d('service_description', e.service),
      d('freshness_threshold', e.window.seconds),
      d('check_command', `zettabee-no-result!${e.pair.label}!${formatDuration(e.window.seconds)}`),
      '}',
    );
  }
  return { text: L.join('\n') + '\n', problems, warnings: [...nameWarnings(entries, true), ...intervalWarnings(entries, 'nagios')] };
}

/** an Icinga 2 DSL string literal; '$' doubled so it is never read as a macro */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/\n/g, '\\n')}"`;
}

/** `zettabee icinga-config`: Icinga 2 objects to put under conf.d or a zones.d directory */
export function icingaConfig(pairs: readonly Pair[], settings: Settings, opts: GenOptions): Generated {
  const { entries, problems } = serviceEntries(pairs, settings.icinga, opts.shortHostname);
  const window = freshnessWindow(settings.icinga.report_interval);
  const use = opts.use ?? 'generic-service';
  const hosts = uniqueHosts(entries);
  const L: string[] = [];
  L.push(
    '/*',
    ' * Icinga 2 objects for zettabee passive checks.',
    ` * Generated by \`zettabee icinga-config\`${opts.pairsFile ? ` from ${opts.pairsFile}` : ''}; regenerate when pairs change.`,
    ' *',
    ' * Results arrive through the API (process-check-result): every',
    ' * `zettabee --icinga update` sends its pairs\' results, and `zettabee --icinga',
    ' * status` from cron reports lag and stuck runs between updates. Icinga 2 only',
    ' * notices silence through an active check, so each service runs the dummy',
    ' * check every check_interval (= the freshness window) and turns UNKNOWN',
    ' * "no result received from zettabee ..."; every result that arrives pushes',
    ' * that check back by a full interval (and carries the window as its ttl).',
    ` * window = ${windowNote(window, 'icinga')}`,
    ` * (report_interval + max(${formatDuration(MIN_MARGIN)}, 10%)); set report_interval to the period of`,
    ' * the `zettabee --icinga status` cron line. Lag alerts come from wlag and clag.',
    ' *',
  );
  if (opts.hosts === undefined) {
    L.push(
      ' * These services belong to the hosts below, which must already be defined',
      ' * (`zettabee icinga-config --hosts` adds minimal definitions for them):',
      ...hosts.map((h) => ` *   ${h}`),
    );
  } else {
    L.push(' * The hosts are defined below too (--hosts): leave them out if your', ' * configuration already defines them (Icinga refuses duplicates).');
  }
  L.push(' */');
  if (opts.hosts !== undefined) {
    for (const h of hosts) {
      L.push(
        '',
        `object Host ${q(h)} {`,
        ...(opts.hosts ? [`  import ${q(opts.hosts)}`] : []),
        '  // always UP: it exists to hold the zettabee services',
        '  check_command = "dummy"',
        '  vars.dummy_state = 0',
        `  vars.dummy_text = ${q(`${h} holds zettabee services`)}`,
        '}',
      );
    }
  }
  for (const e of entries) {
    const window = `${e.window.seconds}s`;
    L.push(
      '',
      `// ${endpointText(e.pair.source)} -> ${endpointText(e.pair.destination)}`,
      `object Service ${q(e.service)} {`,
      ...(use ? [`  import ${q(use)}`] : []),
      `  host_name = ${q(e.host)}`,
      '  check_command = "dummy"',
      '  enable_active_checks = true',
      '  enable_passive_checks = true',
      `  check_interval = ${window}`,
      `  retry_interval = ${window}`,
      '  max_check_attempts = 1',
      '  vars.dummy_state = 3',
      `  vars.dummy_text = ${q(`no result received from zettabee for ${e.pair.label} in ${formatDuration(e.window.seconds)}`)}`,
      `  vars.zettabee_fingerprint = ${q(e.pair.fingerprint)}`,
      '}',
    );
  }
  return { text: L.join('\n') + '\n', problems, warnings: [...nameWarnings(entries, false), ...intervalWarnings(entries, 'icinga')] };
}

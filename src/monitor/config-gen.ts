// Service definitions for the monitoring server (pure): one passive service
// per pair, named exactly as the emitters report it (names.ts), with a
// freshness window derived from the pair's clag so that a pair whose results
// stop arriving goes UNKNOWN "no result received" instead of staying green.
import type { Pair } from '../config/pairs.js';
import { endpointText } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { formatDuration } from '../config/duration.js';
import { reportedNames, type Template } from './names.js';

/** the window of a pair without clag: the daily cron job most sites run */
export const DEFAULT_WINDOW_BASE = 86400;
/** slack on top of the base: a run in progress, cron jitter, a slow send */
export const MIN_MARGIN = 600;

export interface FreshnessWindow {
  /** seconds without a result before the service goes stale */
  seconds: number;
  /** clag, or DEFAULT_WINDOW_BASE when the pair has none */
  base: number;
  fromClag: boolean;
}

/**
 * clag + max(10 min, 10% of clag). A result is sent after every update (and by
 * `status --nagios` from cron), so silence longer than clag means the lag has
 * reached clag unseen: the service must not stay OK past that. The margin lets
 * a run that is still going (or a late cron job) report first. Also the ttl
 * the Icinga emitter sends with each result.
 */
export function freshnessWindow(pair: Pair): FreshnessWindow {
  const clag = pair.options.clag;
  const base = clag ?? DEFAULT_WINDOW_BASE;
  return { seconds: base + Math.max(MIN_MARGIN, Math.ceil(base / 10)), base, fromClag: clag !== undefined };
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

export function serviceEntries(pairs: readonly Pair[], t: Template, shortHostname: string): { entries: ServiceEntry[]; problems: string[] } {
  const entries = pairs.map((pair) => ({ pair, ...reportedNames(t, pair, shortHostname), window: freshnessWindow(pair) }));
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

function uniqueHosts(entries: readonly ServiceEntry[]): string[] {
  return [...new Set(entries.map((e) => e.host))];
}

/** a Nagios directive line: name padded, as the stock configs write them */
function d(name: string, value: string | number): string {
  return `    ${name.padEnd(24)}${value}`;
}

function windowNote(w: FreshnessWindow): string {
  return w.fromClag
    ? `clag ${formatDuration(w.base)} + ${formatDuration(w.seconds - w.base)}`
    : `no clag: default ${formatDuration(w.base)} + ${formatDuration(w.seconds - w.base)}`;
}

/** `zettabee nagios-config`: object definitions to include from nagios.cfg */
export function nagiosConfig(pairs: readonly Pair[], settings: Settings, opts: GenOptions): Generated {
  const { entries, problems } = serviceEntries(pairs, settings.nagios, opts.shortHostname);
  const use = opts.use ?? 'generic-service';
  const hosts = uniqueHosts(entries);
  const L: string[] = [];
  L.push(
    '# Nagios object definitions for zettabee passive checks.',
    `# Generated by \`zettabee nagios-config\`${opts.pairsFile ? ` from ${opts.pairsFile}` : ''}; regenerate when pairs change.`,
    '#',
    '# Results arrive through send_nsca: every `zettabee --nagios update` sends its',
    '# pairs\' results, and `zettabee --nagios status` from cron reports lag and stuck',
    '# runs between updates. When no result arrives within a service\'s',
    '# freshness_threshold, Nagios runs zettabee-no-result, which makes the service',
    '# UNKNOWN "no result received from zettabee ...".',
    `# freshness_threshold = the pair's clag + 10% (at least ${formatDuration(MIN_MARGIN)}); a pair`,
    `# without clag gets ${formatDuration(DEFAULT_WINDOW_BASE)} + 10%, the period of a daily cron job.`,
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
      `# freshness ${formatDuration(e.window.seconds)}: ${windowNote(e.window)}`,
      'define service {',
      d('use', 'zettabee-service'),
      d('host_name', e.host),
      d('service_description', e.service),
      d('freshness_threshold', e.window.seconds),
      d('check_command', `zettabee-no-result!${e.pair.label}!${formatDuration(e.window.seconds)}`),
      '}',
    );
  }
  return { text: L.join('\n') + '\n', problems, warnings: nameWarnings(entries, true) };
}

/** an Icinga 2 DSL string literal; '$' doubled so it is never read as a macro */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/\n/g, '\\n')}"`;
}

/** `zettabee icinga-config`: Icinga 2 objects to put under conf.d or a zones.d directory */
export function icingaConfig(pairs: readonly Pair[], settings: Settings, opts: GenOptions): Generated {
  const { entries, problems } = serviceEntries(pairs, settings.icinga, opts.shortHostname);
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
    ' * that check back by a full interval.',
    ` * window = the pair's clag + 10% (at least ${formatDuration(MIN_MARGIN)}); a pair without`,
    ` * clag gets ${formatDuration(DEFAULT_WINDOW_BASE)} + 10%, the period of a daily cron job.`,
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
      `// ${endpointText(e.pair.source)} -> ${endpointText(e.pair.destination)}; window ${formatDuration(e.window.seconds)}: ${windowNote(e.window)}`,
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
  return { text: L.join('\n') + '\n', problems, warnings: nameWarnings(entries, false) };
}

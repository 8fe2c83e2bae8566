// The settings file (ini). Values come from the `ini` package; a line scan of
// the same text supplies line numbers, so every mistake is reported as
// file:line and nothing runs until the file is right.
import { parse as parseIni } from 'ini';
import { isAbsolute } from 'node:path';
import { type PairOptions, isOptionKey, parseOption, unknownKeyMessage, optionConsistencyProblems } from './keys.js';
import { formatDuration, parseDuration } from './duration.js';
import type { Problem } from './pairs.js';

export interface Settings {
  /** the file read, or null when built-in defaults are used */
  file: string | null;
  paths: { state: string; lock: string; log: string };
  defaults: PairOptions;
  /** report_interval: seconds between the reports of the `--nagios status` cron line (the freshness window follows it) */
  nagios: { send_nsca: string; config: string; server?: string; port: number; host: string; service: string; report_interval: number };
  icinga: { url?: string; user?: string; password_file?: string; ca?: string; host: string; service: string; report_interval: number };
  ssh: { known_hosts?: string; connect_timeout: number };
}

/** the built-in report_interval: the five-minute `zettabee --nagios status` line of etc/cron.d/zettabee */
export const DEFAULT_REPORT_INTERVAL = 300;

export const TEMPLATE_FIELDS = ['fingerprint', 'shost', 'szfs', 'dhost', 'dzfs', 'hostname'] as const;

export function builtinSettings(): Settings {
  return {
    file: null,
    paths: { state: '/var/lib/zettabee', lock: '/run/zettabee', log: '/var/log/zettabee' },
    defaults: {},
    nagios: { send_nsca: '/usr/sbin/send_nsca', config: '/etc/send_nsca.cfg', port: 5667, host: '{dhost}', service: 'zettabee {dzfs}', report_interval: DEFAULT_REPORT_INTERVAL },
    icinga: { host: '{dhost}', service: 'zettabee {dzfs}', report_interval: DEFAULT_REPORT_INTERVAL },
    ssh: { connect_timeout: 10 },
  };
}

type Check = (value: string) => string | null; // null = fine, else the problem

const absolutePath: Check = (v) => (isAbsolute(v) ? null : `'${v}' must be an absolute path`);
const nonEmpty: Check = (v) => (v.trim() ? null : 'must not be empty');
const port: Check = (v) => (/^\d+$/.test(v) && +v >= 1 && +v <= 65535 ? null : `'${v}' is not a TCP port (1 to 65535)`);
const seconds: Check = (v) => (/^\d+$/.test(v) && +v >= 1 && +v <= 3600 ? null : `'${v}' is not a number of seconds (1 to 3600)`);
const hostName: Check = (v) => (/^[A-Za-z0-9.:[\]-]+$/.test(v) && !v.startsWith('-') ? null : `'${v}' is not a host name or address`);
const url: Check = (v) => (/^https:\/\/[^\s/]+(:\d+)?\/?$/.test(v) ? null : `'${v}' is not an https://host:port URL`);
/** cron's granularity to a week: how often results can sensibly be sent */
const reportInterval: Check = (v) => {
  const d = parseDuration(v);
  if (typeof d !== 'number') return d.error;
  if (d < 60) return `${formatDuration(d)} is shorter than 1m (cron runs at most once a minute)`;
  if (d > 604800) return `${formatDuration(d)} is longer than 1w`;
  return null;
};
const template: Check = (v) => {
  if (!v.trim()) return 'must not be empty';
  for (const m of v.matchAll(/\{([^}]*)\}/g)) {
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(m[1]!)) {
      return `unknown placeholder {${m[1]}} (known: ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(' ')})`;
    }
  }
  return null;
};

const SCHEMA: Record<string, Record<string, Check> | 'pair-options'> = {
  paths: { state: absolutePath, lock: absolutePath, log: absolutePath },
  defaults: 'pair-options',
  nagios: { send_nsca: absolutePath, config: absolutePath, server: hostName, port, host: template, service: template, report_interval: reportInterval },
  icinga: { url, user: nonEmpty, password_file: absolutePath, ca: absolutePath, host: template, service: template, report_interval: reportInterval },
  ssh: { known_hosts: absolutePath, connect_timeout: seconds },
};

export function parseSettings(text: string, file: string): { settings: Settings; problems: Problem[] } {
  const settings = builtinSettings();
  settings.file = file;
  const problems: Problem[] = [];
  const values = parseIni(text) as Record<string, unknown>;
  const seen = new Set<string>();
  let section: string | null = null;
  const defaultsLines: Array<[string, number]> = [];

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const fail = (message: string) => problems.push({ file, line, message });
    const t = raw.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    const sec = /^\[([^\]]*)\]$/.exec(t);
    if (sec) {
      section = sec[1]!.trim();
      if (!(section in SCHEMA)) {
        fail(`unknown section [${section}]; known sections: ${Object.keys(SCHEMA).map((s) => `[${s}]`).join(' ')}`);
        section = '?';
      }
      return;
    }
    const eq = t.indexOf('=');
    if (eq <= 0) return void fail(`'${t}' is neither [section] nor key = value`);
    const key = t.slice(0, eq).trim();
    if (section === null) return void fail(`'${key}' comes before any [section]`);
    if (section === '?') return; // already reported
    if (seen.has(`${section}.${key}`)) return void fail(`${key} is set twice in [${section}]`);
    seen.add(`${section}.${key}`);
    const value = String((values[section] as Record<string, unknown> | undefined)?.[key] ?? '').trim();
    const schema = SCHEMA[section]!;
    if (schema === 'pair-options') {
      if (!isOptionKey(key)) return void fail(`[defaults]: ${unknownKeyMessage(key)}`);
      const r = parseOption(key, value);
      if ('error' in r) return void fail(`[defaults]: ${r.error}`);
      (settings.defaults as Record<string, unknown>)[r.key] = r.value;
      defaultsLines.push([key, line]);
      return;
    }
    const check = schema[key];
    if (!check) return void fail(`unknown key '${key}' in [${section}]; known keys: ${Object.keys(schema).join(', ')}`);
    const problem = check(value);
    if (problem) return void fail(`[${section}] ${key}: ${problem}`);
    const target = (settings as unknown as Record<string, Record<string, unknown>>)[section]!;
    target[key] = key === 'port' || key === 'connect_timeout' ? Number(value) : key === 'report_interval' ? (parseDuration(value) as number) : value;
  });

  for (const message of optionConsistencyProblems(settings.defaults)) {
    problems.push({ file, line: defaultsLines.at(-1)?.[1] ?? 0, message: `[defaults]: ${message}` });
  }
  return { settings, problems };
}

// The settings file (ini), read line by line by zettabee itself: a value is
// the whole rest of its line (only a ';' or '#' after a blank starts a
// comment), and every value is checked as it is read, so every mistake is
// reported as file:line and nothing runs until the file is right. Sections
// and keys are looked up in Maps: a section called [constructor] or
// [__proto__] is just an unknown section.
import { isAbsolute } from 'node:path';
import { hostNameProblem, splitHost, sshPathProblem } from '../domain/names.js';
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
  /** textfile: the file for node_exporter's textfile collector; none is written when unset */
  prometheus: { textfile?: string };
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
    prometheus: {},
  };
}

type Check = (value: string) => string | null; // null = fine, else the problem

const absolutePath: Check = (v) => (isAbsolute(v) ? null : `'${v}' must be an absolute path`);
const sshPath: Check = (v) => absolutePath(v) ?? sshPathProblem(v);
/** node_exporter's textfile collector reads only *.prom files of its directory */
const textfile: Check = (v) => absolutePath(v) ?? (/[^/]\.prom$/.test(v) ? null : `'${v}' must be a file name ending in .prom (node_exporter's textfile collector reads only *.prom files)`);
const nonEmpty: Check = (v) => (v.trim() ? null : 'must not be empty');
const port: Check = (v) => (/^\d{1,5}$/.test(v) && +v >= 1 && +v <= 65535 ? null : `'${v}' is not a TCP port (1 to 65535)`);
const seconds: Check = (v) => (/^\d{1,4}$/.test(v) && +v >= 1 && +v <= 3600 ? null : `'${v}' is not a number of seconds (1 to 3600)`);
const hostName: Check = (v) => hostNameProblem(v);
const url: Check = (v) => {
  const form = `'${v}' is not an https://host[:port] URL`;
  if (!v.startsWith('https://')) return form;
  const rest = v.slice('https://'.length).replace(/\/$/, '');
  // a bare [IPv6] has no ':' after its bracket
  const split = rest.startsWith('[') && rest.endsWith(']') ? null : splitHost(rest);
  if (split && 'error' in split) return `${form}: ${split.error}`;
  const problem = split ? (hostNameProblem(split.host) ?? port(split.rest)) : rest.includes('/') ? 'it has a path' : hostNameProblem(rest);
  return problem ? `${form}: ${problem}` : null;
};
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
  const known = TEMPLATE_FIELDS.map((f) => `{${f}}`).join(' ');
  for (let open = v.indexOf('{'); open >= 0; open = v.indexOf('{', open + 1)) {
    const close = v.indexOf('}', open);
    if (close < 0) return `'{' without a closing '}' (placeholders: ${known})`;
    const name = v.slice(open + 1, close);
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(name)) return `unknown placeholder {${name}} (known: ${known})`;
    open = close;
  }
  return null;
};

const SCHEMA = new Map<string, Map<string, Check> | 'pair-options'>([
  ['paths', new Map([['state', absolutePath], ['lock', absolutePath], ['log', absolutePath]])],
  ['defaults', 'pair-options'],
  ['nagios', new Map([['send_nsca', absolutePath], ['config', absolutePath], ['server', hostName], ['port', port], ['host', template], ['service', template], ['report_interval', reportInterval]])],
  ['icinga', new Map([['url', url], ['user', nonEmpty], ['password_file', absolutePath], ['ca', absolutePath], ['host', template], ['service', template], ['report_interval', reportInterval]])],
  ['ssh', new Map([['known_hosts', sshPath], ['connect_timeout', seconds]])],
  ['prometheus', new Map([['textfile', textfile]])],
]);

/** the index where a comment starts (a mark at the start or after a blank), or -1 */
function commentStart(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if ((text[i] === ';' || text[i] === '#') && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) return i;
  }
  return -1;
}

/**
 * The value after '=': the rest of the line up to a comment, trimmed; or,
 * when it starts with '"', what lies between that quote and the next (then
 * only a comment may follow).
 */
function readValue(text: string): { value: string } | { error: string } {
  const t = text.trimStart();
  if (t.startsWith('"')) {
    const close = t.indexOf('"', 1);
    if (close < 0) return { error: `the quote in '${t}' has no closing '"'` };
    const after = t.slice(close + 1);
    if (after.trim() !== '' && !/^[ \t]+[;#]/.test(after)) return { error: `'${after.trim()}' follows the closing quote of ${t.slice(0, close + 1)}` };
    return { value: t.slice(1, close) };
  }
  const c = commentStart(t, 0);
  return { value: (c < 0 ? t : t.slice(0, c)).trim() };
}

const CONTROL = /[\0-\x1f\x7f]/;

export function parseSettings(text: string, file: string): { settings: Settings; problems: Problem[] } {
  const settings = builtinSettings();
  settings.file = file;
  const problems: Problem[] = [];
  const seen = new Set<string>();
  let section: string | null = null;
  const defaultsLines: number[] = [];

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const fail = (message: string) => problems.push({ file, line, message });
    const t = raw.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    if (t.startsWith('[')) {
      const c = commentStart(t, 0);
      const head = (c < 0 ? t : t.slice(0, c)).trim();
      if (!head.endsWith(']')) return void fail(`'${t}' is not a [section] line`);
      section = head.slice(1, -1).trim();
      if (!SCHEMA.has(section)) {
        fail(`unknown section [${section}]; known sections: ${[...SCHEMA.keys()].map((s) => `[${s}]`).join(' ')}`);
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
    const read = readValue(t.slice(eq + 1));
    if ('error' in read) return void fail(`[${section}] ${key}: ${read.error}`);
    const value = read.value;
    const control = CONTROL.exec(value);
    if (control) return void fail(`[${section}] ${key}: the value contains a control character (code ${control[0].charCodeAt(0)})`);
    const schema = SCHEMA.get(section)!;
    if (schema === 'pair-options') {
      if (!isOptionKey(key)) return void fail(`[defaults]: ${unknownKeyMessage(key)}`);
      const r = parseOption(key, value);
      if ('error' in r) return void fail(`[defaults]: ${r.error}`);
      (settings.defaults as Record<string, unknown>)[r.key] = r.value;
      defaultsLines.push(line);
      return;
    }
    const check = schema.get(key);
    if (!check) return void fail(`unknown key '${key}' in [${section}]; known keys: ${[...schema.keys()].join(', ')}`);
    const problem = check(value);
    if (problem) return void fail(`[${section}] ${key}: ${problem}`);
    const target = (settings as unknown as Record<string, Record<string, unknown>>)[section]!;
    target[key] = key === 'port' || key === 'connect_timeout' ? Number(value) : key === 'report_interval' ? (parseDuration(value) as number) : value;
  });

  for (const message of optionConsistencyProblems(settings.defaults)) {
    problems.push({ file, line: defaultsLines.at(-1) ?? 0, message: `[defaults]: ${message}` });
  }
  return { settings, problems };
}

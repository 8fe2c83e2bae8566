// Config fuzz: generated malformed pairs and settings files, hostile DEST
// arguments and command lines, each given to the real launcher. Every run
// must exit 2 (3 for check), name file:line for a mistake in a file, print
// no stack trace and no raw control character, and run nothing: zfs, zpool,
// ssh, send_nsca, mbuffer and pv are shims on PATH that log every call, and
// no log may appear. The runs are generated from a seed (printed; set
// ZETTABEE_FUZZ_SEED to repeat a run); ZETTABEE_FUZZ_RUNS sets their number
// (ZETTABEE_FUZZ=full: 2000; default 250, 20 to 40 s on two busy cores).
import { expect } from 'chai';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../harness/scratch.js';
import { runLauncher, type Result } from './support.js';

const SHIMS = ['zfs', 'zpool', 'ssh', 'send_nsca', 'mbuffer', 'pv'];
const SEED = Number(process.env.ZETTABEE_FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.ZETTABEE_FUZZ_RUNS) || (process.env.ZETTABEE_FUZZ === 'full' ? 2000 : 250);
const CONCURRENCY = 2;

/** mulberry32: small, seedable, good enough to pick cases */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  /** what was generated, for the failure message */
  what: string;
  args: string[];
  pairs: string;
  settings: string;
  /** file:line that the output must name (none for command-line cases) */
  expect: string[];
}

describe('e2e: config fuzz (the real launcher, a PATH of logging shims)', function () {
  const dir = scratchDir('zb-fuzz-');
  const shims = join(dir, 'shims');
  const mark = join(dir, 'PWNED');
  const pairsFile = join(dir, 'zettabee.cfg');
  const settingsFile = join(dir, 'zettabee.ini');
  const rand = prng(SEED);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const HOSTILE = 'ab/:;|&$`"\'\\ ,=#[]{}()<>*?!~%@\t\x1b\x07\r\u202e\u00a0ä-_.0123456789';
  const junk = (n: number): string => Array.from({ length: n }, () => pick([...HOSTILE])).join('');
  const payload = `$(touch\${IFS}${mark})`;

  before(function () {
    mkdirSync(shims);
    for (const s of SHIMS) {
      const f = join(shims, s);
      writeFileSync(f, `#!/bin/sh\necho "${s} $*" >> "\${ZB_SHIM_LOG:-${join(dir, 'shim.log')}}"\nexit 1\n`);
      chmodSync(f, 0o755);
    }
    process.stdout.write(`      config fuzz: seed ${SEED} (ZETTABEE_FUZZ_SEED=${SEED} repeats it), ${RUNS} runs\n`);
  });

  // ---- the valid files every case starts from --------------------------------
  type PairLine = { src: string; dst: string; opts: string[] };
  const basePairs = (): PairLine[] => [
    { src: 'tank/a', dst: 'backup/a', opts: ['wlag=1h', 'clag=4h'] },
    { src: 'src:tank/b', dst: 'backup/b', opts: ['sshport=2222', 'sshuser=zb', 'sshkey=/root/.ssh/id'] },
    { src: 'tank/c', dst: 'dst:backup/c', opts: ['transport=mbuffer', 'port=5001'] },
    { src: '[::1]:tank/d', dst: 'backup/x/dup', opts: ['keep=3'] },
    { src: 'tank/e', dst: 'backup/y/dup', opts: [] },
  ];
  // line 1 is a comment, so pair i is on line i + 2
  const renderPairs = (ps: readonly (PairLine | string)[]): string =>
    ['# zettabee fuzz base', ...ps.map((p) => (typeof p === 'string' ? p : `${p.src}  ${p.dst}  ${p.opts.join(',')}`.trimEnd()))].join('\n') + '\n';
  type Entry = [key: string, value: string] | string;
  const baseSettings = (): Array<[string, Entry[]]> => [
    ['paths', [['state', join(dir, 'state')], ['lock', join(dir, 'lock')], ['log', join(dir, 'log')]]],
    ['defaults', [['keep', '2']]],
    ['nagios', [['send_nsca', join(shims, 'send_nsca')], ['config', join(dir, 'send_nsca.cfg')], ['server', 'nagios.example.org'], ['port', '5667'], ['service', 'zettabee {dzfs}']]],
    ['icinga', [['host', '{dhost}']]],
    ['ssh', [['known_hosts', join(dir, 'known_hosts')], ['connect_timeout', '5']]],
  ];
  /** the text, and the line of each [section index, entry index] (entry -1: the header) */
  const renderSettings = (ss: Array<[string, Entry[]]>): { text: string; lineOf: (s: number, e: number) => number } => {
    const lines: string[] = [];
    const at = new Map<string, number>();
    ss.forEach(([name, entries], si) => {
      at.set(`${si}:-1`, lines.push(name.startsWith('!') ? name.slice(1) : `[${name}]`));
      entries.forEach((e, ei) => at.set(`${si}:${ei}`, lines.push(typeof e === 'string' ? e : `${e[0]} = ${e[1]}`)));
    });
    return { text: lines.join('\n') + '\n', lineOf: (s, e) => at.get(`${s}:${e}`)! };
  };
  const validSettings = renderSettings(baseSettings()).text;

  // ---- pairs file mutations: each makes the line it touches wrong -----------
  const BAD_KEYS = ['wlg', 'clagg', 'Keep', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'x', ''];
  const badDuration = (): string =>
    pick([
      () => `${'1'.repeat(int(1, 60))}${pick(['x', 'y', '!', '.5', 'h1', 'hh', 'ms'])}`,
      () => pick(['1.5h', '-5', 'h', '1h30', '5y', 'soon', '1h-', '0x10', '1h 30m', '', '${HOME}', payload]),
      () => `${'9'.repeat(int(2000, 30000))}x`,
      () => `${'1h'.repeat(int(500, 5000))}!`,
    ])();
  const BAD_VALUES: Array<[string, string]> = [
    ['keep', 'x'], ['keep', '-1'], ['keep', '1 0'], ['keep', ''], ['port', '70000'], ['port', '0'], ['sshport', '22x'],
    ['transport', 'rsync'], ['recursive', 'maybe'], ['rollback', '1'], ['stale_lock', 'steal'], ['compress', 'xz'],
    ['buffer', '64Q'], ['blocksize', '1'], ['bwlimit', 'fast'], ['sshuser', '-root'], ['sshuser', 'a b'], ['sshkey', 'id_rsa'],
    ['sshkey', '/a/${HOME}/id'], ['sshkey', '/a\x1b[2J'], ['accept', '[::1]'], ['connect', 'a;b'], ['stall', '1 m'],
    ['sshkey', '"/a b'], ['sshkey', '/a"b"'], ['sshkey', '"/a"b'], ['wlag', '"1h'],
  ];
  const BAD_DATASETS = [
    `tank/${payload}`, `tank/a;touch\${IFS}${mark}`, 'tank/a|id', 'tank/`id`', 'tank/a&&id', `-oProxyCommand=touch\${IFS}${mark}`,
    'tank/a@snap', 'tank/a#bm', 'mirror/a', 'c0t0d0/a', 'tank//a', 'tank/./a', 'tank/../a', '/tank/a', 'tank/a/', '1tank/a',
    'tank/a\x1b[2J', 'tank/a\u202eb', 'tank/a\x00b', 'tank/ä', 'tank/a\u00a0b', 'tank/a\rb', 'tank/a\x0bb', 'tank/a"b', "tank/a'b",
  ];
  const BAD_HOSTS = [
    `-oProxyCommand=touch\${IFS}${mark}`, 'a;b', 'h$(id)', 'root@h', '[::1', '[zz]', '[::1]]', 'fe80::1', '::1', 'a_b',
    '300.1.1.1', 'a..b', '-h', 'x'.repeat(300), 'h\x1b]0;x\x07', '[]', '[fe80::1%$(id)]',
  ];
  const withHost = (endpoint: string, host: string): string => {
    const ds = endpoint.startsWith('[') ? endpoint.slice(endpoint.indexOf(']:') + 2) : endpoint.includes(':') ? endpoint.slice(endpoint.indexOf(':') + 1) : endpoint;
    return `${host}:${ds}`;
  };
  const datasetOf = (endpoint: string): [string, string] => {
    const m = /^(\[[^\]]*\]:|[^:/]*:)?(.*)$/.exec(endpoint)!;
    return [m[1] ?? '', m[2]!];
  };
  const setOption = (p: PairLine, key: string, value: string): void => {
    const i = p.opts.findIndex((o) => o.startsWith(`${key}=`));
    if (i >= 0) p.opts[i] = `${key}=${value}`;
    else p.opts.push(`${key}=${value}`);
  };

  const pairsMutations: Array<(ps: PairLine[], i: number) => { what: string; extra?: string; line?: number } | null> = [
    (ps, i) => {
      const o = `${pick(BAD_KEYS)}=${pick(['1', '1h', 'yes', '/x'])}`;
      ps[i]!.opts.push(o);
      return { what: `unknown key ${JSON.stringify(o)}` };
    },
    (ps, i) => {
      const k = pick(['wlag', 'clag', 'wrun', 'crun', 'stall']);
      const v = badDuration();
      setOption(ps[i]!, k, v);
      return { what: `bad duration ${k}=${JSON.stringify(v.slice(0, 40))} (${v.length} chars)` };
    },
    (ps, i) => {
      const [k, v] = pick(BAD_VALUES);
      setOption(ps[i]!, k, v);
      return { what: `bad value ${k}=${JSON.stringify(v)}` };
    },
    (ps, i) => {
      const p = ps[i]!;
      if (!p.opts.length) p.opts.push('keep=1');
      const e = int(0, p.opts.length - 1);
      const o = p.opts[e]!;
      const at = int(1, o.length - 1);
      p.opts[e] = `${o.slice(0, at)}${pick([' ', '\t', '  '])}${o.slice(at)}`;
      return { what: `a blank inside ${JSON.stringify(p.opts[e])}` };
    },
    (ps, i) => {
      const p = ps[i]!;
      if (p.opts.length < 2) p.opts.push('wlag=1h', 'clag=2h');
      const e = int(1, p.opts.length - 1);
      const sep = pick(['', ' ', '\t']);
      p.opts.splice(e - 1, 2, `${p.opts[e - 1]}${sep}${p.opts[e]}`);
      return { what: `a comma replaced by ${JSON.stringify(sep)}` };
    },
    (ps, i) => {
      const p = ps[i]!;
      const how = pick(['double', 'trailing', 'leading', 'blank double']);
      if (!p.opts.length) p.opts.push('keep=1');
      if (how === 'trailing') p.opts.push('');
      else if (how === 'leading') p.opts.unshift('');
      else p.opts.splice(int(1, p.opts.length), 0, how === 'double' ? '' : ' ');
      return { what: `an empty option (${how})` };
    },
    (ps, i) => {
      const p = ps[i]!;
      const side = pick(['src', 'dst'] as const);
      const [host] = datasetOf(p[side]);
      const bad = rand() < 0.15 ? `tank/${'x'.repeat(int(188, 400))}` : pick(BAD_DATASETS);
      p[side] = `${host}${bad}`;
      return { what: `${side} dataset ${JSON.stringify(bad.slice(0, 50))}` };
    },
    (ps, i) => {
      const p = ps[i]!;
      const side = pick(['src', 'dst'] as const);
      const h = pick(BAD_HOSTS);
      p[side] = withHost(p[side], h);
      return { what: `${side} host ${JSON.stringify(h.slice(0, 50))}` };
    },
    (ps, i) => {
      // a blank inside a name
      const p = ps[i]!;
      const side = pick(['src', 'dst'] as const);
      const [host, ds] = datasetOf(p[side]);
      const at = int(1, ds.length - 1);
      p[side] = `${host}${ds.slice(0, at)} ${ds.slice(at)}`;
      return { what: `a blank in ${side} ${JSON.stringify(p[side])}` };
    },
    (ps, i) => {
      const p = ps[i]!;
      p.dst = '';
      p.opts = [];
      return { what: 'no destination' };
    },
    (ps, i) => {
      ps.push({ ...ps[i]!, src: 'tank/other', opts: [...ps[i]!.opts] });
      return { what: `a duplicate destination of line ${i + 2}`, line: ps.length + 1 };
    },
    (ps, i) => {
      setOption(ps[i]!, 'wlag', '5h');
      setOption(ps[i]!, 'clag', '1h');
      return { what: 'wlag above clag' };
    },
    (ps, i) => {
      const p = ps[i]!;
      const remote = p.src.includes(':') || p.dst.includes(':');
      const o = remote ? pick(['transport=local', 'transport=bogus']) : pick(['transport=ssh', 'transport=mbuffer', 'port=5000', 'sshport=22']);
      p.opts = p.opts.filter((x) => !x.startsWith('transport=') && !x.startsWith('port='));
      p.opts.push(o);
      return { what: `transport conflict ${o}` };
    },
    (ps) => {
      // a junk line whose first field cannot be a dataset
      const line = `${pick([';', '|', '&', '$', '`', '<', '(', '{', '"', '\x1b', '\u202e', '!'])}${junk(int(0, 80))}`;
      ps.push(line as unknown as PairLine);
      return { what: `junk line ${JSON.stringify(line)}`, line: ps.length + 1 };
    },
  ];

  // ---- settings file mutations ---------------------------------------------
  const PROTO = ['constructor', '__proto__', 'hasOwnProperty', 'isPrototypeOf', 'toString', 'valueOf', '__defineGetter__', 'propertyIsEnumerable'];
  const BAD_SETTING: Record<string, string[]> = {
    state: ['var/lib', '', 'relative', '~/x', '/a\x1b[2J', '/a\x07b'],
    lock: ['run/zb', '/a\u0000b'],
    log: ['log', '/a\rb'],
    send_nsca: ['send_nsca', `send_nsca;touch ${mark}`],
    config: ['send_nsca.cfg'],
    server: [`a;touch ${mark}`, payload, 'a b', '-H', 'a|b', '::1', '[zz]', 'root@h', 'a_b', 'x'.repeat(300), 'h\x1b[2J', 'a#b'],
    port: ['0', '70000', '56 67', 'x', '-1', '5667x', '9'.repeat(5000)],
    service: ['{bogus}', 'zb {', '{constructor}', '{__proto__}', '', '{{{{', '{dzfs', '"zb', '"zb" x', `zb ${'{'.repeat(5000)}`],
    host: ['{toString}', '', '{'],
    known_hosts: ['/a/${HOME}/kh', '/a"b', 'kh', '/a\x1b'],
    connect_timeout: ['0', '3601', 'x', '1 0', '5s'],
    keep: ['x', '-1', '1 0', '', '2;3'],
  };
  const settingsMutations: Array<(ss: Array<[string, Entry[]]>) => { what: string; at: [number, number] }> = [
    (ss) => {
      const name = pick([...PROTO, 'mail', 'paths.x', 'Paths', '', ' paths x ']);
      const si = int(0, ss.length);
      ss.splice(si, 0, [name, rand() < 0.5 ? [[pick(PROTO), 'x']] : []]);
      return { what: `section [${name}]`, at: [si, -1] };
    },
    (ss) => {
      const si = int(0, ss.length - 1);
      const key = pick(PROTO);
      ss[si]![1].push([key, pick(['x', '1', '/x'])]);
      return { what: `key ${key} in [${ss[si]![0]}]`, at: [si, ss[si]![1].length - 1] };
    },
    (ss) => {
      const si = int(0, ss.length - 1);
      const entries = ss[si]![1].map((e, ei) => [e, ei] as const).filter(([e]) => typeof e !== 'string' && BAD_SETTING[e[0]]);
      if (!entries.length) return settingsMutations[1]!(ss);
      const [e, ei] = pick(entries) as readonly [[string, string], number];
      const v = pick(BAD_SETTING[e[0]]!);
      ss[si]![1][ei] = [e[0], v];
      return { what: `[${ss[si]![0]}] ${e[0]} = ${JSON.stringify(v.slice(0, 40))}`, at: [si, ei] };
    },
    (ss) => {
      const k = pick(['wlag', 'clag', 'stall', 'crun']);
      const v = badDuration();
      ss[1]![1].push([k, v]);
      return { what: `[defaults] ${k} = ${JSON.stringify(v.slice(0, 40))} (${v.length} chars)`, at: [1, ss[1]![1].length - 1] };
    },
    (ss) => {
      const v = pick(['http://x', 'https://a;b', 'https://x:0', 'https://x/y', 'ftp://x', 'https://[::1', `https://${payload}`]);
      ss[3]![1].push(['url', v]);
      return { what: `[icinga] url = ${JSON.stringify(v)}`, at: [3, ss[3]![1].length - 1] };
    },
    (ss) => {
      ss.unshift(['!state = /x', []]);
      return { what: 'a key before any section', at: [0, -1] };
    },
    (ss) => {
      const si = int(0, ss.length - 1);
      const g = pick(['this is not ini', '=x', 'justakey', '[paths', `${junk(int(1, 30))}`.replace(/^[\s;#[]/, 'j').replace(/=/g, '')]);
      ss[si]![1].push(g);
      return { what: `garbage ${JSON.stringify(g)} in [${ss[si]![0]}]`, at: [si, ss[si]![1].length - 1] };
    },
    (ss) => {
      const si = int(0, ss.length - 1);
      const entries = ss[si]![1];
      const ei = int(0, entries.length - 1);
      entries.splice(ei + 1, 0, entries[ei]!);
      return { what: `[${ss[si]![0]}] ${String(entries[ei])} set twice`, at: [si, ei + 1] };
    },
    (ss) => {
      ss[1]![1].push(['wlag', '2h'], ['clag', '1h']);
      return { what: '[defaults] wlag above clag', at: [1, ss[1]![1].length - 1] };
    },
  ];

  // ---- the cases -------------------------------------------------------------
  const actions = (): string[] =>
    pick([['update'], ['update', '--jobs', '2'], ['initialize', 'backup/a'], ['status'], ['status', '--json'], ['check'], ['check', 'backup/a'], ['setup'],
      ['purge', 'backup/b', '--yes'], ['unlock', 'backup/a'], ['fingerprint'], ['logfile', 'backup/a'], ['nagios-config'], ['icinga-config'],
      ['runstatus', 'backup/a'], ['--nagios', 'update'], ['--nagios', 'status'], ['--icinga', 'status'], ['-d', 'update', 'backup/a']]);
  const HOSTILE_DEST = [
    payload, `;touch ${mark}`, `|touch ${mark}`, '../../etc/passwd', '\x1b[2J\x1b[31m', "a'b", '"', '*', 'tank/a@snap', '', ' ', '[::1]:backup/zz',
    '0000000', '0123456789abcdef0123456789abcdef', 'dup', 'backup', 'x'.repeat(10000), '日本', '\u202ecba', '-oProxyCommand=x', '--help=x', 'a\tb',
  ];
  const HOSTILE_ARGS: string[][] = [
    ['-x', 'status'], ['-n', 'update'], ['-vx', 'check'], ['--bogus', 'status'], ['update', '--jobs', '0'], ['update', '--jobs', 'abc'],
    ['update', '--jobs', '-1'], ['update', '--jobs', '1e9'], ['runstatus', 'backup/a', '--interval', 'x'], ['-c'], ['--settings'], ['frobnicate'],
    ['status', '--json', '--bogus'], ['update', '--', '-x'], ['check', '--', 'x'], ['update', 'backup/a', 'backup/b'], ['-cfoo', 'update'],
    ['--nagios', payload, 'update', 'backup/a'], ['--nagios', '-x', 'update'], ['check', '--nagios=a;b'], ['purge'], ['logfile'], ['runstatus'],
  ];
  const withFiles = (args: string[]): string[] => ['-c', pairsFile, '--settings', settingsFile, ...args];

  function generate(): Case {
    const family = rand();
    if (family < 0.4 || family >= 0.9) {
      const ps = basePairs();
      const i = int(0, ps.length - 1);
      const m = pick(pairsMutations)(ps, i)!;
      const pairsCase: Case = { what: `pairs: ${m.what} (line ${m.line ?? i + 2})`, args: withFiles(actions()), pairs: renderPairs(ps), settings: validSettings, expect: [`${pairsFile}:${m.line ?? i + 2}:`] };
      if (family < 0.9) return pairsCase;
      // both files at once: the settings' mistakes must not hide the pairs'
      const ss = baseSettings();
      const sm = pick(settingsMutations)(ss);
      const r = renderSettings(ss);
      return { ...pairsCase, what: `both: ${pairsCase.what}; settings: ${sm.what}`, settings: r.text, expect: [...pairsCase.expect, `${settingsFile}:${r.lineOf(...sm.at)}:`] };
    }
    if (family < 0.7) {
      const ss = baseSettings();
      const m = pick(settingsMutations)(ss);
      const r = renderSettings(ss);
      const line = r.lineOf(...m.at);
      return { what: `settings: ${m.what} (line ${line})`, args: withFiles(actions()), pairs: renderPairs(basePairs()), settings: r.text, expect: [`${settingsFile}:${line}:`] };
    }
    if (family < 0.8) {
      const d = rand() < 0.2 ? junk(int(1, 200)) : pick(HOSTILE_DEST);
      const action = pick(['update', 'initialize', 'status', 'check', 'setup', 'purge', 'unlock', 'logfile', 'fingerprint', 'runstatus']);
      // a DEST starting with '-' would be an option; after '--' it is a word zettabee refuses
      const dest = d.startsWith('-') ? ['--', d] : [d];
      return { what: `DEST ${JSON.stringify(d.slice(0, 60))} for ${action}`, args: withFiles([action, ...dest]), pairs: renderPairs(basePairs()), settings: validSettings, expect: [] };
    }
    const a = pick(HOSTILE_ARGS);
    return { what: `command line ${JSON.stringify(a)}`, args: withFiles(a), pairs: renderPairs(basePairs()), settings: validSettings, expect: [] };
  }

  /** what is wrong with a run, or null */
  function judge(c: Case, r: Result, log: string): string | null {
    const check = c.args.includes('check');
    const out = `${r.stdout}\n${r.stderr}`;
    const wrong: string[] = [];
    if (r.code !== (check ? 3 : 2)) wrong.push(`exit ${r.code}, not ${check ? 3 : 2}`);
    if (check && !r.stdout.startsWith('ZETTABEE UNKNOWN - ')) wrong.push('check printed no UNKNOWN line');
    for (const e of c.expect) if (!out.includes(e)) wrong.push(`${e} not named`);
    if (/^\s+at /m.test(out) || /internal error/.test(out)) wrong.push('a stack trace or internal error');
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(out)) wrong.push('a raw control character in the output');
    if (log) wrong.push(`ran: ${log.trim().split('\n').join(' / ')}`);
    return wrong.length ? `${wrong.join('; ')}\n      case: ${c.what}\n      args: ${JSON.stringify(c.args).slice(0, 300)}\n      output: ${out.trim().slice(0, 600)}` : null;
  }

  it('the base files are valid, and the shims catch a run that gets through', async () => {
    writeFileSync(pairsFile, renderPairs(basePairs()));
    writeFileSync(settingsFile, validSettings);
    const env = { PATH: `${shims}:${process.env.PATH}`, ZB_SHIM_LOG: join(dir, 'control.log') };
    const ok = await runLauncher(withFiles(['fingerprint', 'backup/a']), { env });
    expect(ok, ok.stderr).to.deep.include({ code: 0, stderr: '' });
    expect(existsSync(env.ZB_SHIM_LOG)).to.equal(false);
    const through = await runLauncher(withFiles(['update', 'backup/a']), { env });
    expect(through.code, through.stderr).to.equal(1);
    expect(readFileSync(env.ZB_SHIM_LOG, 'utf8')).to.match(/^zfs /m);
  });

  /** run cases, CONCURRENCY at a time, each worker with its own files and shim log; the failures */
  async function runCases(cases: readonly Case[]): Promise<string[]> {
    const failures: string[] = [];
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      const own = { pairs: join(dir, `w${w}.cfg`), settings: join(dir, `w${w}.ini`), log: join(dir, `w${w}.log`) };
      while (next < cases.length) {
        const k = next++;
        const c = cases[k]!;
        writeFileSync(own.pairs, c.pairs);
        writeFileSync(own.settings, c.settings);
        rmSync(own.log, { force: true });
        const swap = (s: string): string => s.replaceAll(pairsFile, own.pairs).replaceAll(settingsFile, own.settings);
        const mine: Case = { ...c, args: c.args.map(swap), expect: c.expect.map(swap) };
        const r = await runLauncher(mine.args, { env: { PATH: `${shims}:${process.env.PATH}`, ZB_SHIM_LOG: own.log }, timeoutMs: 30_000 });
        const log = existsSync(own.log) ? readFileSync(own.log, 'utf8') : '';
        const why = judge(mine, r, log);
        if (why) failures.push(`#${k} (seed ${SEED}): ${why}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    expect(existsSync(mark), 'a shell payload ran').to.equal(false);
    expect(existsSync(join(dir, 'shim.log')), 'a shim ran without the per-run log').to.equal(false);
    return failures;
  }

  it('the inputs issue 13 reported, each with --nagios update and with check', async () => {
    const forty = '1'.repeat(40);
    const cases: Case[] = [];
    const both = (what: string, pairs: string, settings: string, expectAt: string) => {
      for (const args of [['--nagios', 'update'], ['check']]) cases.push({ what, args: withFiles(args), pairs, settings, expect: [expectAt] });
    };
    const base = renderPairs(basePairs());
    const appended = validSettings.split('\n').length; // the line of a section appended to the valid settings
    for (const section of ['[constructor]', '[toString]', '[hasOwnProperty]', '[__proto__]\nhasOwnProperty = x', '[__proto__]\nisPrototypeOf = x']) {
      both(`settings ${section}`, base, `${validSettings}${section}\n`, `${settingsFile}:${appended}:`);
    }
    const server = baseSettings();
    server[2]![1][2] = ['server', `a;touch ${mark}`];
    both('[nagios] server = a;touch ...', base, renderSettings(server).text, `${settingsFile}:${renderSettings(server).lineOf(2, 2)}:`);
    for (const key of ['wlag', 'stall']) {
      const d = baseSettings();
      d[1]![1].push([key, `${forty}x`]);
      both(`[defaults] ${key} = 40 digits and x`, base, renderSettings(d).text, `${settingsFile}:${renderSettings(d).lineOf(1, 1)}:`);
      const ps = basePairs();
      ps[0]!.opts.push(`${key}=${forty}x`);
      both(`pairs ${key}= 40 digits and x`, renderPairs(ps), validSettings, `${pairsFile}:2:`);
    }
    for (const opts of ['clag=1 0m', 'keep=1 0', 'wlag=1 h', 'wlag=1hclag=2h', 'wlag=1h,,clag=2h', 'wlag=1h,']) {
      both(`pairs options ${opts}`, `tank/a  backup/a  ${opts}\n`, validSettings, `${pairsFile}:1:`);
    }
    both('a 200-character name', `tank/${'x'.repeat(195)}  backup/a\n`, validSettings, `${pairsFile}:1:`);
    both('a name with a blank', 'tank/my data  backup/a\n', validSettings, `${pairsFile}:1:`);
    const failures = await runCases(cases);
    expect(failures, `${failures.length} of ${cases.length} runs wrong:\n${failures.join('\n')}`).to.deep.equal([]);
  });

  it(`${RUNS} generated runs: exit 2 (3 for check), file:line named, no stack, nothing run`, async function () {
    // each run has its own 30 s bound; the whole took over 250 s for 250 runs with both cores saturated by the guests
    this.timeout(Math.max(120_000, RUNS * 3000));
    const failures = await runCases(Array.from({ length: RUNS }, generate));
    expect(failures, `${failures.length} of ${RUNS} runs wrong (seed ${SEED}):\n${failures.slice(0, 15).join('\n')}`).to.deep.equal([]);
  });
});

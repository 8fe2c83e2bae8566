// npm run deb: zettabee_<version>_all.deb from the esbuild bundle
// (dist/bundle, made by npm run build). The package runs on Debian's nodejs
// alone: the bundle holds the program and every library it loads, so no
// node_modules are installed.
//
//   node dist/deb/build.js [--out DIR] [--version UPSTREAM]
//
// --out: where the .deb goes (default: the checkout). --version: build as
// another upstream version (the e2e test builds an older one to upgrade
// from); the package is then UPSTREAM-<revision of deb/changelog>, its
// changelog gains an entry saying so, and `zettabee --version` prints
// UPSTREAM. The path of the .deb is printed on stdout.
//
// Why dpkg-deb and not debhelper: dpkg-deb is part of dpkg, so it is on
// every machine that can install the package, and this package needs none of
// what debhelper automates (nothing is compiled, there are no shared
// libraries, no per-language helpers): what is left is a few lines below
// (gzip -9n, the conffiles list, md5sums, Installed-Size, file modes).
// debhelper would add a build dependency (debhelper and dpkg-buildpackage's
// debian/ source layout) for them. lintian checks the result either way.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { commentOutPairs, ENTRIES, GENERATED, LIB_DIR, SYMLINKS, type Entry } from './layout.js';

/** the checkout: this file runs as dist/deb/build.js */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEB = join(ROOT, 'deb');
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'];

interface PackageJson {
  name: string;
  version: string;
  description: string;
  author: string;
  license: string;
}

interface ChangelogTop {
  version: string;
  /** the upstream version and the Debian revision of `version` */
  upstream: string;
  revision: string;
  /** ' -- Name <mail>' */
  maintainer: string;
  date: Date;
}

/** the newest entry of a Debian changelog */
export function changelogTop(text: string): ChangelogTop {
  const head = /^zettabee \(([^)\s]+)\) [a-z-]+; urgency=[a-z]+$/m.exec(text);
  const trailer = /^ -- (.+ <[^>]+>) {2}(.+)$/m.exec(text);
  if (!head || !trailer) throw new Error('deb/changelog: no entry (zettabee (VERSION) DIST; urgency=U ... -- NAME <MAIL>  DATE)');
  const version = head[1]!;
  const dash = version.lastIndexOf('-');
  if (dash < 1) throw new Error(`deb/changelog: ${version} has no Debian revision (UPSTREAM-REVISION)`);
  const date = new Date(trailer[2]!);
  if (Number.isNaN(date.getTime())) throw new Error(`deb/changelog: unreadable date ${trailer[2]}`);
  return { version, upstream: version.slice(0, dash), revision: version.slice(dash + 1), maintainer: trailer[1]!, date };
}

/** RFC 2822 as Debian changelogs write it: Tue, 01 Dec 2026 12:00:00 +0000 */
function rfc2822(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** gzip -9n: maximum compression, no name and no time stamp in the header */
function gzip(data: Buffer | string): Buffer {
  return gzipSync(data, { level: 9 });
}

// ---------------------------------------------------------------------------
// debian/copyright, from what esbuild put into the bundle

interface Bundled {
  /** its place in the source tree, node_modules/... */
  dir: string;
  name: string;
  license: string;
  copyright: string[];
}

/** DEP-5 license names for the SPDX names in package.json files */
const LICENSE_NAMES: Record<string, string> = { MIT: 'Expat', ISC: 'ISC', 'Apache-2.0': 'Apache-2.0', 'BlueOak-1.0.0': 'BlueOak-1.0.0' };

/**
 * The copyright lines of a license file: "Copyright 2010 A", "Copyright (c)
 * B", "(c) 2011 C", "© D"; one ending in ':' takes the names on the lines
 * below it. A license's own words ("copyright notice", "COPYRIGHT HOLDERS",
 * Apache's "Copyright [yyyy] [name of copyright owner]") are not notices.
 */
export function copyrightLines(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!/^(Copyright\s+(\(c\)|©|\d|[A-Z"])|\(c\)\s*\d|©)/.test(l)) continue;
    if (!l.endsWith(':')) {
      out.push(l);
      continue;
    }
    const names: string[] = [];
    while (lines[i + 1]) names.push(lines[++i]!);
    out.push(`${l} ${names.join(', ')}`);
  }
  return out;
}

function authorOf(pkg: { author?: string | { name?: string; email?: string } }): string | undefined {
  const a = pkg.author;
  if (!a) return undefined;
  return typeof a === 'string' ? a : [a.name, a.email && `<${a.email}>`].filter(Boolean).join(' ') || undefined;
}

/** the npm packages whose code esbuild put into the bundle (dist/bundle.meta.json, written by npm run bundle) */
function bundledPackages(): Bundled[] {
  const metaFile = join(ROOT, 'dist/bundle.meta.json');
  if (!existsSync(metaFile)) throw new Error(`${metaFile} is missing: run npm run build first`);
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { inputs: Record<string, unknown> };
  const dirs = new Set<string>();
  for (const input of Object.keys(meta.inputs)) {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const rest = input.slice(at + 'node_modules/'.length).split('/');
    dirs.add(input.slice(0, at) + 'node_modules/' + (rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]));
  }
  return [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string; license?: string; author?: string; repository?: string | { url?: string } };
    const license = LICENSE_NAMES[pkg.license ?? ''];
    if (!license) throw new Error(`${dir}: license ${pkg.license ?? '(none)'} is not one deb/build.ts knows; add it to LICENSE_NAMES (and its text to deb/licenses/)`);
    const file = readdirSync(join(ROOT, dir)).find((f) => /^(licen[cs]e|copying)([-.][\w.-]+)?$/i.test(f));
    const lines = file ? copyrightLines(readFileSync(join(ROOT, dir, file), 'utf8')) : [];
    const author = authorOf(pkg);
    return { dir, name: pkg.name, license, copyright: lines.length ? lines : [author ? author : `the authors of ${pkg.name}`] };
  });
}

/** a DEP-5 field value: continuation lines start with a blank, an empty line is ' .' */
function field(name: string, lines: string[]): string {
  return `${name}: ${lines[0]}\n${lines
    .slice(1)
    .map((l) => (l.trim() ? ` ${l}\n` : ' .\n'))
    .join('')}`;
}

function licenseText(name: string): string[] {
  const own = join(DEB, 'licenses', name);
  if (existsSync(own)) return readFileSync(own, 'utf8').replace(/\s+$/, '').split('\n');
  if (existsSync(`/usr/share/common-licenses/${name}`)) return [`On Debian systems the full text of the ${name} license is in`, `/usr/share/common-licenses/${name}.`];
  throw new Error(`no text for the license ${name}: add deb/licenses/${name}`);
}

export function copyright(pkg: PackageJson, year: number): string {
  const bundled = bundledPackages();
  const own = LICENSE_NAMES[pkg.license];
  if (!own) throw new Error(`package.json: license ${pkg.license} is not one deb/build.ts knows`);
  const paragraphs = [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n' +
      'Upstream-Name: zettabee\n' +
      field('Comment', [
        `${LIB_DIR} holds zettabee and the npm packages it uses, bundled into`,
        'one program by esbuild. Each package below is named by its place in the',
        'source tree (node_modules/...) from which the bundle was made.',
      ]),
    `Files: *\n${field('Copyright', [`${year} ${pkg.author}`])}License: ${own}\n`,
    ...bundled.map((b) => `Files: ${b.dir}/*\n${field('Copyright', b.copyright)}License: ${b.license}\n`),
    ...[...new Set([own, ...bundled.map((b) => b.license)])].sort().map((l) => field('License', [l, ...licenseText(l)])),
  ];
  return paragraphs.join('\n');
}

// ---------------------------------------------------------------------------
// the package

/** bin/zettabee with the interpreter, bundle and remedy of the installed program */
export function installedLauncher(source: string): string {
  const swaps: Array<[string, string]> = [
    ['#!/usr/bin/env node\n', '#!/usr/bin/node\n'],
    ["const BUNDLE = '../dist/bundle/cli.js';", `const BUNDLE = '${LIB_DIR}/cli.js';`],
    ["const REMEDY = 'run npm run build';", "const REMEDY = 'reinstall the zettabee package';"],
  ];
  let out = source;
  for (const [from, to] of swaps) {
    if (out.split(from).length !== 2) throw new Error(`bin/zettabee: expected ${JSON.stringify(from)} exactly once`);
    out = out.replace(from, to);
  }
  return out;
}

function control(pkg: PackageJson, version: string, maintainer: string, installedSize: number): string {
  return [
    'Package: zettabee',
    `Version: ${version}`,
    'Architecture: all',
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${installedSize}`,
    'Depends: nodejs (>= 20.19)',
    'Recommends: pv, mbuffer, openssh-client',
    'Suggests: nsca-client, zfsutils-linux',
    'Section: admin',
    'Priority: optional',
    `Description: ${pkg.description}`,
    ' zettabee replicates ZFS file systems with zfs send and zfs receive,',
    ' locally, over SSH, or over mbuffer TCP with SSH as the control channel,',
    ' one pair per line of /etc/zettabee/zettabee.cfg. It is built for cron:',
    ' silent on success, one line on stderr per problem, and exit codes a',
    ' script can act on. Every pair is a Nagios or Icinga service, fed',
    ' passively through send_nsca or the Icinga 2 API, or checked actively.',
    ' .',
    ' Nothing replicates until the pairs file is written and the cron lines',
    ' or the systemd timer are enabled.',
    '',
  ].join('\n');
}

/** dpkg's Installed-Size: KiB of every file rounded up, and 1 for every other entry */
function installedSize(root: string): number {
  let kib = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        kib += 1;
        walk(p);
      } else if (e.isFile()) kib += Math.ceil(lstatSync(p).size / 1024);
      else kib += 1;
    }
  };
  walk(root);
  return kib;
}

/** every regular file under root, as paths relative to it */
function filesUnder(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(root, p) : e.isFile() ? [p.slice(root.length + 1)] : [];
  });
}

function entryContent(e: Entry): Buffer {
  const src = readFileSync(join(ROOT, e.from));
  switch (e.how) {
    case 'copy':
      return src;
    case 'gzip':
      return gzip(src);
    case 'pairs-commented':
      return Buffer.from(commentOutPairs(src.toString('utf8')));
  }
}

export interface BuildOptions {
  out: string;
  /** upstream version override */
  version?: string;
}

export function buildDeb(opts: BuildOptions): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  let changelog = readFileSync(join(DEB, 'changelog'), 'utf8');
  const top = changelogTop(changelog);
  if (top.upstream !== pkg.version) throw new Error(`deb/changelog's newest entry is ${top.version}, package.json says ${pkg.version}: add an entry for ${pkg.version}-1`);
  const upstream = opts.version ?? pkg.version;
  if (!/^[0-9][A-Za-z0-9.+~]*$/.test(upstream)) throw new Error(`--version ${upstream}: not an upstream version (a digit, then letters, digits, . + ~)`);
  const version = `${upstream}-${top.revision}`;
  if (opts.version !== undefined) {
    changelog =
      `zettabee (${version}) UNRELEASED; urgency=low\n\n` +
      `  * Built with a version override (--version ${upstream}) from the\n    sources of ${pkg.version}.\n\n` +
      ` -- ${top.maintainer}  ${rfc2822(top.date)}\n\n` +
      changelog;
  }
  const bundle = join(ROOT, 'dist/bundle');
  if (!existsSync(join(bundle, 'cli.js'))) throw new Error(`${bundle}/cli.js is missing: run npm run build first`);

  const work = mkdtempSync(join(tmpdir(), 'zettabee-deb-'));
  try {
    const root = join(work, 'root');
    const put = (path: string, data: Buffer | string, mode = 0o644) => {
      const to = join(root, path);
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, data);
      chmodSync(to, mode);
    };
    for (const e of ENTRIES) put(e.path, entryContent(e), e.mode);
    for (const f of readdirSync(bundle).filter((f) => f.endsWith('.js'))) put(`${LIB_DIR}/${f}`, readFileSync(join(bundle, f)));
    put(GENERATED.packageJson, JSON.stringify({ name: pkg.name, version: upstream, type: 'module' }, null, 2) + '\n');
    put(GENERATED.launcher, installedLauncher(readFileSync(join(ROOT, 'bin/zettabee'), 'utf8')), 0o755);
    put(GENERATED.completion, execFileSync(process.execPath, [join(ROOT, 'bin/zettabee'), 'completion'], { env: { ...process.env, ZETTABEE_CONFIG: '', ZETTABEE_SETTINGS: '' } }));
    put(GENERATED.copyright, copyright(pkg, top.date.getUTCFullYear()));
    put(GENERATED.changelog, gzip(changelog));
    for (const [link, target] of Object.entries(SYMLINKS)) symlinkSync(target, join(root, link));

    const conffiles = ENTRIES.filter((e) => e.conffile).map((e) => e.path);
    const md5sums = filesUnder(root)
      .filter((f) => !conffiles.includes(`/${f}`))
      .sort()
      .map((f) => `${createHash('md5').update(readFileSync(join(root, f))).digest('hex')}  ${f}\n`)
      .join('');
    const size = installedSize(root);
    put('DEBIAN/control', control(pkg, version, top.maintainer, size));
    put('DEBIAN/conffiles', conffiles.map((c) => `${c}\n`).join(''));
    put('DEBIAN/md5sums', md5sums);
    for (const s of MAINTAINER_SCRIPTS) put(`DEBIAN/${s}`, readFileSync(join(DEB, s)), 0o755);

    // directories 0755 whatever the umask; one time stamp for everything
    // (the newest changelog entry's), so two builds of one tree are equal
    const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(top.date.getTime() / 1000));
    const settle = (dir: string) => {
      chmodSync(dir, 0o755);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) settle(join(dir, e.name));
        else if (e.isFile()) utimesSync(join(dir, e.name), epoch, epoch);
      }
      utimesSync(dir, epoch, epoch);
    };
    settle(root);

    mkdirSync(opts.out, { recursive: true });
    const deb = join(resolve(opts.out), `zettabee_${version}_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) }, stdio: ['ignore', 'ignore', 'inherit'] });
    return deb;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { values } = parseArgs({ options: { out: { type: 'string' }, version: { type: 'string' } } });
    process.stdout.write(buildDeb({ out: values.out ?? ROOT, ...(values.version !== undefined ? { version: values.version } : {}) }) + '\n');
  } catch (e) {
    process.stderr.write(`npm run deb: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

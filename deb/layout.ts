// Where the Debian package puts zettabee: one table that deb/build.ts
// installs from, and that test/unit/paths.test.ts holds the examples, the
// units, the man pages and the README to, so that every path they name is
// one the package installs (or one zettabee creates as it runs).

/** the launcher: bin/zettabee, pointed at the installed bundle */
export const LAUNCHER = '/usr/sbin/zettabee';
/** the esbuild bundle (dist/bundle/*.js) and a package.json that makes it ESM and carries the version */
export const LIB_DIR = '/usr/lib/zettabee';
export const DOC_DIR = '/usr/share/doc/zettabee';
export const EXAMPLES_DIR = `${DOC_DIR}/examples`;
export const UNIT_DIR = '/lib/systemd/system';
export const COMPLETION = '/usr/share/bash-completion/completions/zettabee';
/** created 0750 by postinst, removed by postrm on purge: the state and log directories of [paths] */
export const STATE_DIRS = ['/var/lib/zettabee', '/var/log/zettabee'] as const;
/** the lock directory of [paths]: on tmpfs, created by the first run after a boot; removed on purge */
export const RUN_DIR = '/run/zettabee';

/**
 * How a file of the checkout becomes a file of the package:
 * - copy: as it is;
 * - gzip: compressed with gzip -9n (man pages, the upstream changelog);
 * - pairs-commented: every pair line commented out, so the installed pairs
 *   file replicates nothing until it is edited.
 */
export type How = 'copy' | 'gzip' | 'pairs-commented';

export interface Entry {
  /** the installed path */
  path: string;
  /** the file of the checkout it is made from, relative to the checkout's root */
  from: string;
  how: How;
  /** 0644 unless said */
  mode?: number;
  conffile?: true;
}

export const ENTRIES: readonly Entry[] = [
  { path: '/etc/zettabee/zettabee.cfg', from: 'etc/zettabee.cfg.example', how: 'pairs-commented', conffile: true },
  { path: '/etc/zettabee/zettabee.ini', from: 'etc/zettabee.ini.example', how: 'copy', conffile: true },
  { path: '/etc/cron.d/zettabee', from: 'etc/cron.d/zettabee', how: 'copy', conffile: true },
  { path: '/etc/logrotate.d/zettabee', from: 'etc/logrotate.d/zettabee', how: 'copy', conffile: true },
  { path: `${UNIT_DIR}/zettabee-update.service`, from: 'etc/systemd/zettabee-update.service', how: 'copy' },
  { path: `${UNIT_DIR}/zettabee-update.timer`, from: 'etc/systemd/zettabee-update.timer', how: 'copy' },
  { path: `${UNIT_DIR}/zettabee.service`, from: 'etc/systemd/zettabee.service', how: 'copy' },
  { path: '/usr/share/man/man1/zettabee.1.gz', from: 'man/zettabee.1', how: 'gzip' },
  { path: '/usr/share/man/man5/zettabee.cfg.5.gz', from: 'man/zettabee.cfg.5', how: 'gzip' },
  { path: `${EXAMPLES_DIR}/zettabee.cfg.example`, from: 'etc/zettabee.cfg.example', how: 'copy' },
  { path: `${EXAMPLES_DIR}/zettabee.ini.example`, from: 'etc/zettabee.ini.example', how: 'copy' },
  { path: `${EXAMPLES_DIR}/nagios/zettabee.cfg`, from: 'etc/nagios/zettabee.cfg', how: 'copy' },
  { path: `${EXAMPLES_DIR}/icinga2/zettabee.conf`, from: 'etc/icinga2/zettabee.conf', how: 'copy' },
  { path: `${DOC_DIR}/README.md.gz`, from: 'README.md', how: 'gzip' },
  { path: `${DOC_DIR}/changelog.gz`, from: 'CHANGELOG.md', how: 'gzip' },
];

/** made by the build rather than taken from a file of the checkout */
export const GENERATED = {
  launcher: LAUNCHER,
  packageJson: `${LIB_DIR}/package.json`,
  completion: COMPLETION,
  copyright: `${DOC_DIR}/copyright`,
  changelog: `${DOC_DIR}/changelog.Debian.gz`,
} as const;

/** man page aliases: zettabee.cfg(5) also describes zettabee.ini */
export const SYMLINKS: Readonly<Record<string, string>> = {
  '/usr/share/man/man5/zettabee.ini.5.gz': 'zettabee.cfg.5.gz',
};

/** every path in the package, bundle files aside (those are LIB_DIR/*.js), and its directories */
export function packagePaths(): Set<string> {
  const files = [...ENTRIES.map((e) => e.path), ...Object.values(GENERATED), ...Object.keys(SYMLINKS)];
  const all = new Set<string>(files);
  for (const f of files) for (let d = f.slice(0, f.lastIndexOf('/')); d; d = d.slice(0, d.lastIndexOf('/'))) all.add(d);
  return all;
}

/** a pairs file with every pair line commented out: the comments stay, and each pair becomes an example */
export function commentOutPairs(text: string): string {
  return text.replace(/^(?=[ \t]*[^#\s])/gm, '#');
}

// Paths agree everywhere: what the examples, the systemd units, the cron
// file, the man pages, the README and the program's own messages name is
// where the Debian package (deb/layout.ts) puts it, or where zettabee writes
// as it runs. (The README once linked /usr/local/sbin/zettabee while the
// unit ran /usr/local/bin/zettabee: the timer failed when followed as
// written.)
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parsePairs } from '../../src/config/pairs.js';
import { builtinSettings, parseSettings } from '../../src/config/settings.js';
import { commentOutPairs, ENTRIES, GENERATED, LAUNCHER, packagePaths, RUN_DIR, STATE_DIRS } from '../../deb/layout.js';

const ROOT = new URL('../../../', import.meta.url);
const read = (f: string): string => readFileSync(new URL(f, ROOT), 'utf8');
const filesUnder = (dir: string): string[] =>
  readdirSync(new URL(dir, ROOT), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));

/** paths the text names that have zettabee in them; roff's \f and \- undone */
export function zettabeePaths(text: string): string[] {
  const plain = text.replace(/\\f[BIRP]/g, '').replace(/\\-/g, '-');
  return [...plain.matchAll(/(?<![\w.~$/-])\/(?:etc|usr|lib|var|run)\/[\w.<>/-]*zettabee[\w.<>/-]*/g)].map((m) => m[0].replace(/[./]+$/, ''));
}

/** named by the documents, installed by neither the package nor zettabee, and why */
const NOT_INSTALLED: Record<string, string> = {
  '/etc/zettabee/icinga.password': 'the admin writes it: [icinga] password_file',
  '/etc/zettabee/icinga-ca.crt': 'the admin copies it: [icinga] ca',
  '/etc/zettabee/known_hosts': 'an example [ssh] known_hosts',
  '/etc/nagios4/conf.d/zettabee.cfg': 'where the README puts what nagios-config prints',
  '/etc/bash_completion.d/zettabee': 'completion, installed from a checkout',
  '/usr/local/sbin/zettabee': 'the link to bin/zettabee, installed from a checkout',
  '/etc/systemd/system/zettabee-update.service': 'the service, installed from a checkout',
  '/etc/systemd/system/zettabee-update.timer': 'the timer, installed from a checkout',
  '/etc/systemd/system/zettabee.service': 'the daemon\'s service, installed from a checkout',
  '/var/cache/zettabee-test/openzfs': 'the test suite\'s cache of guest images',
  '/var/lib/node_exporter/textfile_collector/zettabee.prom': 'an example [prometheus] textfile; node_exporter\'s directory',
};

const settings = builtinSettings();
const service = read('etc/systemd/zettabee-update.service');
const cron = read('etc/cron.d/zettabee');
const readme = read('README.md');

describe('paths: the documents name what the Debian package installs', () => {
  const documents = ['README.md', ...filesUnder('etc'), ...filesUnder('man'), ...filesUnder('src')];
  const installed = packagePaths();

  it('every zettabee path in etc/, man/, src/ and the README is installed, written at run time, or one the admin makes', () => {
    const wrong: string[] = [];
    for (const doc of documents) {
      for (const p of zettabeePaths(read(doc))) {
        const atRunTime = [...STATE_DIRS, RUN_DIR].some((d) => p === d || p.startsWith(`${d}/`));
        if (!installed.has(p) && !atRunTime && !(p in NOT_INSTALLED) && !p.startsWith('/usr/lib/zettabee/')) wrong.push(`${doc}: ${p}`);
      }
    }
    expect(wrong).to.deep.equal([]);
  });

  it('finds the paths in roff and in prose', () => {
    expect(zettabeePaths('.I /usr/share/bash\\-completion/completions/zettabee ;')).to.deep.equal(['/usr/share/bash-completion/completions/zettabee']);
    expect(zettabeePaths('ExecStart=/usr/local/bin/zettabee update, in `/var/log/zettabee`.')).to.deep.equal(['/usr/local/bin/zettabee', '/var/log/zettabee']);
    expect(zettabeePaths('ln -s "$PWD/bin/zettabee" and /tmp/zettabee-x and /srv/zb')).to.deep.equal([]);
  });

  it('the services run the launcher the package installs; their man pages are installed', () => {
    expect(/^ExecStart=(\S+) /m.exec(service)?.[1]).to.equal(LAUNCHER);
    expect(/^ExecStart=(\S+) daemon /m.exec(read('etc/systemd/zettabee.service'))?.[1]).to.equal(LAUNCHER);
    for (const unit of [service, read('etc/systemd/zettabee-update.timer'), read('etc/systemd/zettabee.service')]) {
      const pages = [.../man:([\w.-]+)\((\d)\)/g[Symbol.matchAll](/^Documentation=.*$/m.exec(unit)![0])];
      expect(pages).to.not.be.empty;
      for (const [, name, section] of pages) expect(installed.has(`/usr/share/man/man${section}/${name}.${section}.gz`), `${name}(${section})`).to.equal(true);
    }
  });

  it('the from-source way of the README links the launcher where cron finds it and the service is pointed at it', () => {
    const link = /^ {4}ln -s "\$PWD\/bin\/zettabee" (\S+)$/m.exec(readme)?.[1];
    const sed = /sed 's\|\^ExecStart=(\S+?)\|ExecStart=(\S+?)\|'/.exec(readme);
    expect(link).to.equal('/usr/local/sbin/zettabee');
    expect(sed?.[1]).to.equal(LAUNCHER);
    expect(sed?.[2]).to.equal(link);
    const path = /^PATH=(.*)$/m.exec(cron)![1]!.split(':');
    expect(path).to.include(dirname(LAUNCHER)).and.include(dirname(link!));
  });

  it('the state, lock and log directories are the built-in ones, which postinst creates and logrotate rotates', () => {
    expect([...STATE_DIRS]).to.deep.equal([settings.paths.state, settings.paths.log]);
    expect(RUN_DIR).to.equal(settings.paths.lock);
    const postinst = read('deb/postinst');
    for (const d of STATE_DIRS) expect(postinst).to.contain(d);
    expect(/^(\/\S+)\/\*\.log \{$/m.exec(read('etc/logrotate.d/zettabee'))?.[1]).to.equal(settings.paths.log);
  });
});

describe('paths: the installed configuration does nothing until edited', () => {
  it('the installed pairs file is the example with every pair commented out', () => {
    const example = read('etc/zettabee.cfg.example');
    const installed = commentOutPairs(example);
    expect(parsePairs(example, 'x', {}).pairs).to.have.length(4);
    expect(parsePairs(installed, 'x', {})).to.deep.equal({ pairs: [], problems: [] });
    expect(commentOutPairs('# a\n\ntank/a  pool/a\n  tank/b pool/b\n')).to.equal('# a\n\n#tank/a  pool/a\n#  tank/b pool/b\n');
  });

  it('the settings file sets nothing, and its commented [paths] are the built-in ones', () => {
    const ini = read('etc/zettabee.ini.example');
    const parsed = parseSettings(ini, '/etc/zettabee/zettabee.ini');
    expect(parsed.problems).to.deep.equal([]);
    expect({ ...parsed.settings, file: null }).to.deep.equal(settings);
    const paths = ini.slice(ini.indexOf('[paths]'), ini.indexOf('[defaults]')).replace(/^; /gm, '');
    expect(parseSettings(paths, 'x').settings.paths).to.deep.equal(settings.paths);
  });

  it('the cron file runs nothing: every job line is commented out', () => {
    const active = cron.split('\n').filter((l) => l.trim() && !l.startsWith('#') && !/^[A-Z]+=/.test(l));
    expect(active).to.deep.equal([]);
    expect(cron).to.match(/^#\*\/15 \* \* \* \* {2}root {2}zettabee update --jobs 2$/m);
  });

  it('every file under /etc is a conffile, and nothing else is; every source exists', () => {
    for (const e of ENTRIES) {
      expect(e.conffile === true, e.path).to.equal(e.path.startsWith('/etc/'));
      expect(statSync(new URL(e.from, ROOT)).isFile(), e.from).to.equal(true);
    }
    expect(Object.values(GENERATED).filter((p) => p.startsWith('/etc/'))).to.deep.equal([]);
  });
});

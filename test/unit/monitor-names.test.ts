// The names a pair is reported under: the [nagios]/[icinga] templates.
import { expect } from 'chai';
import { parsePairs, type Pair } from '../../src/config/pairs.js';
import { builtinSettings } from '../../src/config/settings.js';
import { renderTemplate, reportedNames, shortHostname } from '../../src/monitor/names.js';

const [pull, push, local] = parsePairs(
  'db1.example.org:tank/mysql0  backup/db/mysql0\ntank/scratch  offsite.example.org:vault/scratch\ntank/home  localhost:backup/home\n',
  'p.cfg',
).pairs as [Pair, Pair, Pair];

describe('monitor names (templates)', () => {
  it('every placeholder', () => {
    expect(renderTemplate('{fingerprint} {shost} {szfs} {dhost} {dzfs} {hostname}', pull, 'backup1')).to.equal(
      `${pull.fingerprint} db1.example.org tank/mysql0 backup1 backup/db/mysql0 backup1`,
    );
  });

  it('a local end (omitted or localhost) is this machine\'s short name; a remote one stays as written', () => {
    expect(renderTemplate('{shost}>{dhost}', push, 'backup1')).to.equal('backup1>offsite.example.org');
    expect(renderTemplate('{shost}>{dhost}', local, 'backup1')).to.equal('backup1>backup1');
  });

  it('the built-in templates: host {dhost}, service "zettabee {dzfs}"', () => {
    const s = builtinSettings();
    expect(reportedNames(s.nagios, pull, 'backup1')).to.deep.equal({ host: 'backup1', service: 'zettabee backup/db/mysql0' });
    expect(reportedNames(s.icinga, push, 'backup1')).to.deep.equal({ host: 'offsite.example.org', service: 'zettabee vault/scratch' });
  });

  it('one pass: text that looks like a placeholder in a value is not expanded again; unknown braces stay', () => {
    expect(renderTemplate('{other} {dzfs}', pull, '{dzfs}')).to.equal('{other} backup/db/mysql0');
    expect(renderTemplate('{hostname}', pull, '{dzfs}')).to.equal('{dzfs}');
  });

  it('short host name: up to the first dot', () => {
    expect(shortHostname('backup1.example.org')).to.equal('backup1');
    expect(shortHostname('backup1')).to.equal('backup1');
    expect(shortHostname()).to.not.contain('.');
  });
});

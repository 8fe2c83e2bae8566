// nagios-config / icinga-config: the generated definitions (pure), and the
// example files in etc/ staying what the generator makes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parsePairs, type Pair } from '../../src/config/pairs.js';
import { builtinSettings, parseSettings, type Settings } from '../../src/config/settings.js';
import { freshnessWindow, icingaConfig, nagiosConfig } from '../../src/monitor/config-gen.js';
import { reportedNames } from '../../src/monitor/names.js';

const settings = builtinSettings();
const { pairs } = parsePairs(
  'db1:tank/mysql0  backup/db/mysql0  clag=4h\ntank/home  backup/home  wlag=1h\nsrc:tank/x  offsite:vault/x  clag=1h\n',
  '/etc/zettabee/zettabee.cfg',
);
const [mysql] = pairs as [Pair, Pair, Pair];
const opts = { shortHostname: 'backup1', pairsFile: '/etc/zettabee/zettabee.cfg' };

/** the block of text from the line holding `start` to the next closing brace */
function block(text: string, start: string): string {
  const i = text.indexOf(start);
  expect(i, `'${start}' in:\n${text}`).to.be.greaterThan(-1);
  return text.slice(i, text.indexOf('\n}', i) + 2);
}

describe('service definitions: freshness window', () => {
  // the window follows how often results are sent (report_interval, the period
  // of the `zettabee --nagios status` cron line), never clag: a lost channel
  // must show within minutes, and lag alerts come from the results themselves
  const table: Array<[string, number, number]> = [
    ['1m: + the 5 min floor', 60, 60 + 300],
    ['5m (the default): 10 min', 300, 600],
    ['15m: + 5 min', 900, 1200],
    ['50m: 10% is still below the floor', 3000, 3300],
    ['1h: + 10%', 3600, 3960],
    ['1d: + 10%', 86400, 86400 + 8640],
    ['an odd interval: 10% rounded up to a whole second', 3601, 3601 + 361],
  ];
  for (const [name, interval, seconds] of table) {
    it(`report_interval ${name} -> ${seconds} s`, () => {
      expect(freshnessWindow(interval)).to.deep.equal({ seconds, interval, margin: seconds - interval });
    });
  }

  it('the built-in report_interval is 5 minutes for both Nagios and Icinga, the cron line etc/cron.d suggests', () => {
    expect(builtinSettings().nagios.report_interval).to.equal(300);
    expect(builtinSettings().icinga.report_interval).to.equal(300);
  });

  it('clag does not stretch it: a pair with clag=4h and one without get the same window', () => {
    const g = nagiosConfig(pairs, settings, opts).text;
    expect(block(g, 'service_description     zettabee backup/db/mysql0')).to.contain('freshness_threshold     600');
    expect(block(g, 'service_description     zettabee backup/home')).to.contain('freshness_threshold     600');
  });

  it('[nagios] report_interval makes the Nagios window, [icinga] report_interval the Icinga one', () => {
    const s: Settings = { ...settings, nagios: { ...settings.nagios, report_interval: 900 }, icinga: { ...settings.icinga, report_interval: 3600 } };
    expect(nagiosConfig(pairs, s, opts).text).to.contain('    freshness_threshold     1200\n');
    expect(icingaConfig(pairs, s, opts).text).to.contain('  check_interval = 3960s\n');
  });

  it('a report_interval longer than a pair\'s clag is a warning: its lag could pass clag unreported for that long', () => {
    const s: Settings = { ...settings, nagios: { ...settings.nagios, report_interval: 2 * 3600 } };
    expect(nagiosConfig(pairs, s, opts).warnings).to.deep.equal([
      'report_interval 2h (in [nagios]) is longer than the clag 1h of offsite:vault/x: its lag can pass clag that long before a result says so; run zettabee --nagios status more often',
    ]);
    expect(nagiosConfig(pairs, settings, opts).warnings).to.deep.equal([]);
  });
});

describe('service definitions: Nagios', () => {
  const g = nagiosConfig(pairs, settings, opts);

  it('one passive, freshness-checked service per pair, named as the emitters report it', () => {
    expect(g.problems).to.deep.equal([]);
    expect(block(g.text, 'define service {\n    use                     zettabee-service\n    host_name               backup1\n    service_description     zettabee backup/db/mysql0')).to.equal(
      [
        'define service {',
        '    use                     zettabee-service',
        '    host_name               backup1',
        '    service_description     zettabee backup/db/mysql0',
        '    freshness_threshold     600',
        '    check_command           zettabee-no-result!backup/db/mysql0!10m',
        '}',
      ].join('\n'),
    );
    for (const p of pairs) {
      const n = reportedNames(settings.nagios, p, 'backup1');
      expect(g.text).to.contain(`    host_name               ${n.host}\n    service_description     ${n.service}\n    freshness_threshold     ${freshnessWindow(settings.nagios.report_interval).seconds}\n`);
    }
    expect((g.text.match(/define service \{/g) ?? []).length).to.equal(pairs.length + 1);
  });

  it('the shared template: passive only, freshness on, hard at the first result, inherits generic-service', () => {
    expect(block(g.text, 'define service {\n    name')).to.equal(
      [
        'define service {',
        '    name                    zettabee-service',
        '    use                     generic-service',
        '    register                0',
        '    active_checks_enabled   0',
        '    passive_checks_enabled  1',
        '    check_freshness         1',
        '    max_check_attempts      1',
        '}',
      ].join('\n'),
    );
  });

  it('a stale service runs a command that says "no result received" as UNKNOWN', () => {
    expect(block(g.text, 'define command {')).to.contain('command_name            zettabee-no-result').and.contain(
      'command_line            $USER1$/check_dummy 3 "no result received from zettabee for $ARG1$ in $ARG2$',
    );
  });

  it('the header says where the window comes from', () => {
    expect(g.text).to.contain('# freshness_threshold = 10m: report_interval 5m (in [nagios]) + 5m');
  });

  it('hosts: listed as a comment by default; --hosts defines them once each', () => {
    expect(g.text).to.contain('#   backup1\n#   offsite\n');
    expect(g.text).not.to.contain('define host');
    const h = nagiosConfig(pairs, settings, { ...opts, hosts: 'generic-host' });
    expect((h.text.match(/define host \{/g) ?? []).length).to.equal(2);
    expect(block(h.text, 'define host {')).to.equal(
      ['define host {', '    use                     generic-host', '    host_name               backup1', '    alias                   backup1 (zettabee)', '    address                 backup1', '    max_check_attempts      1', '}'].join('\n'),
    );
    expect(nagiosConfig(pairs, settings, { ...opts, hosts: '' }).text).not.to.contain('generic-host');
  });

  it("--use '' leaves the template without a parent; --use names another", () => {
    expect(nagiosConfig(pairs, settings, { ...opts, use: '' }).text).not.to.contain('generic-service');
    expect(nagiosConfig(pairs, settings, { ...opts, use: 'local-service' }).text).to.contain('    use                     local-service\n');
  });

  it('custom templates: the names follow them; two pairs under one name is a problem', () => {
    const s: Settings = { ...settings, nagios: { ...settings.nagios, host: 'zfs-{hostname}', service: 'zb {fingerprint}' } };
    const c = nagiosConfig(pairs, s, opts);
    expect(c.text).to.contain(`    host_name               zfs-backup1\n    service_description     zb ${mysql.fingerprint}\n`);
    expect(c.problems).to.deep.equal([]);
    const dup = nagiosConfig(pairs, { ...settings, nagios: { ...settings.nagios, service: 'zettabee' } }, opts);
    expect(dup.problems).to.have.length(1);
    expect(dup.problems[0]).to.contain('backup/db/mysql0 and backup/home would both report as host \'backup1\' service \'zettabee\'');
  });

  it('warns about names NSCA cannot carry whole or Nagios refuses', () => {
    const long = nagiosConfig(pairs, { ...settings, nagios: { ...settings.nagios, service: `${'x'.repeat(120)} {dzfs}` } }, opts);
    expect(long.warnings.some((w) => w.includes("longer than NSCA's 127 bytes"))).to.equal(true);
    const bad = nagiosConfig(pairs, { ...settings, nagios: { ...settings.nagios, service: 'zettabee ({dzfs})' } }, opts);
    expect(bad.warnings.some((w) => w.includes('Nagios refuses'))).to.equal(true);
  });
});

describe('service definitions: Icinga 2', () => {
  const g = icingaConfig(pairs, settings, opts);

  it('one service per pair: dummy UNKNOWN "no result received" every window, named as the emitters report it', () => {
    expect(block(g.text, 'object Service "zettabee backup/db/mysql0"')).to.equal(
      [
        'object Service "zettabee backup/db/mysql0" {',
        '  import "generic-service"',
        '  host_name = "backup1"',
        '  check_command = "dummy"',
        '  enable_active_checks = true',
        '  enable_passive_checks = true',
        '  check_interval = 600s',
        '  retry_interval = 600s',
        '  max_check_attempts = 1',
        '  vars.dummy_state = 3',
        '  vars.dummy_text = "no result received from zettabee for backup/db/mysql0 in 10m"',
        `  vars.zettabee_fingerprint = "${mysql.fingerprint}"`,
        '}',
      ].join('\n'),
    );
    expect(block(g.text, 'object Service "zettabee vault/x"')).to.contain('host_name = "offsite"').and.contain('check_interval = 600s');
    expect((g.text.match(/object Service /g) ?? []).length).to.equal(3);
    expect(g.text).to.contain(' *   backup1\n *   offsite\n');
  });

  it('--hosts: an always-UP host each; strings escaped, "$" never read as a macro', () => {
    const s: Settings = { ...settings, icinga: { ...settings.icinga, service: 'zb "{dzfs}" $x\\' } };
    const h = icingaConfig([mysql], s, { ...opts, hosts: 'generic-host' });
    expect(block(h.text, 'object Host "backup1"')).to.contain('import "generic-host"').and.contain('check_command = "dummy"').and.contain('vars.dummy_state = 0');
    expect(h.text).to.contain('object Service "zb \\"backup/db/mysql0\\" $$x\\\\" {');
  });
});

describe('service definitions: the examples in etc/', () => {
  const etc = (f: string) => new URL(`../../../etc/${f}`, import.meta.url);
  const ex = parseSettings(readFileSync(etc('zettabee.ini.example'), 'utf8'), '/etc/zettabee/zettabee.ini').settings;
  const exPairs = parsePairs(readFileSync(etc('zettabee.cfg.example'), 'utf8'), '/etc/zettabee/zettabee.cfg', ex.defaults).pairs;

  it('etc/nagios/zettabee.cfg is what nagios-config prints for the example pairs', () => {
    expect(readFileSync(etc('nagios/zettabee.cfg'), 'utf8').endsWith(nagiosConfig(exPairs, ex, opts).text)).to.equal(true);
  });

  it('etc/icinga2/zettabee.conf is what icinga-config prints for the example pairs', () => {
    expect(readFileSync(etc('icinga2/zettabee.conf'), 'utf8').endsWith(icingaConfig(exPairs, ex, opts).text)).to.equal(true);
  });
});

import { expect } from 'chai';
import { parseSettings, builtinSettings } from '../../src/config/settings.js';
import { formatProblem } from '../../src/config/pairs.js';

const F = '/etc/zettabee/zettabee.ini';

describe('settings file', () => {
  it('has built-in defaults', () => {
    const s = builtinSettings();
    expect(s.paths).to.deep.equal({ state: '/var/lib/zettabee', lock: '/run/zettabee', log: '/var/log/zettabee' });
    expect(s.nagios).to.deep.include({ send_nsca: '/usr/sbin/send_nsca', config: '/etc/send_nsca.cfg', port: 5667, host: '{dhost}', service: 'zettabee {dzfs}' });
  });

  it('reads the contract example', () => {
    const text = `[paths]\nstate = /var/lib/zb\nlock  = /run/zb\nlog   = /var/log/zb\n\n[defaults]\n; any pairs-file key\nwlag = 1h\nkeep = 3\n\n[nagios]\nsend_nsca = /usr/sbin/send_nsca\nconfig    = /etc/send_nsca.cfg     ; passed as -c\nserver    = nagios.example.org\nport      = 5667\nhost      = {dhost}\nservice   = zettabee {dzfs}\n\n[icinga]\nurl = https://icinga.example.org:5665\nuser = zettabee\npassword_file = /etc/zettabee/icinga.password\nca = /etc/zettabee/icinga-ca.crt\nhost = {dhost}\nservice = zettabee {dzfs}\n\n[ssh]\nknown_hosts = /etc/zettabee/known_hosts\nconnect_timeout = 5\n`;
    const { settings, problems } = parseSettings(text, F);
    expect(problems).to.deep.equal([]);
    expect(settings.paths.state).to.equal('/var/lib/zb');
    expect(settings.defaults).to.deep.equal({ wlag: 3600, keep: 3 });
    expect(settings.nagios).to.deep.include({ server: 'nagios.example.org', config: '/etc/send_nsca.cfg', port: 5667 });
    expect(settings.icinga.url).to.equal('https://icinga.example.org:5665');
    expect(settings.ssh).to.deep.equal({ known_hosts: '/etc/zettabee/known_hosts', connect_timeout: 5 });
  });

  it('report_interval: a duration in [nagios] and in [icinga], kept as seconds', () => {
    const { settings, problems } = parseSettings('[nagios]\nreport_interval = 15m\n[icinga]\nreport_interval = 1h\n', F);
    expect(problems).to.deep.equal([]);
    expect(settings.nagios.report_interval).to.equal(900);
    expect(settings.icinga.report_interval).to.equal(3600);
  });

  const table: Array<[string, string, RegExp]> = [
    ['unknown section', '[mail]\nto = root', /:1: unknown section \[mail\]; known sections: \[paths\]/],
    ['unknown key', '[paths]\nstat = /x', /:2: unknown key 'stat' in \[paths\]; known keys: state, lock, log/],
    ['relative path', '[paths]\nstate = var/lib', /:2: \[paths\] state: 'var\/lib' must be an absolute path/],
    ['bad default', '[defaults]\nclag = soon', /:2: \[defaults\]: clag: 'soon' is not a duration/],
    ['unknown default', '[defaults]\nlag = 1h', /:2: \[defaults\]: unknown key 'lag'/],
    ['bad port', '[nagios]\nport = http', /:2: \[nagios\] port: 'http' is not a TCP port/],
    ['bad template', '[nagios]\nservice = zb {dataset}', /unknown placeholder \{dataset\}/],
    ['key before section', 'state = /x', /:1: 'state' comes before any \[section\]/],
    ['garbage line', '[paths]\nthis is not ini', /:2: 'this is not ini' is neither/],
    ['key twice', '[paths]\nlog = /a\nlog = /b', /:3: log is set twice in \[paths\]/],
    ['http url', '[icinga]\nurl = http://x:5665', /is not an https:\/\/host:port URL/],
    ['inconsistent defaults', '[defaults]\nwlag = 2h\nclag = 1h', /wlag \(7200s\) is greater than clag/],
    ['report_interval not a duration', '[nagios]\nreport_interval = often', /:2: \[nagios\] report_interval: 'often' is not a duration/],
    ['report_interval below cron\'s minute', '[icinga]\nreport_interval = 30s', /:2: \[icinga\] report_interval: 30s is shorter than 1m \(cron runs at most once a minute\)/],
    ['report_interval above a week', '[nagios]\nreport_interval = 2w', /:2: \[nagios\] report_interval: 2w is longer than 1w/],
  ];
  for (const [name, text, re] of table) {
    it(`reports ${name} with its line`, () => {
      const { problems } = parseSettings(text, F);
      expect(problems.map(formatProblem).join('\n')).to.match(re);
    });
  }
});

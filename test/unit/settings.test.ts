import { expect } from 'chai';
import { readFileSync } from 'node:fs';
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

  it('[prometheus] textfile: unset by default, an absolute *.prom path when set', () => {
    expect(builtinSettings().prometheus).to.deep.equal({});
    const { settings, problems } = parseSettings('[prometheus]\ntextfile = /var/lib/node_exporter/textfile_collector/zettabee.prom ; node_exporter reads it\n', F);
    expect(problems).to.deep.equal([]);
    expect(settings.prometheus).to.deep.equal({ textfile: '/var/lib/node_exporter/textfile_collector/zettabee.prom' });
  });

  it('etc/zettabee.ini.example: no textfile as shipped; its commented textfile line, uncommented, is a valid [prometheus] textfile', () => {
    const text = readFileSync(new URL('../../../etc/zettabee.ini.example', import.meta.url), 'utf8');
    const shipped = parseSettings(text, F);
    expect(shipped.problems).to.deep.equal([]);
    expect(shipped.settings.prometheus).to.deep.equal({});
    const on = parseSettings(text.replace(/^; (textfile = )/m, '$1'), F);
    expect(on.problems).to.deep.equal([]);
    expect(on.settings.prometheus).to.deep.equal({ textfile: '/var/lib/node_exporter/textfile_collector/zettabee.prom' });
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
    ['http url', '[icinga]\nurl = http://x:5665', /is not an https:\/\/host\[:port\] URL/],
    ['inconsistent defaults', '[defaults]\nwlag = 2h\nclag = 1h', /wlag \(7200s\) is greater than clag/],
    ['report_interval not a duration', '[nagios]\nreport_interval = often', /:2: \[nagios\] report_interval: 'often' is not a duration/],
    ['report_interval below cron\'s minute', '[icinga]\nreport_interval = 30s', /:2: \[icinga\] report_interval: 30s is shorter than 1m \(cron runs at most once a minute\)/],
    ['report_interval above a week', '[nagios]\nreport_interval = 2w', /:2: \[nagios\] report_interval: 2w is longer than 1w/],
    // values are whole: a ';' without a blank before it is part of the value, which is then checked
    ['a shell payload in a host', '[nagios]\nserver = a;touch /tmp/x', /:2: \[nagios\] server: 'a;touch \/tmp\/x' is not a plain host name/],
    ['a bad duration cut at #', '[defaults]\nwlag = 1h#2h', /:2: \[defaults\]: wlag: '1h#2h' is not a duration/],
    ['an IPv6 server without brackets', '[nagios]\nserver = ::1', /'::1' is not a plain host name/],
    ['a URL whose host is not a host', '[icinga]\nurl = https://a;b:5665', /:2: \[icinga\] url: 'https:\/\/a;b:5665' is not an https:\/\/host\[:port\] URL: 'a;b' is not a plain host name/],
    ['a URL with a bad port', '[icinga]\nurl = https://icinga:99999/', /url: .*'99999' is not a TCP port/],
    ['a URL with a path', '[icinga]\nurl = https://icinga/v1', /url: .*it has a path/],
    ['known_hosts that ssh would expand', '[ssh]\nknown_hosts = /etc/${USER}/kh', /:2: \[ssh\] known_hosts: .*which ssh would expand/],
    ['known_hosts with a quote', '[ssh]\nknown_hosts = /etc/a"b', /known_hosts: .*contains '"'/],
    ['a control character', '[paths]\nlog = /var/log/a\x1b[2Jb', /:2: \[paths\] log: the value contains a control character \(code 27\)/],
    ['an unclosed quote', '[nagios]\nservice = "zb {dzfs}', /:2: \[nagios\] service: the quote in .* has no closing/],
    ['text after a quote', '[nagios]\nservice = "zb" {dzfs}', /:2: \[nagios\] service: '\{dzfs\}' follows the closing quote/],
    ['an unclosed placeholder', '[nagios]\nservice = zb {dzfs', /:2: \[nagios\] service: '\{' without a closing '\}'/],
    ['a port with spaces', '[nagios]\nport = 56 67', /:2: \[nagios\] port: '56 67' is not a TCP port/],
    ['a duration with a blank', '[defaults]\nclag = 1 0m', /:2: \[defaults\]: clag: '1 0m' is not a duration/],
    // names of Object.prototype are sections and keys like any other: unknown
    ['[constructor]', '[constructor]\ncheck = 1', /:1: unknown section \[constructor\]/],
    ['[toString]', '[toString]', /:1: unknown section \[toString\]/],
    ['[hasOwnProperty]', '[hasOwnProperty]\nx = 1', /:1: unknown section \[hasOwnProperty\]/],
    ['[__proto__] hasOwnProperty', '[__proto__]\nhasOwnProperty = x', /:1: unknown section \[__proto__\]/],
    ['[__proto__] isPrototypeOf', '[__proto__]\nisPrototypeOf = x', /:1: unknown section \[__proto__\]/],
    ['a prototype key in [paths]', '[paths]\nconstructor = /x', /:2: unknown key 'constructor' in \[paths\]/],
    ['__proto__ in [defaults]', '[defaults]\n__proto__ = 1', /:2: \[defaults\]: unknown key '__proto__'/],
    ['toString in [ssh]', '[ssh]\ntoString = 1', /:2: unknown key 'toString' in \[ssh\]/],
    ['a relative textfile', '[prometheus]\ntextfile = zettabee.prom', /:2: \[prometheus\] textfile: 'zettabee.prom' must be an absolute path/],
    ['a textfile not ending in .prom', '[prometheus]\n\ntextfile = /var/lib/node_exporter/zettabee.txt', /:3: \[prometheus\] textfile: '\/var\/lib\/node_exporter\/zettabee.txt' must be a file name ending in .prom \(node_exporter's textfile collector reads only \*.prom files\)/],
    ['a textfile that is only .prom', '[prometheus]\ntextfile = /var/lib/node_exporter/.prom', /:2: \[prometheus\] textfile: .* must be a file name ending in .prom/],
    ['an empty textfile', '[prometheus]\ntextfile =', /:2: \[prometheus\] textfile: '' must be an absolute path/],
    ['an unknown key in [prometheus]', '[prometheus]\ndir = /var/lib', /:2: unknown key 'dir' in \[prometheus\]; known keys: textfile/],
    ['textfile twice', '[prometheus]\ntextfile = /a/z.prom\ntextfile = /b/z.prom', /:3: textfile is set twice in \[prometheus\]/],
  ];
  for (const [name, text, re] of table) {
    it(`reports ${name} with its line`, () => {
      const { problems } = parseSettings(text, F);
      expect(problems.map(formatProblem).join('\n')).to.match(re);
    });
  }

  it('keeps a value whole: only a ; or # after a blank starts a comment', () => {
    const { settings, problems } = parseSettings('[paths]\nstate = /srv/zb;old\nlock = /run/zb#1 ; the lock\nlog = /var/log/zb\t# the logs\n[nagios]\nservice = "zettabee {dzfs} ; #1"   ; quoted\nhost = {dhost}#x', F);
    expect(problems.map(formatProblem)).to.deep.equal([]);
    expect(settings.paths).to.deep.equal({ state: '/srv/zb;old', lock: '/run/zb#1', log: '/var/log/zb' });
    expect(settings.nagios).to.deep.include({ service: 'zettabee {dzfs} ; #1', host: '{dhost}#x' });
  });

  it('takes a [defaults] value with blanks whole (an sshkey path), and IPv6 hosts in brackets', () => {
    const { settings, problems } = parseSettings('[defaults]\nsshkey = /root/my keys/id %h\n[nagios]\nserver = [::1]\n[icinga]\nurl = https://[fe80::1]:5665/', F);
    expect(problems.map(formatProblem)).to.deep.equal([]);
    expect(settings.defaults.sshkey).to.equal('/root/my keys/id %h');
    expect(settings.nagios.server).to.equal('[::1]');
    expect(settings.icinga.url).to.equal('https://[fe80::1]:5665/');
  });

  it('leaves Object.prototype alone', () => {
    parseSettings('[__proto__]\nisPrototypeOf = x\npolluted = 1\n[defaults]\n__proto__ = 1', F);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.prototype.isPrototypeOf).to.be.a('function');
  });
});

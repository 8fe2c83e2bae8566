import { expect } from 'chai';
import { parsePairs, formatProblem } from '../../src/config/pairs.js';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { MAX_PAIR_DATASET, newSnapshotName, ZFS_MAX_NAME } from '../../src/domain/snapshot-name.js';

const F = '/etc/zettabee/zettabee.cfg';
const ok = (text: string, defaults = {}) => {
  const r = parsePairs(text, F, defaults);
  expect(r.problems.map(formatProblem)).to.deep.equal([]);
  return r.pairs;
};
const problems = (text: string) => parsePairs(text, F).problems.map(formatProblem);

describe('pairs file parser', () => {
  it('reads the original format', () => {
    const [p] = ok('src:tank/a   dst:pool/tank/a   transport=mbuffer,port=5001,wlag=3600,clag=7200\n');
    expect(p!.source).to.deep.equal({ host: 'src', local: false, dataset: 'tank/a' });
    expect(p!.destination).to.deep.equal({ host: 'dst', local: false, dataset: 'pool/tank/a' });
    expect(p!.options).to.deep.equal({ transport: 'mbuffer', port: 5001, wlag: 3600, clag: 7200 });
    expect(p!.fingerprint).to.equal('062a9ba78a95255454d51de19171ba8c');
    expect(p!.label).to.equal('dst:pool/tank/a');
    expect(p!.line).to.equal(1);
  });

  it('tolerates comments, blank lines, indentation, no options, spaces after commas', () => {
    const pairs = ok(['# pairs', '', '   \t', '  tank/a\tbackup/a   # trailing comment', 'src:tank/b backup/b wlag=1h, clag=2h', '#last'].join('\n'));
    expect(pairs.map((p) => [p.line, p.label, p.transport])).to.deep.equal([
      [4, 'backup/a', 'local'],
      [5, 'backup/b', 'ssh'],
    ]);
    expect(pairs[1]!.options).to.deep.include({ wlag: 3600, clag: 7200 });
  });

  it('accepts CRLF line endings', () => expect(ok('tank/a backup/a\r\ntank/b backup/b\r\n')).to.have.length(2));

  it('treats localhost as this machine and fingerprints it as written', () => {
    const [a] = ok('localhost:tank/a backup/a');
    expect(a!.source.local).to.equal(true);
    expect(a!.transport).to.equal('local');
    const [b] = ok('tank/a backup/a');
    expect(a!.fingerprint).to.equal(b!.fingerprint);
  });

  it('merges [defaults] under the line', () => {
    const [p] = ok('src:tank/a backup/a wlag=5m', { wlag: 60, clag: 3600, keep: 3 });
    expect(p!.options).to.deep.equal({ wlag: 300, clag: 3600, keep: 3 });
  });

  it('parses every documented key', () => {
    const [p] = ok('src:tank/a backup/a transport=ssh,sshport=2222,sshkey=/root/.ssh/id,sshuser=zb,wlag=1h,clag=1d,wrun=30m,crun=2h,keep=5,recursive=yes');
    expect(p!.options).to.deep.equal({ transport: 'ssh', sshport: 2222, sshkey: '/root/.ssh/id', sshuser: 'zb', wlag: 3600, clag: 86400, wrun: 1800, crun: 7200, keep: 5, recursive: true });
    expect(KNOWN_KEYS).to.include.members(['transport', 'port', 'sshport', 'sshkey', 'sshuser', 'wlag', 'clag', 'wrun', 'crun', 'keep', 'recursive']);
  });

  it('reads bracketed IPv6 hosts, keeps them as written, and fingerprints them so', () => {
    const [pull, push] = ok('[::1]:tank/a backup/a\ntank/b [fe80::1%eth0]:backup/b');
    expect(pull!.source).to.deep.equal({ host: '[::1]', local: false, dataset: 'tank/a' });
    expect(pull!.transport).to.equal('ssh');
    expect(pull!.fingerprint).to.equal(fingerprint('[::1]', 'tank/a', 'localhost', 'backup/a'));
    expect(push!.destination).to.deep.equal({ host: '[fe80::1%eth0]', local: false, dataset: 'backup/b' });
    expect(push!.label).to.equal('[fe80::1%eth0]:backup/b');
  });

  it('takes the longest name whose snapshots, with a -99 of the same second, still fit ZFS', () => {
    const name = `tank/${'x'.repeat(MAX_PAIR_DATASET - 5)}`;
    const [p] = ok(`${name} b/a`);
    expect(`${name}@${newSnapshotName(p!.fingerprint, new Date())}-99`).to.have.length(ZFS_MAX_NAME);
  });

  it('supports remote-to-remote and push', () => {
    const [a, b] = ok('a:tank/x b:pool/x\ntank/y b:pool/y');
    expect(a!.transport).to.equal('ssh');
    expect(b!.source.local).to.equal(true);
    expect(b!.destination.local).to.equal(false);
  });

  const table: Array<[string, string, RegExp]> = [
    ['unknown key with the list', 'tank/a b/a wlg=1h', /:2:12: unknown key 'wlg' \(did you mean wlag\?\); known keys: transport, port/],
    ['bad duration', 'tank/a b/a clag=2hours', /:2:12: clag: '2hours' is not a duration/],
    ['bad duration unit', 'tank/a b/a clag=5y', /clag: '5y' is not a duration/],
    ['malformed dataset', 'tank/a b/a;reboot', /destination: 'b\/a;reboot' contains the character ';'/],
    ['snapshot as source', 'tank/a@x b/a', /source: 'tank\/a@x' names a snapshot/],
    ['bad host', '-oProxyCommand=x:tank/a b/a', /source host: '-oProxyCommand=x' is not a plain host name/],
    ['user in host', 'root@src:tank/a b/a', /give the user with sshuser=/],
    ['missing destination', 'tank/a', /has a source but no destination/],
    ['not key=value', 'tank/a b/a recursive', /'recursive' is not key=value/],
    ['key twice', 'tank/a b/a wlag=1,wlag=2', /wlag is given twice/],
    ['empty value', 'tank/a b/a keep=', /keep has no value/],
    ['bad port', 'src:tank/a b/a transport=mbuffer,port=70000', /out of range for a TCP port/],
    ['mbuffer without port', 'src:tank/a b/a transport=mbuffer', /needs port=/],
    ['port without mbuffer', 'src:tank/a b/a port=5000', /port is only used with transport=mbuffer/],
    ['local with remote end', 'src:tank/a b/a transport=local', /transport=local needs both ends/],
    ['ssh with both local', 'tank/a b/a transport=ssh', /transport=ssh needs a remote host/],
    ['unknown transport', 'tank/a b/a transport=rsync', /unknown transport 'rsync'/],
    ['wlag above clag', 'tank/a b/a wlag=2h,clag=1h', /wlag \(7200s\) is greater than clag \(3600s\)/],
    ['recursive not yes/no', 'tank/a b/a recursive=maybe', /recursive must be yes or no/],
    ['relative sshkey', 'src:tank/a b/a sshkey=id_rsa', /must be an absolute path/],
    ['destination is a pool', 'tank/a backup', /is a pool/],
    ['same dataset', 'tank/a tank/a', /the same dataset/],
    ['destination inside source', 'tank/a tank/a/copy', /inside the source/],
    ['ssh keys on a local pair', 'tank/a b/a sshport=22', /sshport is given but both ends are on this machine/],
    ['empty host', ':tank/a b/a', /empty host/],
    ['a source name too long for its snapshots', `tank/${'x'.repeat(195)} b/a`, /:2: source: the name is 200 characters long; its pair snapshots \(@zettabee\.<fingerprint>\.<time>UTC, 63 more\) would pass ZFS's limit of 255, so it may have at most 192/],
    ['a destination name too long for its snapshots', `tank/a b/${'x'.repeat(191)}`, /:2: destination: the name is 193 characters long/],
    ['IPv6 without brackets', '::1:tank/a b/a', /:2: source '::1:tank\/a': an IPv6 address goes in brackets \(\[::1\]:tank\/a\)/],
    ['IPv6 without brackets, long form', 'tank/a 2001:db8::1:b/a', /destination '2001:db8::1:b\/a': an IPv6 address goes in brackets \(\[2001:db8::1\]:b\/a\)/],
    ['an unclosed bracket', '[::1:tank/a b/a', /:2: source '\[::1:tank\/a': '\[' without '\]'/],
    ['a bracket without a colon', '[::1]tank/a b/a', /:2: source '\[::1\]tank\/a': '\[::1\]' must be followed by ':'/],
    ['not IPv6 in brackets', '[fe80::zz]:tank/a b/a', /source host: '\[fe80::zz\]' is not an IPv6 address/],
    ['a name in brackets', '[src]:tank/a b/a', /source host: '\[src\]' is not an IPv6 address/],
    // the options field is one comma-separated list: a blank inside it is never joined away
    ['a blank inside a duration', 'tank/a b/a clag=1 0m', /:2:18: a blank inside the options, in 'clag=1 0m'; options are one comma-separated list/],
    ['a blank inside a count', 'tank/a b/a keep=1 0', /:2:18: a blank inside the options, in 'keep=1 0'/],
    ['a blank before a unit', 'tank/a b/a wlag=1 h', /:2:18: a blank inside the options, in 'wlag=1 h'/],
    ['a blank for a comma', 'tank/a b/a wlag=1h clag=2h', /:2:19: a comma is probably missing between 'wlag=1h' and 'clag=2h'/],
    ['a missing comma', 'tank/a b/a wlag=1hclag=2h', /:2:19: a comma is probably missing before 'clag=' in 'wlag=1hclag=2h' \(write wlag=1h,clag=2h\)/],
    ['a missing comma before a longer key', 'tank/a b/a keep=2stale_lock=refuse', /:2:18: a comma is probably missing before 'stale_lock='/],
    ['two commas', 'tank/a b/a wlag=1h,,clag=2h', /:2:20: an empty option \(two commas, or a comma at the start of the options\)/],
    ['two commas with a blank', 'tank/a b/a wlag=1h, ,clag=2h', /:2:21: an empty option/],
    ['a leading comma', 'tank/a b/a ,wlag=1h', /:2:12: an empty option/],
    ['a trailing comma', 'tank/a b/a wlag=1h,', /:2:19: a comma at the end of the options/],
    ['a trailing comma before a comment', 'tank/a b/a wlag=1h, # c', /:2:19: a comma at the end of the options/],
    ['a blank before =', 'tank/a b/a wlag =1h', /:2:16: a blank before '=' in the options/],
    ['a blank after =', 'tank/a b/a wlag= 1h', /:2:17: a blank after 'wlag='/],
    ['an unclosed quote', 'src:tank/a b/a sshkey="/root/id', /:2:23: the quote after 'sshkey=' has no closing '"'/],
    ['a quote inside a value', 'src:tank/a b/a sshkey=/root/"id"', /:2:29: a '"' inside the value of sshkey/],
    ['text after a quote', 'src:tank/a b/a sshkey="/root/id"x', /:2:33: 'x' follows the closing quote of sshkey=/],
    ['a # without a blank is part of the value', 'tank/a b/a wlag=1h#2h', /:2:12: wlag: '1h#2h' is not a duration/],
    ['a blank in the source name', 'tank/my data backup/x', /:2:14: 'backup\/x' looks like a third dataset name, but a line is source, destination and options: a dataset name cannot contain a blank/],
    ['a blank in the destination name', 'tank/a backup/has sp', /:2:19: 'sp' is not key=value \(dataset names cannot contain a blank: is it part of the destination\?\)/],
  ];
  for (const [name, line, re] of table) {
    it(`reports ${name} with file and line`, () => {
      const ps = problems(`# header\n${line}\n`);
      expect(ps.length, ps.join('\n')).to.be.greaterThan(0);
      expect(ps.join('\n')).to.match(re);
      expect(ps[0]).to.match(new RegExp(`^${F}:2:(\\d+:)? `));
    });
  }

  it('a blank in a name reports the layout only, not the misread names', () => {
    expect(problems('tank/my data backup/x wlag=1h')).to.deep.equal([
      `${F}:1:14: 'backup/x' looks like a third dataset name, but a line is source, destination and options: a dataset name cannot contain a blank`,
    ]);
  });

  it('takes blanks around commas, comments after a blank, and quoted values literally', () => {
    const [a, b] = ok([
      'src:tank/a  b/a  wlag=1h , clag=2h,\tkeep=3   # three kept',
      'src:tank/b  b/b  sshkey="/root/my keys/a,b #1 %h",wlag=1h\t#c',
    ].join('\n'));
    expect(a!.options).to.deep.equal({ wlag: 3600, clag: 7200, keep: 3 });
    expect(b!.options).to.deep.equal({ sshkey: '/root/my keys/a,b #1 %h', wlag: 3600 });
  });

  it('a quoted value is still checked', () => {
    expect(problems('tank/a b/a wlag="1 h"')).to.deep.equal([`${F}:1:12: wlag: '1 h' is not a duration (use seconds or a number with a unit: 90s, 30m, 2h, 1d, 1w)`]);
  });

  it('reports duplicates with both lines', () => {
    const ps = problems(['src:tank/a b/a', 'src:tank/b localhost:b/a', 'x:tank/c d:p/c transport=mbuffer,port=5000', 'y:tank/d d:p/d transport=mbuffer,port=5000', 'z:tank/e e:p/e transport=mbuffer,port=5000'].join('\n'));
    expect(ps).to.deep.equal([`${F}:2: duplicate destination localhost:b/a (also on line 1)`, `${F}:4: duplicate mbuffer port 5000 on d (also on line 3)`]);
  });

  it('reports one error per mistake across the file', () => {
    const ps = problems(['tank/a b/a wlg=1', 'tank/b b/b clag=x', 'tank/c', 'tank/d b/d', 'tank/e b/e keep=-1'].join('\n'));
    expect(ps.map((p) => p.split(':')[1])).to.deep.equal(['1', '2', '3', '5']);
  });
});

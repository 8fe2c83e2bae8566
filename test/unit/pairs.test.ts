import { expect } from 'chai';
import { parsePairs, formatProblem } from '../../src/config/pairs.js';
import { KNOWN_KEYS } from '../../src/config/keys.js';

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

  it('supports remote-to-remote and push', () => {
    const [a, b] = ok('a:tank/x b:pool/x\ntank/y b:pool/y');
    expect(a!.transport).to.equal('ssh');
    expect(b!.source.local).to.equal(true);
    expect(b!.destination.local).to.equal(false);
  });

  const table: Array<[string, string, RegExp]> = [
    ['unknown key with the list', 'tank/a b/a wlg=1h', /:2: unknown key 'wlg' \(did you mean wlag\?\); known keys: transport, port/],
    ['bad duration', 'tank/a b/a clag=2 hours', /:2: clag: '2hours' is not a duration/],
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
  ];
  for (const [name, line, re] of table) {
    it(`reports ${name} with file and line`, () => {
      const ps = problems(`# header\n${line}\n`);
      expect(ps.length, ps.join('\n')).to.be.greaterThan(0);
      expect(ps.join('\n')).to.match(re);
      expect(ps[0]).to.match(new RegExp(`^${F}:2: `));
    });
  }

  it('reports duplicates with both lines', () => {
    const ps = problems(['src:tank/a b/a', 'src:tank/b localhost:b/a', 'x:tank/c d:p/c transport=mbuffer,port=5000', 'y:tank/d d:p/d transport=mbuffer,port=5000', 'z:tank/e e:p/e transport=mbuffer,port=5000'].join('\n'));
    expect(ps).to.deep.equal([`${F}:2: duplicate destination localhost:b/a (also on line 1)`, `${F}:4: duplicate mbuffer port 5000 on d (also on line 3)`]);
  });

  it('reports one error per mistake across the file', () => {
    const ps = problems(['tank/a b/a wlg=1', 'tank/b b/b clag=x', 'tank/c', 'tank/d b/d', 'tank/e b/e keep=-1'].join('\n'));
    expect(ps.map((p) => p.split(':')[1])).to.deep.equal(['1', '2', '3', '5']);
  });
});

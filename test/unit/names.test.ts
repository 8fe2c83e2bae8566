import { expect } from 'chai';
import { datasetNameProblem, hostNameProblem, leafName, parentDataset, isPoolRoot, sshAddress } from '../../src/domain/names.js';

describe('dataset names (ZFS naming rules)', () => {
  const valid = ['tank', 'tank/a', 'tank/a/b', 'pool_1/x-y.z', 'tank/a:b', 'p/' + 'x'.repeat(200)];
  for (const n of valid) it(`accepts ${n.slice(0, 40)}`, () => expect(datasetNameProblem(n)).to.equal(null));

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['tank/a@snap', /snapshot/],
    ['tank/a#bm', /bookmark/],
    ['/tank/a', /must not start or end/],
    ['tank/a/', /must not start or end/],
    ['tank//a', /empty component/],
    ['tank/./a', /'\.' component/],
    ['tank/../a', /'\.\.' component/],
    ['1tank/a', /begin with a letter/],
    ['mirror/a', /reserved/],
    ['c0t0d0/a', /reserved/],
    ['tank/a;reboot', /character ';'/],
    ['tank/$(reboot)', /character '\$'/],
    ['tank/a\u0007', /control character/],
    ['tank/`x`', /character '`'/],
    ['tank/' + 'x'.repeat(260), /longer than 255/],
  ];
  for (const [n, re] of invalid) it(`rejects ${JSON.stringify(n.slice(0, 30))}`, () => expect(datasetNameProblem(n)).to.match(re));

  it('splits names', () => {
    expect(parentDataset('a/b/c')).to.equal('a/b');
    expect(parentDataset('a')).to.equal(null);
    expect(leafName('a/b/mysql0')).to.equal('mysql0');
    expect(isPoolRoot('tank')).to.equal(true);
  });
});

describe('host names', () => {
  for (const h of ['src', 'db-1.example.org', '127.0.0.1', '[::1]', '[fe80::1]', '[2001:db8::8:800:200c:417a]', '[::ffff:192.0.2.1]', '[fe80::1%eth0]', 'a.b.c.'])
    it(`accepts ${h}`, () => expect(hostNameProblem(h)).to.equal(null));
  const invalid: Array<[string, RegExp]> = [
    ['-oProxyCommand=x', /plain host name/],
    ['root@src', /sshuser/],
    ['a_b', /plain host name/],
    ['300.1.1.1', /IPv4/],
    ['host name', /plain host name/],
    ['[zz]', /IPv6/],
    ['[:::]', /IPv6/],
    ['[1:2:3:4:5:6:7:8:9]', /IPv6/],
    ['[::1]]', /IPv6/],
    ['[fe80::1%$(x)]', /IPv6/],
    ['::1', /plain host name.*brackets/],
    ['a;b', /plain host name/],
  ];
  for (const [h, re] of invalid) it(`rejects ${h}`, () => expect(hostNameProblem(h)).to.match(re));

  it('ssh gets an IPv6 address without its brackets', () => {
    expect(sshAddress('[::1]')).to.equal('::1');
    expect(sshAddress('db1')).to.equal('db1');
  });
});

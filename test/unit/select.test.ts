import { expect } from 'chai';
import { parsePairs } from '../../src/config/pairs.js';
import { selectPair, selectPairs } from '../../src/config/select.js';
import { UsageError } from '../../src/errors.js';

const { pairs } = parsePairs(['src:tank/mysql0 dst:pool/db/mysql0', 'src:tank/www pool/www', 'src:tank/a dst:pool/x/dup', 'src:tank/b dst:pool/y/dup'].join('\n'), 'f');

describe('pair selection', () => {
  it('by dhost:dpool/fs as written', () => expect(selectPair(pairs, 'dst:pool/db/mysql0').line).to.equal(1));
  it('by dpool/fs', () => expect(selectPair(pairs, 'pool/db/mysql0').line).to.equal(1));
  it('by a local destination as written', () => expect(selectPair(pairs, 'pool/www').line).to.equal(2));
  it('by localhost:dpool/fs for a local destination', () => expect(selectPair(pairs, 'localhost:pool/www').line).to.equal(2));
  it('by unique leaf', () => expect(selectPair(pairs, 'mysql0').line).to.equal(1));
  it('by [IPv6]:dpool/fs as written', () => {
    const v6 = parsePairs('tank/a [::1]:pool/v6\n[::1]:tank/b pool/b', 'f').pairs;
    expect(selectPair(v6, '[::1]:pool/v6').line).to.equal(1);
    expect(selectPair(v6, 'v6').line).to.equal(1);
  });
  it('by fingerprint', () => expect(selectPair(pairs, pairs[2]!.fingerprint).line).to.equal(3));
  it('by a unique fingerprint prefix of 8+', () => expect(selectPair(pairs, pairs[3]!.fingerprint.slice(0, 10)).line).to.equal(4));
  it('refuses an ambiguous leaf and lists the candidates', () => {
    try {
      selectPair(pairs, 'dup');
      expect.fail('no error');
    } catch (e) {
      expect(e).to.be.instanceOf(UsageError);
      expect((e as UsageError).message).to.equal("'dup' matches 2 pairs");
      expect((e as UsageError).details.join('\n')).to.match(/dst:pool\/x\/dup[\s\S]*dst:pool\/y\/dup/);
      expect((e as UsageError).exitCode).to.equal(2);
    }
  });
  it('refuses an unknown name and lists the pairs', () => {
    expect(() => selectPair(pairs, 'nope')).to.throw(UsageError, "no pair matches 'nope'");
  });
  it('selects all without DEST', () => expect(selectPairs(pairs, undefined)).to.have.length(4));
});

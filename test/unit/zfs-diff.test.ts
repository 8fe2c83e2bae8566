import { expect } from 'chai';
import { describeDiff, parseDiff } from '../../src/zfs/parse.js';

// `zfs diff -H dst/p@s1 dst/p` as OpenZFS 2.1.11 printed it in a guest, after
// touch intruder, mkdir d, echo > d/y, rm f (recorded, tabs as printed)
const RECORDED = '-\t/dst/p/f\n+\t/dst/p/intruder\n+\t/dst/p/d/y\nM\t/dst/p/\n+\t/dst/p/d\n';

describe('zfs diff summary (a modified destination says what changed)', () => {
  it('counts recorded OpenZFS output by kind and shows the first paths', () => {
    const d = parseDiff(RECORDED, 1000);
    expect(d).to.deep.equal({ count: 5, more: false, byType: { created: 3, removed: 1, modified: 1, renamed: 0 }, first: ['-/dst/p/f', '+/dst/p/intruder', '+/dst/p/d/y'] });
    expect(describeDiff(d)).to.equal('5 paths changed (3 created, 1 removed, 1 modified): -/dst/p/f, +/dst/p/intruder, +/dst/p/d/y, ...');
  });
  it('a rename shows both names; a listing cut at the limit says "at least"', () => {
    const d = parseDiff('R\t/a/old\t/a/new\n', 1);
    expect(describeDiff(d)).to.equal('at least 1 path changed (1 renamed): R/a/old -> /a/new');
  });
  it('ignores what is not a change line (an error text, a blank line)', () => {
    expect(parseDiff('\nUnable to obtain diffs: mount failed\n', 10).count).to.equal(0);
  });
});

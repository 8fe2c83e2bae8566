import { expect } from 'chai';
import { describeDiff, parseDiff } from '../../src/zfs/parse.js';
import { OPENZFS_SETS, record, recordedNames } from '../fixtures/zfs/replay.js';

describe('zfs diff summary (a modified destination says what changed)', () => {
  for (const set of OPENZFS_SETS) {
    // `zfs diff -H fs@d1 fs` after: new created, b removed, a appended to, c renamed to d/c2
    const r = record(set, 'diff');
    const fs = r.argv.at(-1)!;
    const at = `/pools/${fs}`;

    it(`counts real ${set} output by kind: the renamed file, and each changed directory as modified`, () => {
      expect(fs).to.equal(`${recordedNames(set).poolA}/diff`);
      const d = parseDiff(r.stdout, 1000, 10);
      expect(d.count).to.equal(r.stdout.trim().split('\n').length);
      expect(d).to.deep.include({ count: 6, more: false, byType: { created: 1, removed: 1, modified: 3, renamed: 1 } });
      expect([...d.first].sort()).to.deep.equal([`+${at}/new`, `-${at}/b`, `M${at}/`, `M${at}/a`, `M${at}/d`, `R${at}/c -> ${at}/d/c2`].sort());
    });

    it(`describes real ${set} output with the first paths in zfs's order`, () => {
      const d = parseDiff(r.stdout, 1000);
      const first = r.stdout.split('\n').slice(0, 3).map((l) => {
        const [k, a, b] = l.split('\t');
        return k === 'R' ? `R${a} -> ${b}` : `${k}${a}`;
      });
      expect(d.first).to.deep.equal(first);
      expect(describeDiff(d)).to.equal(`6 paths changed (1 created, 1 removed, 3 modified, 1 renamed): ${first.join(', ')}, ...`);
      // cut at its limit (the engine reads `zfs diff | head -n N`): "at least"
      expect(describeDiff(parseDiff(r.stdout.split('\n').slice(0, 2).join('\n'), 2))).to.match(/^at least 2 paths changed \(/);
    });
  }

  it('a rename shows both names; a listing cut at the limit says "at least" (literal)', () => {
    const d = parseDiff('R\t/a/old\t/a/new\n', 1);
    expect(describeDiff(d)).to.equal('at least 1 path changed (1 renamed): R/a/old -> /a/new');
  });
  it('ignores what is not a change line (an error text, a blank line)', () => {
    expect(parseDiff('\nUnable to obtain diffs: mount failed\n', 10).count).to.equal(0);
  });
});

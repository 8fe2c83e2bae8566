import { expect } from 'chai';
import { excludedTops, exclusion, withoutExcluded } from '../../src/domain/exclude.js';

describe('exclude=: globs of children below a recursive pair\'s source (pure)', () => {
  const cases: [string[], string, boolean][] = [
    [['tmp'], 'tank/a/tmp', true],
    [['tmp'], 'tank/a/tmp/x', true],
    [['tmp'], 'tank/a/tmpx', false],
    [['tmp'], 'tank/a/b/tmp', false],
    [['tmp'], 'tank/a', false],
    [['vm/*/swap'], 'tank/a/vm/web/swap', true],
    [['vm/*/swap'], 'tank/a/vm/web', false],
    [['vm/*/swap'], 'tank/a/vm/web/x/swap', false],
    [['**/cache'], 'tank/a/cache', true],
    [['**/cache'], 'tank/a/x/y/cache', true],
    [['**/cache'], 'tank/a/x/cachey', false],
    [['x?'], 'tank/a/x1', true],
    [['x?'], 'tank/a/x12', false],
    [['a.b'], 'tank/a/aXb', false],
    [['a.b'], 'tank/a/a.b', true],
    [['vm/**'], 'tank/a/vm/1/2', true],
    [['vm/**'], 'tank/a/vm', false],
    [[], 'tank/a/tmp', false],
    [['tmp'], 'tank/ab/tmp', false],
  ];
  for (const [globs, name, want] of cases) {
    it(`${JSON.stringify(globs)} ${want ? 'excludes' : 'keeps'} ${name}`, () => {
      expect(exclusion(globs).excludes('tank/a', name)).to.equal(want);
    });
  }

  it('filters a tree and names only the top-most excluded datasets', () => {
    const ex = exclusion(['tmp', 'vm/*/swap']);
    const names = ['tank/a', 'tank/a/tmp', 'tank/a/tmp/x', 'tank/a/vm', 'tank/a/vm/1', 'tank/a/vm/1/swap', 'tank/a/keep'];
    const m = new Map(names.map((n) => [n, n.length]));
    expect([...withoutExcluded(m, 'tank/a', ex).keys()]).to.deep.equal(['tank/a', 'tank/a/vm', 'tank/a/vm/1', 'tank/a/keep']);
    expect(excludedTops(names, 'tank/a', ex)).to.deep.equal(['tank/a/tmp', 'tank/a/vm/1/swap']);
  });
});

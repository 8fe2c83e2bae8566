import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { quoteArgv, quoteWord } from '../../src/exec/quote.js';

describe('quoting for the remote shell', () => {
  const table: Array<[string, string]> = [
    ['zfs', 'zfs'],
    ['tank/a@zettabee.x.1UTC', 'tank/a@zettabee.x.1UTC'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", `'it'\\''s'`],
    ['$(reboot)', "'$(reboot)'"],
    ['a;b', "'a;b'"],
    ['*', "'*'"],
  ];
  for (const [w, q] of table) it(`quotes ${JSON.stringify(w)}`, () => expect(quoteWord(w)).to.equal(q));

  it('survives a real POSIX shell word for word', () => {
    const argv = ['printf', '%s\\n', "it's", '$(echo no)', '`x`', 'a b', '', '\\', '"q"', 'x\ny', '!', '~', '-n'];
    const out = execFileSync('sh', ['-c', quoteArgv(argv)], { encoding: 'utf8' });
    expect(out).to.equal(argv.slice(2).map((w) => `${w}\n`).join(''));
  });
  it('refuses an empty command', () => expect(() => quoteArgv([])).to.throw());
});

import { expect } from 'chai';
import { printable } from '../../src/domain/printable.js';

describe('printable: control characters from the input are shown escaped', () => {
  const table: Array<[string, string]> = [
    ['plain text', 'plain text'],
    ['\x1b[2J\x1b[31mred', '\\x1b[2J\\x1b[31mred'],
    ['a\rb', 'a\\x0db'],
    ['bell\x07 nul\0 del\x7f', 'bell\\x07 nul\\x00 del\\x7f'],
    ['c1 \x9b31m', 'c1 \\x9b31m'],
    ['bidi \u202egnp.exe', 'bidi \\u202egnp.exe'],
    ['line\u2028sep', 'line\\u2028sep'],
    ['tab\tand\nnewline kept', 'tab\tand\nnewline kept'],
    ['ümlaut ✓ 日本', 'ümlaut ✓ 日本'],
  ];
  for (const [input, shown] of table) it(JSON.stringify(input), () => expect(printable(input)).to.equal(shown));
});

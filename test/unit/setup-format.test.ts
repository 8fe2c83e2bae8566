// How setup shows a check: a hand-over that only the admin can confirm is
// CONFIRM (never "ok", never a failure), and what to do is always shown.
import { expect } from 'chai';
import { checkStatus, type CheckResult } from '../../src/app/setup.js';
import { formatCheck } from '../../src/commands/setup.js';

const r = (over: Partial<CheckResult>): CheckResult => ({ subject: 'nagios', check: 'a test result', ok: true, ...over });

describe('setup: check lines', () => {
  const table: Array<[string, Partial<CheckResult>, string]> = [
    ['done', {}, 'ok'],
    ['done, unconfirmable', { unconfirmed: true }, 'CONFIRM'],
    ['failed', { ok: false }, 'FAILED'],
    ['skipped', { ok: false, skipped: true }, 'SKIPPED'],
  ];
  for (const [name, over, word] of table) it(`${name}: ${word}`, () => expect(checkStatus(r(over))).to.equal(word));

  it('todo lines are shown without -v, indented under the check; more lines only with -v', () => {
    const c = r({ unconfirmed: true, detail: 'handed over', todo: ['look here:', '  host;service'], more: ['detail'] });
    expect(formatCheck(c, checkStatus(c))).to.deep.equal(['CONFIRM nagios: a test result (handed over)', '        look here:', '          host;service']);
    expect(formatCheck(c, checkStatus(c), true).at(-1)).to.equal('        detail');
  });
});

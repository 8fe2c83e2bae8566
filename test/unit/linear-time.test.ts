// Every parser of the configuration runs in time linear in its input: long
// hostile values that made a backtracking regular expression take minutes
// (or hours) are read at once. No timing here: each result is asserted, and
// a parser that hangs is caught by mocha's timeout once it returns.
import { expect } from 'chai';
import { parseDuration } from '../../src/config/duration.js';
import { formatProblem, parsePairs } from '../../src/config/pairs.js';
import { parseSettings } from '../../src/config/settings.js';

const F = '/etc/zettabee/zettabee.cfg';
const I = '/etc/zettabee/zettabee.ini';
// 28 digits and an 'x' took 8 s with the old duration pattern, each digit more about twice as long
const DIGITS = '1'.repeat(20_000);
const LONG = 'a'.repeat(20_000);

describe('parsers run in linear time on long hostile input', () => {
  it('a duration of 20,000 digits and a stray letter is refused', () => {
    expect(parseDuration(`${DIGITS}x`)).to.have.property('error').that.match(/is not a duration/);
    expect(parseDuration(`${DIGITS}h${DIGITS}`)).to.have.property('error').that.match(/mixes a bare number/);
    expect(parseDuration(`${'1h'.repeat(10_000)}x`)).to.have.property('error').that.match(/is not a duration/);
    expect(parseDuration(DIGITS)).to.have.property('error').that.match(/too large/);
  });

  const pairValues: Array<[string, RegExp]> = [
    [`wlag=${DIGITS}x`, /wlag: '1+x' is not a duration/],
    [`stall=${DIGITS}x`, /stall: '1+x' is not a duration/],
    [`clag=${'1m'.repeat(10_000)}!`, /clag: .* is not a duration/],
    [`buffer=${DIGITS}.${DIGITS}x`, /buffer: '.*' is not a buffer size/],
    [`bwlimit=${DIGITS}kx`, /bwlimit: '.*' is not a rate/],
    [`keep=${DIGITS}x`, /keep: '1+x' is not a snapshot count/],
    [`sshuser=${LONG}!`, /is not a user name/],
    [`accept=${'a.'.repeat(10_000)}-`, /accept must be a host name/],
    [`connect=${'a-'.repeat(10_000)}`, /connect must be a host name/],
  ];
  for (const [option, re] of pairValues) {
    it(`pairs file: ${option.slice(0, 12)}... (${option.length} characters)`, () => {
      const { pairs, problems } = parsePairs(`src:tank/a backup/a ${option}\n`, F);
      expect(pairs).to.deep.equal([]);
      expect(problems.map(formatProblem).join('\n')).to.match(re);
    });
  }

  it('pairs file: a 20,000-character host name and dataset name are refused', () => {
    const { problems } = parsePairs(`${'a.'.repeat(10_000)}-:tank/a backup/${LONG}!\n`, F);
    expect(problems.map(formatProblem).join('\n')).to.match(/source host: .*longer than 253/);
  });

  for (const key of ['wlag', 'stall', 'crun']) {
    it(`settings file: [defaults] ${key} = 20,000 digits and an x is refused`, () => {
      const { problems } = parseSettings(`[defaults]\n${key} = ${DIGITS}x\n`, I);
      expect(problems.map(formatProblem).join('\n')).to.match(new RegExp(`:2: \\[defaults\\]: ${key}: '1+x' is not a duration`));
    });
  }

  it('settings file: long ports, URLs, templates and quoted values are refused', () => {
    const { problems } = parseSettings(
      `[nagios]\nport = ${DIGITS}x\nservice = zb ${'{'.repeat(20_000)}\nhost = "${LONG}\n[icinga]\nurl = https://${'a'.repeat(20_000)}:${DIGITS}x\n[paths]\nstate = /${'a '.repeat(10_000)}\x07\n`,
      I,
    );
    const text = problems.map(formatProblem).join('\n');
    expect(text).to.match(/:2: \[nagios\] port: '1+x' is not a TCP port/);
    expect(text).to.match(/:3: \[nagios\] service: '\{' without a closing '\}'/);
    expect(text).to.match(/:4: \[nagios\] host: the quote in .* has no closing/);
    expect(text).to.match(/:6: \[icinga\] url: .*longer than 253 characters/);
    expect(text).to.match(/:8: \[paths\] state: the value contains a control character \(code 7\)/);
  });

  it('pairs file: a long options field of blanks, commas and quotes is refused', () => {
    for (const [field, re] of [
      [`${'wlag=1h,'.repeat(5000)}wlag=1h`, /wlag is given twice/],
      [`sshkey="${' '.repeat(20_000)}`, /has no closing '"'/],
      [`keep=1${' ,'.repeat(10_000)}`, /an empty option/],
      [`${'a'.repeat(20_000)}=1`, /unknown key/],
      [`wlag=${'1hclag='.repeat(3000)}`, /a comma is probably missing/],
    ] as const) {
      expect(parsePairs(`tank/a backup/a ${field}\n`, F).problems.map(formatProblem).join('\n')).to.match(re);
    }
  });
});

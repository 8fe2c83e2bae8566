import { expect } from 'chai';
import { formatDuration, formatLag, parseDuration } from '../../src/config/duration.js';

describe('durations', () => {
  const table: Array<[string, number]> = [
    ['0', 0], ['90', 90], ['90s', 90], ['30m', 1800], ['2h', 7200], ['1d', 86400], ['1w', 604800], ['1h30m', 5400], ['2H', 7200],
  ];
  for (const [t, n] of table) it(`${t} = ${n}s`, () => expect(parseDuration(t)).to.equal(n));
  for (const t of ['', 'abc', '1.5h', '-5', '5x', '1h30', 'h', '1 h'])
    it(`rejects '${t}' with a hint`, () => expect(parseDuration(t)).to.have.property('error').that.match(/duration|mixes/));
  it('formats lag as h:mm:ss', () => {
    expect(formatLag(0)).to.equal('0:00:00');
    expect(formatLag(3725)).to.equal('1:02:05');
    expect(formatLag(90061)).to.equal('1d 1:01:01');
  });
  it('formats durations back', () => {
    expect(formatDuration(5400)).to.equal('1h30m');
    expect(formatDuration(0)).to.equal('0s');
  });
});

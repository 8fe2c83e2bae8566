// Sizes and rates as the log, the terminal and the monitor show them: one
// formatter for all, about three significant digits whatever the magnitude.
import { expect } from 'chai';
import { formatBytes, formatRate, formatTransfer } from '../../src/domain/units.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('units: formatBytes', () => {
  const table: Array<[number, string]> = [
    [0, '0 B'],
    [1, '1 B'],
    [624, '624 B'],
    [1023, '1023 B'],
    // fractional byte counts (a rate, an average): never the raw float
    [0.25, '0.25 B'],
    [3.14159, '3.14 B'],
    [38.6377, '38.6 B'],
    [386.3777089783282, '386 B'],
    [1023.4, '1023 B'],
    // rounding up to 1024 is the next unit, never "1024 B"
    [1023.6, '1.00 KiB'],
    [1024, '1.00 KiB'],
    [1536, '1.50 KiB'],
    [10 * KiB, '10.0 KiB'],
    [9.996 * KiB, '10.0 KiB'],
    [99.96 * KiB, '100 KiB'],
    [1000 * KiB, '1000 KiB'],
    [1023.9 * KiB, '1.00 MiB'],
    [MiB, '1.00 MiB'],
    [12.345 * MiB, '12.3 MiB'],
    [345.6 * MiB, '346 MiB'],
    [GiB, '1.00 GiB'],
    [1.5 * GiB, '1.50 GiB'],
    [2 * 1024 * GiB, '2.00 TiB'],
    [3 * 1024 * 1024 * GiB, '3.00 PiB'],
    // beyond the last unit it stays in PiB
    [2048 * 1024 * 1024 * GiB, '2048 PiB'],
  ];
  for (const [n, text] of table) it(`${n} -> ${text}`, () => expect(formatBytes(n)).to.equal(text));

  it('what is not a size is "-", not NaN or Infinity', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, -1]) expect(formatBytes(n), String(n)).to.equal('-');
  });
});

describe('units: formatRate', () => {
  const table: Array<[number, number, string]> = [
    [0, 1, '0 B/s'],
    [0, 3.2, '0 B/s'],
    [1, 4, '0.25 B/s'],
    [624, 1.615, '386 B/s'],
    [624, 1.6, '390 B/s'],
    [5000, 2, '2.44 KiB/s'],
    [100 * MiB, 8, '12.5 MiB/s'],
    [100 * GiB, 50, '2.00 GiB/s'],
  ];
  for (const [b, s, text] of table) it(`${b} B in ${s} s -> ${text}`, () => expect(formatRate(b, s)).to.equal(text));

  it('no time, or no sensible time: "-"', () => {
    for (const s of [0, -1, Number.NaN]) expect(formatRate(100, s), String(s)).to.equal('-');
  });
});

describe('units: formatTransfer (the END line, runstatus, the log)', () => {
  const table: Array<[number, number, string]> = [
    [624, 1.615, '624 B in 1.6 s (386 B/s)'],
    [0, 0.2, '0 B in 0.2 s (0 B/s)'],
    [0, 0, '0 B in 0.0 s (-)'],
    [96 * MiB, 4.04, '96.0 MiB in 4.0 s (23.8 MiB/s)'],
  ];
  for (const [b, s, text] of table) it(`${b} B in ${s} s -> ${text}`, () => expect(formatTransfer(b, s)).to.equal(text));
});

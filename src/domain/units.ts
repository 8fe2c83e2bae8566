// Sizes and rates as the log, the terminal and the monitor show them. Every
// size or rate zettabee prints goes through formatBytes, so a small transfer's
// rate reads "386 B/s", never the raw quotient.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** about three significant digits: 3.14, 38.6, 386 (and 1000-1023 whole) */
function threeDigits(v: number): string {
  for (const decimals of [2, 1]) {
    const s = v.toFixed(decimals);
    // judged after rounding: 9.996 is "10.0", not "10.00"
    if (Number(s) < 10 ** (3 - decimals)) return s;
  }
  return v.toFixed(0);
}

/**
 * 1536 -> "1.50 KiB", 386.37 -> "386 B"; a whole number of bytes below 1 KiB
 * exactly ("624 B"); "-" for what is not a size (NaN, Infinity, negative).
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  if (Number.isInteger(bytes) && bytes < 1024) return `${bytes} B`;
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  let text = threeDigits(v);
  // 1023.6 rounds to "1024": that is the next unit
  if (Number(text) >= 1024 && i < UNITS.length - 1) {
    text = threeDigits(v / 1024);
    i++;
  }
  return `${text} ${UNITS[i]}`;
}

/** bytes over seconds as "12.3 MiB/s"; "-" when the time is too short to tell */
export function formatRate(bytes: number, seconds: number): string {
  if (!(seconds > 0)) return '-';
  return `${formatBytes(bytes / seconds)}/s`;
}

/** "624 B in 1.6 s (386 B/s)": a finished transfer, as the END line and runstatus say it */
export function formatTransfer(bytes: number, seconds: number): string {
  return `${formatBytes(bytes)} in ${seconds.toFixed(1)} s (${formatRate(bytes, seconds)})`;
}

// Sizes and rates as the log and the terminal show them.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB"; exact bytes below 1 KiB */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

/** bytes over seconds as "12.3 MiB/s"; "-" when the time is too short to tell */
export function formatRate(bytes: number, seconds: number): string {
  if (!(seconds > 0)) return '-';
  return `${formatBytes(bytes / seconds)}/s`;
}

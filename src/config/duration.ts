// Durations in the pairs and settings files: plain seconds or a number with
// one unit (s, m, h, d, w). Combined forms such as 1h30m are accepted too,
// because operators write them.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * The parts of a duration, each a run of digits and an optional unit: one
 * pass over the text (no regular expression, so no backtracking: a long
 * hostile value costs its length, never exponential time). Null when the
 * text is not such a sequence.
 */
function durationParts(t: string): Array<[digits: string, unit: string]> | null {
  const parts: Array<[string, string]> = [];
  let i = 0;
  while (i < t.length) {
    const start = i;
    while (i < t.length && t[i]! >= '0' && t[i]! <= '9') i++;
    if (i === start) return null;
    const digits = t.slice(start, i);
    const unit = i < t.length && Object.hasOwn(UNIT_SECONDS, t[i]!) ? t[i++]! : '';
    parts.push([digits, unit]);
    if (unit === '' && i < t.length) return null;
  }
  return parts.length ? parts : null;
}

/** seconds, or an error message saying what a duration looks like */
export function parseDuration(text: string): number | { error: string } {
  const t = text.trim().toLowerCase();
  const parts = durationParts(t);
  if (!parts) {
    return { error: `'${text}' is not a duration (use seconds or a number with a unit: 90s, 30m, 2h, 1d, 1w)` };
  }
  if (parts.length > 1 && parts.some((p) => p[1] === '')) {
    return { error: `'${text}' mixes a bare number with units (write 1h30m or 5400)` };
  }
  let total = 0;
  for (const [n, unit] of parts) total += Number(n) * UNIT_SECONDS[unit || 's']!;
  if (!Number.isSafeInteger(total)) return { error: `'${text}' is too large` };
  return total;
}

/** 3725 -> "1:02:05"; more than a day -> "2d 1:02:05" (the status column) */
export function formatLag(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return days > 0 ? `${days}d ${hms}` : hms;
}

/** 5400 -> "1h30m": how a duration is shown back to a user */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const u of ['w', 'd', 'h', 'm', 's']) {
    const size = UNIT_SECONDS[u]!;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${u}`;
      rest %= size;
    }
  }
  return out;
}

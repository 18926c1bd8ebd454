/**
 * Wall-clock time in IANA timezones, with Intl only. Low layer: config, retention and the
 * scheduler use it; it imports nothing of strongbox.
 */

/** Wall-clock time in a timezone, encoded as if it were UTC milliseconds (for arithmetic). */
export type Wall = number;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isValidTimezone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

export function wallTime(instant: number, tz: string): Wall {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(instant)))
    if (part.type !== "literal") p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
}

const DAY = 86400_000;

/**
 * The first instant after `after` whose wall time in `tz` is `w`; when `w` falls in a gap (spring
 * forward), the first instant after the gap. Null when `w`'s only instants are not after `after`.
 * `unit` is the grid the caller steps on (1 s or 1 min): the end of a gap is found to within it.
 */
export function instantOfWall(w: Wall, tz: string, after: number, unit: number): number | null {
  // Every offset in force within a day of w: at most a DST change or two.
  const offsets = new Set([w - DAY, w, w + DAY].map((t) => wallTime(t, tz) - t));
  const exact = [...offsets].map((o) => w - o).filter((t) => t > after && wallTime(t, tz) === w);
  if (exact.length) return Math.min(...exact);
  if ([...offsets].some((o) => wallTime(w - o, tz) === w)) return null; // exists, but not after `after`
  // In a gap: the instants w - offset straddle it; find its end (the first wall time past w).
  let lo = Math.min(...[...offsets].map((o) => w - o));
  let hi = Math.max(...[...offsets].map((o) => w - o));
  if (wallTime(lo, tz) > w || wallTime(hi, tz) <= w) return null;
  while (hi - lo > unit) {
    const mid = lo + Math.max(unit, Math.floor((hi - lo) / 2 / unit) * unit);
    if (wallTime(mid, tz) > w) hi = mid;
    else lo = mid;
  }
  return hi > after ? hi : null;
}

import cron from "node-cron";

/** Wall-clock time in a timezone, encoded as if it were UTC milliseconds (for arithmetic). */
type Wall = number;

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
  for (const part of formatter(tz).formatToParts(new Date(instant))) if (part.type !== "literal") p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
}

/** Problems with a cron expression (5 fields, or 6 with seconds first); empty when valid. */
export function cronErrors(expr: string): string[] {
  const n = expr.trim().split(/\s+/).length;
  if (n !== 5 && n !== 6) return [`cron must have 5 fields (or 6 with seconds first), not ${n}`];
  const v = cron.validateDetailed(expr);
  return v.valid ? [] : v.errors.map((e) => e.message);
}

/**
 * A cron schedule in a timezone. Across DST changes it behaves as an operator expects: a wall
 * time that occurs twice (autumn) runs once; a wall time skipped (spring) runs at the first
 * instant after the gap.
 */
export class CronSchedule {
  private readonly seconds: boolean;
  private readonly f: ReturnType<typeof cron.parse>;
  private readonly domRestricted: boolean;
  private readonly dowRestricted: boolean;

  constructor(
    readonly expr: string,
    readonly timezone = "UTC",
  ) {
    const errors = cronErrors(expr);
    if (errors.length) throw new Error(errors.join("; "));
    const fields = expr.trim().split(/\s+/);
    this.seconds = fields.length === 6;
    const [dom, , dow] = fields.slice(this.seconds ? 3 : 2);
    this.domRestricted = !["*", "?"].includes(dom);
    this.dowRestricted = !["*", "?"].includes(dow);
    this.f = cron.parse(expr);
  }

  matchesWall(w: Wall): boolean {
    const d = new Date(w);
    const f = this.f;
    if (!f.second.includes(d.getUTCSeconds()) && this.seconds) return false;
    if (!this.seconds && d.getUTCSeconds() !== 0) return false;
    if (!f.minute.includes(d.getUTCMinutes()) || !f.hour.includes(d.getUTCHours()) || !f.month.includes(d.getUTCMonth() + 1)) return false;
    const domOk = f.dayOfMonth.includes(d.getUTCDate());
    const dowOk = f.dayOfWeek.includes(d.getUTCDay()) || (d.getUTCDay() === 0 && f.dayOfWeek.includes(7));
    // Classic cron: when both day fields are restricted, either may match.
    if (this.domRestricted && this.dowRestricted) return domOk || dowOk;
    return domOk && dowOk;
  }

  /** The first instant strictly after `after` when the job is due, or null within a year. */
  next(after: Date): Date | null {
    const unit = this.seconds ? 1000 : 60_000;
    const horizon = this.seconds ? 8 * 86400_000 : 366 * 86400_000;
    let t = Math.floor(after.getTime() / unit) * unit;
    let prevWall = wallTime(t, this.timezone);
    let maxWall = prevWall;
    for (const end = t + horizon; t < end; ) {
      t += unit;
      const w = wallTime(t, this.timezone);
      if (w > maxWall) {
        if (this.matchesWall(w)) return new Date(t);
        // Spring forward: wall times inside the gap never happen; run their jobs now.
        for (let g = Math.max(prevWall, maxWall) + unit; g < w && g - prevWall <= 3 * 3600_000; g += unit) {
          if (this.matchesWall(g)) return new Date(t);
        }
        maxWall = w;
      }
      prevWall = w;
    }
    return null;
  }
}

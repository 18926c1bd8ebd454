import { Cron } from "croner";
import { instantOfWall, wallTime, type Wall } from "./zone.js";

/**
 * Cron schedules: parsed and matched by croner (maintained, no dependencies), which jumps field by
 * field instead of stepping minute by minute. croner works on wall-clock times here (as UTC); how
 * those map to instants across daylight-saving changes is ours (CronSchedule.next), as classic cron
 * does it. Low layer: config and the scheduler use it; it imports nothing of strongbox above time/.
 */

const FIELDS = [
  { name: "second", range: "0-59" },
  { name: "minute", range: "0-59" },
  { name: "hour", range: "0-23" },
  { name: "day of month", range: "1-31" },
  { name: "month", range: "1-12 or jan-dec" },
  { name: "day of week", range: "0-7 or sun-sat" },
];

/** Full day and month names (which node-cron took, and so old schedules may hold) to croner's three letters. */
const FULL_NAMES =
  /\b(january|february|march|april|june|july|august|september|october|november|december|sunday|monday|tuesday|wednesday|thursday|friday|saturday)\b/gi;

function fieldsOf(expr: string): string[] {
  return expr
    .trim()
    .replace(FULL_NAMES, (n) => n.slice(0, 3))
    .split(/\s+/);
}

/** croner on wall-clock times: UTC, 5 or 6 fields, classic day-of-month OR day-of-week. */
function compile(fields: string[]): Cron {
  return new Cron(fields.join(" "), {
    utcOffset: 0,
    mode: fields.length === 6 ? "6-part" : "5-part",
    domAndDow: false,
  });
}

/** Syntax problems, each naming its field; empty when croner can parse the expression. */
function syntaxErrors(expr: string): string[] {
  const fields = fieldsOf(expr);
  if (fields.length !== 5 && fields.length !== 6)
    return [`cron must have 5 fields (or 6 with seconds first), not ${fields.length}`];
  const names = FIELDS.slice(6 - fields.length);
  // Each field alone (the others '*'), so that every bad field is named, not only the first.
  const errors = fields.flatMap((v, i) => {
    try {
      compile(fields.map((f, j) => (j === i ? v : "*")));
      return [];
    } catch {
      return [`${v} is not a valid ${names[i].name} (${names[i].range})`];
    }
  });
  if (errors.length) return errors;
  try {
    compile(fields);
    return [];
  } catch (err) {
    return [String((err as Error).message).replace(/^CronPattern: /, "")];
  }
}

/** Problems with a cron expression (5 fields, or 6 with seconds first); empty when valid. A schedule that never runs is a problem. */
export function cronErrors(expr: string): string[] {
  const errors = syntaxErrors(expr);
  if (errors.length) return errors;
  if (new CronSchedule(expr).next(new Date(Date.UTC(2000, 0, 1))) === null)
    return ["never runs: no date matches its day of month, month and day of week"];
  return [];
}

/**
 * A cron schedule in a timezone. Across DST changes it behaves as an operator expects: a wall
 * time that occurs twice (autumn) runs once; a wall time skipped (spring) runs at the first
 * instant after the gap.
 */
export class CronSchedule {
  private readonly cron: Cron;
  private readonly unit: number;

  constructor(
    readonly expr: string,
    readonly timezone = "UTC",
  ) {
    const errors = syntaxErrors(expr);
    if (errors.length) throw new Error(errors.join("; "));
    const fields = fieldsOf(expr);
    this.unit = fields.length === 6 ? 1000 : 60_000;
    this.cron = compile(fields);
  }

  /** The first matching wall time after `w`, or null when none ever comes (croner looks up to the year 3000). */
  private nextWall(w: Wall): Wall | null {
    return this.cron.nextRun(new Date(w))?.getTime() ?? null;
  }

  /**
   * The first instant strictly after `after` when the job is due, or null if the schedule never
   * matches. Wall times are taken in order, each once: the next matching wall time after the
   * wall time at `after` runs at its first instant after `after` (so a repeated hour runs once),
   * or, if a DST gap swallowed it, at the end of the gap.
   */
  next(after: Date): Date | null {
    const t0 = Math.floor(after.getTime() / this.unit) * this.unit;
    let w: Wall | null = wallTime(t0, this.timezone);
    // More than one round only when a matching wall time lies entirely before `after` (within a repeated hour).
    for (let round = 0; round < 4; round++) {
      w = this.nextWall(w);
      if (w === null) return null;
      const t = instantOfWall(w, this.timezone, after.getTime(), this.unit);
      if (t !== null) return new Date(t);
    }
    return null;
  }
}

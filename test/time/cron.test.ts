import { describe, expect, it } from "vitest";
import { CronSchedule, cronErrors } from "../../src/time/cron.js";

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Runs f and returns its result with the elapsed milliseconds (printed, so the figure is on record). */
function timed<T>(what: string, f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  const ms = performance.now() - t0;
  console.log(`cron ${what}: ${ms.toFixed(2)} ms`);
  return { value, ms };
}

// A sanity bound, not a benchmark: the old minute-stepping next() took ~3-8 s for these; the
// field-jumping one takes a few ms. 1 s leaves room for a machine with load 25.
const SANITY_MS = 1000;

describe("cron next() jumps to far-away runs instead of stepping minute by minute", () => {
  it("a yearly schedule, in UTC and in a timezone", () => {
    const utc = timed("yearly UTC", () => new CronSchedule("0 0 1 1 *").next(new Date("2026-01-02T00:00:00Z")));
    expect(iso(utc.value)).toBe("2027-01-01T00:00:00.000Z");
    expect(utc.ms).toBeLessThan(SANITY_MS);
    // the first call in a process also pays for loading and compiling; the figure that matters is this one
    const again = timed("yearly UTC (warm)", () =>
      new CronSchedule("0 0 1 1 *").next(new Date("2026-01-02T00:00:00Z")),
    );
    expect(iso(again.value)).toBe("2027-01-01T00:00:00.000Z");
    expect(again.ms).toBeLessThan(SANITY_MS);
    // midnight of 1 January in Berlin (CET, UTC+1) is 23:00 UTC the day before
    const berlin = timed("yearly Europe/Berlin", () =>
      new CronSchedule("0 0 1 1 *", "Europe/Berlin").next(new Date("2026-01-02T00:00:00Z")),
    );
    expect(iso(berlin.value)).toBe("2026-12-31T23:00:00.000Z");
    expect(berlin.ms).toBeLessThan(SANITY_MS);
  });

  it("29 February: the next leap year, not 'never'", () => {
    const r = timed("0 0 29 2 *", () => new CronSchedule("0 0 29 2 *").next(new Date("2026-03-01T00:00:00Z")));
    expect(iso(r.value)).toBe("2028-02-29T00:00:00.000Z");
    expect(r.ms).toBeLessThan(SANITY_MS);
    // 2100 is not a leap year: from 2097 the next 29 February is in 2104
    expect(iso(new CronSchedule("0 0 29 2 *").next(new Date("2097-01-01T00:00:00Z")))).toBe("2104-02-29T00:00:00.000Z");
  });

  it("a yearly schedule with seconds (6 fields)", () => {
    const r = timed("yearly with seconds", () =>
      new CronSchedule("30 15 10 1 1 *", "Europe/Berlin").next(new Date("2026-01-02T00:00:00Z")),
    );
    expect(iso(r.value)).toBe("2027-01-01T09:15:30.000Z");
    expect(r.ms).toBeLessThan(SANITY_MS);
  });

  it("an impossible schedule is answered 'never', quickly, and config validation rejects it", () => {
    const r = timed("0 0 31 2 * (never)", () => new CronSchedule("0 0 31 2 *").next(new Date("2026-01-02T00:00:00Z")));
    expect(r.value).toBeNull();
    expect(r.ms).toBeLessThan(SANITY_MS);
    expect(cronErrors("0 0 31 2 *")).toEqual(["never runs: no date matches its day of month, month and day of week"]);
    expect(cronErrors("0 0 31 4,6,9,11 *")).toHaveLength(1);
    // day of month OR day of week: the Mondays make it possible
    expect(cronErrors("0 0 31 2 1")).toEqual([]);
  });
});

describe("cron expressions: what is accepted, and errors that name the field", () => {
  it.each([
    "*/5 * * * *",
    "0 5 * * 7",
    "0 5 * * sun",
    "0 5 * jan-mar mon-fri",
    "0 0 * * Monday",
    "0 0 1 January *",
    "0 5 ? * *",
    "1-10/3 * * * *",
    "0 0 1,15 * *",
    "*/10 * * * * *",
  ])("%s is valid", (expr) => {
    expect(cronErrors(expr)).toEqual([]);
    expect(() => new CronSchedule(expr)).not.toThrow();
  });

  it.each([
    ["61 * * * *", ["61 is not a valid minute (0-59)"]],
    ["0 24 * * *", ["24 is not a valid hour (0-23)"]],
    ["0 0 0 * *", ["0 is not a valid day of month (1-31)"]],
    ["0 0 * 13 *", ["13 is not a valid month (1-12 or jan-dec)"]],
    ["0 0 * * 8", ["8 is not a valid day of week (0-7 or sun-sat)"]],
    ["60 61 * * * *", ["60 is not a valid second (0-59)", "61 is not a valid minute (0-59)"]],
    ["a * * * *", ["a is not a valid minute (0-59)"]],
    ["* * *", ["cron must have 5 fields (or 6 with seconds first), not 3"]],
  ])("%s: %j", (expr, errors) => {
    expect(cronErrors(expr)).toEqual(errors);
    expect(() => new CronSchedule(expr)).toThrow(errors[0]);
  });
});

describe("daylight saving with a half-hour shift (Lord Howe Island, UTC+10:30 / +11)", () => {
  it("spring forward 02:00 -> 02:30: 02:15 runs at the end of the gap, once", () => {
    const s = new CronSchedule("15 2 * * *", "Australia/Lord_Howe");
    const first = s.next(new Date("2026-10-03T00:00:00Z"));
    expect(iso(first)).toBe("2026-10-03T15:30:00.000Z"); // 02:30 LHDT on 4 October
    expect(iso(s.next(first!))).toBe("2026-10-04T15:15:00.000Z");
  });

  it("fall back 02:00 -> 01:30: 01:45 happens twice and runs once", () => {
    const s = new CronSchedule("45 1 * * *", "Australia/Lord_Howe");
    const first = s.next(new Date("2026-04-04T00:00:00Z"));
    expect(iso(first)).toBe("2026-04-04T14:45:00.000Z"); // 01:45 LHDT on 5 April; 01:45 LHST (15:15Z) is skipped
    expect(iso(s.next(first!))).toBe("2026-04-05T15:15:00.000Z");
  });
});

import { describe, expect, it } from "vitest";
import { applyRetention, hasRules, type BackupInfo, type RetentionRules } from "../../src/retention/policy.js";

let seq = 0;
const idAt = (iso: string, n = 0) =>
  `${iso.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${n.toString(16).padStart(6, "0")}`;
function backup(iso: string, o: Partial<BackupInfo> = {}): BackupInfo {
  const time = new Date(iso);
  return { id: idAt(time.toISOString(), seq++), time, complete: true, sources: ["db", "files"], ...o };
}
/** One backup a day at `hour`:00 UTC, for `days` days ending on `last`. */
function daily(last: string, days: number, hour = 2, o: Partial<BackupInfo> = {}): BackupInfo[] {
  const end = new Date(`${last}T${String(hour).padStart(2, "0")}:00:00Z`).getTime();
  return Array.from({ length: days }, (_, i) => backup(new Date(end - i * 86400_000).toISOString(), o));
}
const kept = (bs: BackupInfo[], rules: RetentionRules, now = "2026-11-22T12:00:00Z", timezone?: string) =>
  applyRetention(bs, rules, { now: new Date(now), timezone })
    .filter((d) => d.keep)
    .map((d) => d.id.slice(0, 8))
    .sort();
const days = (...ds: string[]) => ds.map((d) => d.replace(/-/g, "")).sort();

interface Case {
  name: string;
  backups: BackupInfo[];
  rules: RetentionRules;
  now?: string;
  tz?: string;
  keep: string[] | number;
}

const year = daily("2026-11-22", 365);
const CASES: Case[] = [
  {
    name: "keep_last 3 of 10",
    backups: daily("2026-11-22", 10),
    rules: { keep_last: 3 },
    keep: days("2026-11-20", "2026-11-21", "2026-11-22"),
  },
  {
    name: "keep_last larger than the number of backups keeps all",
    backups: daily("2026-11-22", 4),
    rules: { keep_last: 10 },
    keep: 4,
  },
  {
    name: "keep_daily 7 of 30",
    backups: daily("2026-11-22", 30),
    rules: { keep_daily: 7 },
    keep: days("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"),
  },
  {
    name: "keep_daily keeps the newest backup of each day",
    backups: [...daily("2026-11-22", 3, 2), ...daily("2026-11-22", 3, 14), ...daily("2026-11-22", 3, 20)],
    rules: { keep_daily: 2 },
    keep: 2,
  },
  {
    name: "keep_weekly 4 over 60 days (ISO weeks, newest each)",
    backups: daily("2026-11-22", 60),
    rules: { keep_weekly: 4 },
    keep: days("2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22"),
  },
  {
    name: "keep_monthly 12 over a year: the newest of each month",
    backups: year,
    rules: { keep_monthly: 12 },
    keep: days(
      "2025-12-31",
      "2026-01-31",
      "2026-02-28",
      "2026-03-31",
      "2026-04-30",
      "2026-05-31",
      "2026-06-30",
      "2026-07-31",
      "2026-08-31",
      "2026-09-30",
      "2026-10-31",
      "2026-11-22",
    ),
  },
  {
    name: "keep_yearly 2 over three years",
    backups: daily("2026-11-22", 3 * 365),
    rules: { keep_yearly: 2 },
    keep: days("2025-12-31", "2026-11-22"),
  },
  {
    name: "keep_hourly 24 with a backup every 30 minutes",
    backups: Array.from({ length: 100 }, (_, i) =>
      backup(new Date(Date.parse("2026-11-22T11:30:00Z") - i * 1800_000).toISOString()),
    ),
    rules: { keep_hourly: 24 },
    keep: 24,
  },
  {
    name: "union: keep_last 2 and keep_daily 3 overlap",
    backups: daily("2026-11-22", 10),
    rules: { keep_last: 2, keep_daily: 3 },
    keep: 3,
  },
  {
    name: "the README policy on a year of daily backups keeps 21",
    backups: year,
    rules: { keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12 },
    keep: 21,
  },
  {
    name: "the newest complete backup is kept whatever the rules",
    backups: daily("2026-11-22", 5),
    rules: { keep_yearly: 0, keep_weekly: 0, keep_last: 0, keep_monthly: 0, keep_hourly: 0, keep_daily: 0 },
    keep: days("2026-11-22"),
  },
  {
    name: "the newest backup whose last drill passed is kept",
    backups: [...daily("2026-11-22", 5), backup("2026-11-01T02:00:00Z", { drillPassed: true })],
    rules: { keep_last: 2 },
    keep: days("2026-11-01", "2026-11-21", "2026-11-22"),
  },
  {
    name: "an older drill-passed backup is not kept when a newer one passed",
    backups: [
      backup("2026-11-22T02:00:00Z", { drillPassed: true }),
      backup("2026-11-21T02:00:00Z"),
      backup("2026-11-20T02:00:00Z", { drillPassed: true }),
    ],
    rules: { keep_last: 1 },
    keep: days("2026-11-22"),
  },
  {
    name: "an incomplete backup younger than 24 h is kept",
    backups: [...daily("2026-11-21", 3), backup("2026-11-22T02:00:00Z", { complete: false })],
    rules: { keep_last: 1 },
    keep: days("2026-11-21", "2026-11-22"),
  },
  {
    name: "an incomplete backup older than 24 h goes",
    backups: [...daily("2026-11-22", 2), backup("2026-11-20T02:00:00Z", { complete: false })],
    rules: { keep_last: 2 },
    keep: days("2026-11-21", "2026-11-22"),
  },
  {
    name: "an old incomplete backup still being written to is kept",
    backups: [
      backup("2026-11-22T02:00:00Z"),
      backup("2026-11-19T02:00:00Z", { complete: false, lastActivity: new Date("2026-11-22T11:00:00Z") }),
    ],
    rules: { keep_last: 1 },
    keep: days("2026-11-19", "2026-11-22"),
  },
  {
    name: "backups failed for a month: the last good week survives, old incompletes go",
    backups: [...daily("2026-10-22", 60), ...daily("2026-11-21", 30, 2, { complete: false })],
    rules: { keep_daily: 7 },
    keep: days("2026-10-16", "2026-10-17", "2026-10-18", "2026-10-19", "2026-10-20", "2026-10-21", "2026-10-22"),
  },
  {
    name: "backups failed for a month with keep_last 1: the last good one survives",
    backups: [...daily("2026-10-22", 10), ...daily("2026-11-22", 31, 2, { complete: false })],
    rules: { keep_last: 1 },
    now: "2026-11-22T12:00:00Z",
    keep: days("2026-10-22", "2026-11-22"),
  },
  {
    name: "only old incomplete backups: all may go",
    backups: daily("2026-11-20", 3, 2, { complete: false }),
    rules: { keep_last: 3 },
    keep: [],
  },
  { name: "no backups: nothing to do", backups: [], rules: { keep_last: 3 }, keep: [] },
  {
    name: "periods follow the timezone (UTC: one day)",
    backups: [backup("2026-11-21T10:00:00Z"), backup("2026-11-21T16:00:00Z")],
    rules: { keep_daily: 2 },
    keep: ["20261121"],
  },
  {
    name: "periods follow the timezone (Tokyo: two days)",
    backups: [backup("2026-11-21T10:00:00Z"), backup("2026-11-21T16:00:00Z")],
    rules: { keep_daily: 2 },
    tz: "Asia/Tokyo",
    keep: ["20261121", "20261121"],
  },
  {
    name: "ISO weeks span the new year (2026-12-31 and 2027-01-01 are both 2026-W53)",
    backups: [backup("2026-12-31T02:00:00Z"), backup("2027-01-01T02:00:00Z"), backup("2026-12-27T02:00:00Z")],
    rules: { keep_weekly: 2 },
    now: "2027-01-01T12:00:00Z",
    keep: days("2026-12-27", "2027-01-01"),
  },
];

describe("retention policy (restic forget semantics + strongbox's safety rules)", () => {
  it.each(CASES)("$name", (c) => {
    const got = kept(c.backups, c.rules, c.now, c.tz);
    if (typeof c.keep === "number") expect(got).toHaveLength(c.keep);
    else expect(got).toEqual(c.keep);
  });

  it("gives every decision a reason", () => {
    const d = applyRetention(
      year,
      { keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12 },
      { now: new Date("2026-11-22T12:00:00Z") },
    );
    expect(d.every((x) => x.reasons.length > 0)).toBe(true);
    expect(d[0].reasons).toEqual([
      "last 1/3 of db, files",
      "daily 2026-11-22 of db, files",
      "weekly 2026-W47 of db, files",
      "monthly 2026-11 of db, files",
      "newest of db, files",
    ]);
    expect(d.find((x) => !x.keep)!.reasons).toEqual(["no rule keeps it for any of its sources (db, files)"]);
  });

  it("orders backups of the same second by start time, not by the random tail of their ids", () => {
    const earlier = {
      id: "20261122T021500Z-ffffff",
      time: new Date("2026-11-22T02:15:00.100Z"),
      complete: true,
      sources: ["db"],
    };
    const later = {
      id: "20261122T021500Z-000001",
      time: new Date("2026-11-22T02:15:00.900Z"),
      complete: true,
      sources: ["db"],
    };
    const d = applyRetention([earlier, later], { keep_last: 1 }, { now: new Date("2026-11-22T12:00:00Z") });
    expect(d.filter((x) => x.keep).map((x) => x.id)).toEqual([later.id]);
  });

  it("knows when no rule is configured", () => {
    expect(hasRules(undefined)).toBe(false);
    expect(hasRules({})).toBe(false);
    expect(hasRules({ keep_last: 0 })).toBe(false);
    expect(hasRules({ keep_daily: 1 })).toBe(true);
  });
});

/** Backups named by a label, so a case can say which ones stay. */
interface SourceCase {
  name: string;
  backups: [label: string, iso: string, sources: string[], extra?: Partial<BackupInfo>][];
  rules: RetentionRules;
  keep: string[];
  why?: Record<string, string[]>;
}

const hourlyDb = (lastIso: string, n: number, stepH = 1) =>
  Array.from(
    { length: n },
    (_, i) =>
      [
        `db-${i}`,
        new Date(Date.parse(lastIso) - i * stepH * 3600_000).toISOString(),
        ["db"],
      ] as SourceCase["backups"][number],
  );

const SOURCE_CASES: SourceCase[] = [
  {
    name: "issue 9: one full backup and two `--source rundowns` backups, keep_last 2: the full stays",
    backups: [
      ["full", "2026-11-22T02:00:00Z", ["db", "projects", "rundowns"]],
      ["r1", "2026-11-22T08:00:00Z", ["rundowns"]],
      ["r2", "2026-11-22T09:00:00Z", ["rundowns"]],
    ],
    rules: { keep_last: 2 },
    keep: ["full", "r1", "r2"],
    why: {
      full: ["last 1/2 of db, projects", "newest of db, projects"],
      r2: ["last 1/2 of rundowns", "newest of rundowns"],
      r1: ["last 2/2 of rundowns"],
    },
  },
  {
    name: "keep_last 2 with three fulls and many rundowns-only backups: the two newest fulls stay, old rundowns-only go",
    backups: [
      ["full-3", "2026-11-19T02:00:00Z", ["db", "rundowns"]],
      ["full-2", "2026-11-20T02:00:00Z", ["db", "rundowns"]],
      ["full-1", "2026-11-21T02:00:00Z", ["db", "rundowns"]],
      ["r-a", "2026-11-21T10:00:00Z", ["rundowns"]],
      ["r-b", "2026-11-22T10:00:00Z", ["rundowns"]],
      ["r-c", "2026-11-22T11:00:00Z", ["rundowns"]],
    ],
    rules: { keep_last: 2 },
    keep: ["full-1", "full-2", "r-b", "r-c"],
    why: {
      "full-3": ["no rule keeps it for any of its sources (db, rundowns)"],
      "r-a": ["no rule keeps it for any of its sources (rundowns)"],
    },
  },
  {
    name: "keep_daily with per-source schedules: db every 6 h, files weekly with db; each source gets its own 3 days",
    backups: [
      ...hourlyDb("2026-11-22T06:00:00Z", 40, 6),
      ["full-w1", "2026-11-01T03:00:00Z", ["db", "files"]],
      ["full-w2", "2026-11-08T03:00:00Z", ["db", "files"]],
      ["full-w3", "2026-11-15T03:00:00Z", ["db", "files"]],
      ["full-w4", "2026-11-22T03:00:00Z", ["db", "files"]],
    ],
    rules: { keep_daily: 3 },
    // db: newest of the 22nd (db-0, 06:00), 21st (db-2, 18:00), 20th (db-6, 18:00); files: the three newest fulls (3 days with files)
    keep: ["db-0", "db-2", "db-6", "full-w2", "full-w3", "full-w4"],
    why: { "full-w4": ["daily 2026-11-22 of files", "newest of files"], "full-w2": ["daily 2026-11-08 of files"] },
  },
  {
    name: "keep_weekly with per-source schedules: weekly fulls survive although daily db backups fill every week",
    backups: [
      ...hourlyDb("2026-11-22T01:00:00Z", 21, 24),
      ["full-a", "2026-11-04T03:00:00Z", ["db", "files"]],
      ["full-b", "2026-11-11T03:00:00Z", ["db", "files"]],
      ["full-c", "2026-11-18T03:00:00Z", ["db", "files"]],
    ],
    rules: { keep_weekly: 2 },
    // db: newest of W47 (db-0, Sun 22nd) and W46 (db-7, Sun 15th); files: full-c (W47) and full-b (W46)
    keep: ["db-0", "db-7", "full-b", "full-c"],
  },
  {
    name: "rules of 0: still the newest backup of every source",
    backups: [
      ["full", "2026-11-20T02:00:00Z", ["db", "files"]],
      ["db-only", "2026-11-21T02:00:00Z", ["db"]],
      ["files-only", "2026-11-22T02:00:00Z", ["files"]],
      ["files-older", "2026-11-21T05:00:00Z", ["files"]],
    ],
    rules: { keep_last: 0 },
    keep: ["db-only", "files-only"],
    why: { "db-only": ["newest of db"], "files-only": ["newest of files"] },
  },
  {
    name: "the newest drill-passed backup is kept per source",
    backups: [
      ["full-old", "2026-11-10T02:00:00Z", ["db", "files"], { drillPassed: true }],
      ["full", "2026-11-20T02:00:00Z", ["db", "files"]],
      ["files-drilled", "2026-11-21T02:00:00Z", ["files"], { drillPassed: true }],
      ["files-new", "2026-11-22T02:00:00Z", ["files"]],
    ],
    rules: { keep_last: 1 },
    // db's newest drill-passed backup is full-old; files' is files-drilled
    keep: ["files-drilled", "files-new", "full", "full-old"],
    why: { "full-old": ["newest drill-passed of db"], "files-drilled": ["newest drill-passed of files"] },
  },
  {
    name: "incomplete backups do not count for any source",
    backups: [
      ["full", "2026-11-20T02:00:00Z", ["db", "files"]],
      ["broken", "2026-11-22T02:00:00Z", [], { complete: false }],
      ["db-only", "2026-11-22T03:00:00Z", ["db"]],
    ],
    rules: { keep_last: 1 },
    keep: ["broken", "db-only", "full"],
    why: { full: ["newest of files", "last 1/1 of files"].sort() },
  },
];

describe("retention per source (restic groups by paths; strongbox by source)", () => {
  it.each(SOURCE_CASES)("$name", (c) => {
    const label = new Map<string, string>();
    const infos = c.backups.map(([l, iso, sources, extra]) => {
      const b = backup(iso, { sources, ...extra });
      label.set(b.id, l);
      return b;
    });
    const d = applyRetention(infos, c.rules, { now: new Date("2026-11-22T12:00:00Z") });
    expect(
      d
        .filter((x) => x.keep)
        .map((x) => label.get(x.id))
        .sort(),
    ).toEqual([...c.keep].sort());
    for (const [l, why] of Object.entries(c.why ?? {})) {
      const got = d.find((x) => label.get(x.id) === l)!.reasons;
      expect(l + ": " + [...got].sort().join("; ")).toBe(l + ": " + [...why].sort().join("; "));
    }
  });

  it("a backup is dropped only when no rule keeps it for any source it holds (randomised against a brute-force check)", () => {
    let s = 42;
    const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const names = ["db", "projects", "rundowns"];
    for (let round = 0; round < 200; round++) {
      const bs = Array.from({ length: 1 + Math.floor(rnd() * 25) }, () => {
        const srcs = names.filter(() => rnd() < 0.5);
        return backup(
          new Date(Date.parse("2026-11-22T00:00:00Z") - Math.floor(rnd() * 60 * 24) * 3600_000).toISOString(),
          {
            sources: srcs.length ? srcs : ["db"],
            drillPassed: rnd() < 0.1,
          },
        );
      });
      const rules: RetentionRules = {
        keep_last: Math.floor(rnd() * 3),
        keep_daily: Math.floor(rnd() * 4),
        keep_weekly: Math.floor(rnd() * 3),
      };
      const d = applyRetention(bs, rules, { now: new Date("2026-11-22T12:00:00Z") });
      const keptIds = new Set(d.filter((x) => x.keep).map((x) => x.id));
      for (const src of names) {
        const group = bs.filter((b) => b.sources.includes(src));
        if (group.length === 0) continue;
        // what the same rules keep when only this source's backups existed must survive
        const alone = applyRetention(
          group.map((b) => ({ ...b, sources: [src] })),
          rules,
          { now: new Date("2026-11-22T12:00:00Z") },
        );
        for (const a of alone.filter((x) => x.keep)) expect(keptIds.has(a.id)).toBe(true);
        const newest = [...group].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1))[0];
        expect(keptIds.has(newest.id)).toBe(true);
      }
      // and nothing is kept without a reason
      for (const x of d.filter((y) => y.keep)) expect(x.reasons.length).toBeGreaterThan(0);
    }
  });
});

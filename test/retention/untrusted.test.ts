// Retention counts only trusted backups; an untrusted one (its claimed time contradicted by the
// store, or its signature) is kept and flagged, takes no slot, and cannot make prune delete a real one.
import { describe, expect, it } from "vitest";
import { ageOf } from "../../src/commands/prune.js";
import {
  applyRetention,
  deleteShareExcess,
  hasRules,
  type BackupInfo,
  type RetentionRules,
} from "../../src/retention/policy.js";

let seq = 0;
const idAt = (iso: string) =>
  `${iso.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${(seq++).toString(16).padStart(6, "0")}`;
function b(iso: string, o: Partial<BackupInfo> = {}): BackupInfo {
  const time = new Date(iso);
  return { id: idAt(time.toISOString()), time, complete: true, sources: ["files"], ...o };
}
const FORGED = { untrusted: ["claims 2099-01-01T00:00:00Z, in the future of the store's clock"] };
const NOW = new Date("2026-12-05T03:00:00Z");
const AUDIT: RetentionRules = { keep_daily: 7, keep_weekly: 4, keep_monthly: 6, keep_yearly: 2 };

/** 19 forgeries spread over 2097–2099 and the one with the largest id there is. */
const forgeries = () => [
  ...Array.from({ length: 19 }, (_, i) =>
    b(new Date(Date.UTC(2097 + (i % 3), i % 12, 1 + i, 12)).toISOString(), FORGED),
  ),
  {
    id: "99991231T235959Z-ffffff",
    time: new Date("9999-12-31T23:59:59Z"),
    complete: true,
    sources: ["files"],
    ...FORGED,
  },
];

interface Case {
  name: string;
  backups: () => { real: BackupInfo[]; forged: BackupInfo[] };
  rules: RetentionRules;
  /** Real backups dropped (by index into real). */
  drop: number[];
}

const CASES: Case[] = [
  {
    name: "the audit's policy: 20 future forgeries take no slot; the real full and differential stay",
    backups: () => {
      const full = b("2026-12-05T01:00:00Z");
      return { real: [full, b("2026-12-05T02:00:00Z", { bases: [full.id] })], forged: forgeries() };
    },
    rules: AUDIT,
    drop: [],
  },
  {
    name: "keep_last 1 with the 99991231T235959Z forgery: the real newest is kept",
    backups: () => ({ real: [b("2026-12-04T02:00:00Z"), b("2026-12-05T02:00:00Z")], forged: forgeries().slice(-1) }),
    rules: { keep_last: 1 },
    drop: [0],
  },
  {
    name: "a back-dated forgery cannot take the daily slot of a real backup",
    backups: () => ({
      real: [b("2026-12-03T02:00:00Z"), b("2026-12-05T02:00:00Z")],
      forged: [
        b("2026-12-04T02:00:00Z", {
          untrusted: ["back-dated: stored at 2026-12-05T02:59:00Z, claims 2026-12-04T02:00:00.500Z"],
        }),
      ],
    }),
    rules: { keep_daily: 2 },
    drop: [],
  },
  {
    name: "an untrusted backup that passed a drill is not the 'newest drill-passed' keeper",
    backups: () => ({
      real: [b("2026-12-03T02:00:00Z", { drillPassed: true }), b("2026-12-04T02:00:00Z"), b("2026-12-05T02:00:00Z")],
      forged: [b("2026-12-04T12:00:00Z", { ...FORGED, drillPassed: true })],
    }),
    rules: { keep_last: 1 },
    drop: [1],
  },
  {
    name: "a source with only untrusted backups: they are kept, nothing counted",
    backups: () => ({
      real: [],
      forged: [
        b("2026-12-01T02:00:00Z", { ...FORGED, sources: ["db"] }),
        b("2026-12-02T02:00:00Z", { ...FORGED, sources: ["db"] }),
      ],
    }),
    rules: { keep_last: 1 },
    drop: [],
  },
];

describe("retention counts only trusted backups", () => {
  it.each(CASES)("$name", (c) => {
    const { real, forged } = c.backups();
    const decisions = applyRetention([...real, ...forged], c.rules, { now: NOW });
    const byId = new Map(decisions.map((d) => [d.id, d]));
    expect(real.filter((x) => !byId.get(x.id)!.keep).map((x) => real.indexOf(x))).toEqual(c.drop);
    for (const f of forged) {
      expect(byId.get(f.id)!.keep).toBe(true);
      expect(byId.get(f.id)!.reasons).toEqual([`untrusted: ${f.untrusted!.join("; ")}`]);
    }
    // No real backup is kept because of a forgery, nor dropped for one: the plan equals the plan without them.
    const alone = applyRetention(real, c.rules, { now: NOW });
    expect(decisions.filter((d) => real.some((x) => x.id === d.id))).toEqual(alone);
  });

  it("an untrusted differential keeps its base (keeping is the safe side; a copied chain stays restorable)", () => {
    const base = b("2026-11-01T02:00:00Z");
    const newer = b("2026-12-05T02:00:00Z");
    const diff = b("2026-11-02T02:00:00Z", { bases: [base.id], untrusted: ["back-dated: …"] });
    const d = applyRetention([base, newer, diff], { keep_last: 1 }, { now: NOW });
    expect(d.find((x) => x.id === base.id)).toMatchObject({ keep: true, reasons: [`base of ${diff.id}`] });
  });
});

describe("max_delete_share: the share of a source's trusted complete backups one run may delete", () => {
  const CASES: {
    name: string;
    backups: () => BackupInfo[];
    rules: RetentionRules;
    share: number;
    excess: { source: string; drop: number; of: number }[];
  }[] = [
    {
      name: "2 of 4 at 0.5 is allowed",
      backups: () => [1, 2, 3, 4].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
      rules: { keep_last: 2 },
      share: 0.5,
      excess: [],
    },
    {
      name: "2 of 3 at 0.5 is refused",
      backups: () => [1, 2, 3].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
      rules: { keep_last: 1 },
      share: 0.5,
      excess: [{ source: "files", drop: 2, of: 3 }],
    },
    {
      name: "2 of 3 at 0.7 is allowed",
      backups: () => [1, 2, 3].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
      rules: { keep_last: 1 },
      share: 0.7,
      excess: [],
    },
    {
      name: "share 1 switches it off",
      backups: () => [1, 2, 3, 4, 5].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
      rules: { keep_last: 1 },
      share: 1,
      excess: [],
    },
    {
      name: "old incomplete leftovers count neither way",
      backups: () => [
        ...[1, 2, 3, 4].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
        ...[1, 2, 3].map((d) => b(`2026-11-0${d}T02:00:00Z`, { complete: false })),
      ],
      rules: { keep_last: 2 },
      share: 0.5,
      excess: [],
    },
    {
      name: "untrusted backups do not dilute the share (10 forgeries do not make 3 of 4 look like 3 of 14)",
      backups: () => [
        ...[1, 2, 3, 4].map((d) => b(`2026-12-0${d}T02:00:00Z`)),
        ...Array.from({ length: 10 }, (_, i) => b(`2098-01-${String(i + 1).padStart(2, "0")}T00:00:00Z`, FORGED)),
      ],
      rules: { keep_last: 1 },
      share: 0.5,
      excess: [{ source: "files", drop: 3, of: 4 }],
    },
    {
      name: "per source: db loses 1 of 3, files loses 2 of 3",
      backups: () => [
        b("2026-12-01T02:00:00Z", { sources: ["db", "files"] }),
        b("2026-12-02T02:00:00Z", { sources: ["files"] }),
        b("2026-12-03T02:00:00Z", { sources: ["db", "files"] }),
        b("2026-12-04T02:00:00Z", { sources: ["db"] }),
      ],
      rules: { keep_last: 1 },
      share: 0.5,
      excess: [{ source: "files", drop: 2, of: 3 }],
    },
  ];
  it.each(CASES)("$name", (c) => {
    const backups = c.backups();
    const decisions = applyRetention(backups, c.rules, { now: NOW });
    expect(deleteShareExcess(backups, decisions, c.share)).toEqual(c.excess);
  });
});

describe("odds and ends", () => {
  it("retention.max_delete_share and clock_skew are not keep rules", () => {
    expect(hasRules({ max_delete_share: 0.5, clock_skew: "15m" } as RetentionRules)).toBe(false);
    expect(hasRules({ max_delete_share: 0.5, keep_last: 1 } as RetentionRules)).toBe(true);
  });

  it.each([
    ["2026-12-05T01:00:00Z", "2.0h"],
    ["2026-12-01T03:00:00Z", "4.0d"],
    ["2026-12-05T03:00:00Z", "0.0h"],
    ["2026-12-05T03:00:01Z", "in the future"],
    ["2099-01-01T00:00:00Z", "in the future"],
  ])("prune's age of %s is %s", (t, age) => {
    expect(ageOf(new Date(t), NOW)).toBe(age);
  });
});

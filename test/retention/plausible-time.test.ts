import { describe, expect, it } from "vitest";
import { clockSkewMs, judgeTime, type TimeDistrustKind } from "../../src/retention/plausible-time.js";

const M = 60_000;
const NOW = new Date("2026-12-05T03:00:00Z");
const idOf = (iso: string) => `${iso.slice(0, 19).replace(/[-:]/g, "")}Z-abcdef`;
/** A claim that started at `started` and finished `tookMs` later. */
const claim = (started: string, tookMs = 500) => ({
  id: idOf(started),
  started_at: started,
  finished_at: new Date(Date.parse(started) + tookMs).toISOString(),
});

interface Case {
  name: string;
  claim: { id: string; started_at: string; finished_at: string };
  stored?: string;
  skew?: number;
  kinds: TimeDistrustKind[];
  reason?: RegExp;
}

const CASES: Case[] = [
  {
    name: "a backup stored as it finished",
    claim: claim("2026-12-05T02:00:00.000Z"),
    stored: "2026-12-05T02:00:01Z",
    kinds: [],
  },
  {
    name: "a long backup: started 5 h before it was stored, finished just before",
    claim: claim("2026-12-04T21:00:00.000Z", 5 * 3600_000),
    stored: "2026-12-05T02:00:03Z",
    kinds: [],
  },
  {
    name: "within the skew either way (store clock 10 min behind, then 10 min ahead)",
    claim: claim("2026-12-05T02:00:00.000Z"),
    stored: "2026-12-05T01:50:00Z",
    kinds: [],
  },
  {
    name: "within the skew: stored 14 min after it finished (retries)",
    claim: claim("2026-12-05T02:00:00.000Z"),
    stored: "2026-12-05T02:14:00Z",
    kinds: [],
  },
  {
    name: "the audit's 2097 forgery, stored now",
    claim: claim("2097-03-04T05:06:07.000Z"),
    stored: "2026-12-05T02:59:00Z",
    kinds: ["future"],
    reason: /^claims 2097-03-04T05:06:07\.500Z, in the future of the store's clock \(stored at 2026-12-05T02:59:00Z\)$/,
  },
  {
    name: "the id 99991231T235959Z, stored now",
    claim: claim("9999-12-31T23:59:59.000Z", 0),
    stored: "2026-12-05T02:59:00Z",
    kinds: ["future"],
    reason: /claims 9999-12-31T23:59:59Z, in the future of the store's clock/,
  },
  {
    name: "finished 16 min after the store stored it",
    claim: claim("2026-12-05T02:16:00.000Z"),
    stored: "2026-12-05T02:00:00Z",
    kinds: ["future"],
  },
  {
    name: "no store time: judged by this host's clock only (2099)",
    claim: claim("2099-01-01T00:00:00.000Z"),
    kinds: ["future"],
    reason: /in the future of this host's clock \(2026-12-05T03:00:00Z\)/,
  },
  { name: "no store time, an hour old: nothing to say", claim: claim("2026-12-05T02:00:00.000Z"), kinds: [] },
  {
    name: "the store's clock is ahead too, but the claim is past this host's now + skew",
    claim: claim("2026-12-05T04:00:00.000Z"),
    stored: "2026-12-05T04:00:01Z",
    kinds: ["future"],
    reason: /this host's clock/,
  },
  {
    name: "back-dated: claims yesterday, stored now",
    claim: claim("2026-12-04T02:00:00.000Z"),
    stored: "2026-12-05T02:59:00Z",
    kinds: ["backdated"],
    reason: /^back-dated: stored at 2026-12-05T02:59:00Z, claims 2026-12-04T02:00:00\.500Z$/,
  },
  {
    name: "back-dated by 16 min",
    claim: claim("2026-12-05T02:00:00.000Z"),
    stored: "2026-12-05T02:16:01Z",
    kinds: ["backdated"],
  },
  {
    name: "a 1 h skew allows back-dating by 50 min",
    claim: claim("2026-12-05T02:00:00.000Z"),
    stored: "2026-12-05T02:50:00Z",
    skew: 60 * M,
    kinds: [],
  },
  {
    name: "skew 0: one second late is back-dated",
    claim: claim("2026-12-05T02:00:00.000Z", 0),
    stored: "2026-12-05T02:00:01Z",
    skew: 0,
    kinds: ["backdated"],
  },
];

describe("judgeTime: the store's time judges a backup's claimed time", () => {
  it.each(CASES)("$name", (c) => {
    const found = judgeTime(c.claim, c.stored ? new Date(c.stored) : undefined, NOW, c.skew ?? 15 * M);
    expect(found.map((f) => f.kind)).toEqual(c.kinds);
    if (c.reason) expect(found[0].reason).toMatch(c.reason);
  });

  it("retention.clock_skew is read from the config, 15 min when unset", () => {
    expect(clockSkewMs({})).toBe(15 * M);
    expect(clockSkewMs({ retention: {} })).toBe(15 * M);
    expect(clockSkewMs({ retention: { clock_skew: "1h" } })).toBe(60 * M);
    expect(clockSkewMs({ retention: { clock_skew: "0s" } })).toBe(0);
  });
});

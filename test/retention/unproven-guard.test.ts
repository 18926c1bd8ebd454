import { describe, expect, it } from "vitest";
import type { BackupInfo, Decision } from "../../src/retention/policy.js";
import { keepUnprovenPredecessors, type ProofVerdict } from "../../src/retention/unproven-guard.js";

const b = (id: string, day: number, extra: Partial<BackupInfo> = {}): BackupInfo => ({
  id,
  time: new Date(Date.UTC(2026, 10, day)),
  complete: true,
  sources: ["files"],
  ...extra,
});

describe("keepUnprovenPredecessors", () => {
  const backups = [b("new", 3), b("mid", 2), b("old", 1)];
  const plan = (): Decision[] => [
    { id: "new", keep: true, reasons: ["last 1/1 of files"] },
    { id: "mid", keep: false, reasons: ["no rule"] },
    { id: "old", keep: false, reasons: ["no rule"] },
  ];

  it("keeps the newest dropped predecessor (only it) when no kept backup is proven, and says why", async () => {
    const d = plan();
    const out = await keepUnprovenPredecessors(backups, d, async (): Promise<ProofVerdict> => ({
      proven: false,
      why: "no passed drill",
    }));
    expect(out).toEqual([{ source: "files", kept: "mid", newest: "new", why: "new: no passed drill" }]);
    expect(d.map((x) => x.keep)).toEqual([true, true, false]);
    expect(d[1].reasons[0]).toMatch(
      /^kept: the newer backup\(s\) of files are not proven intact \(new: no passed drill\)/,
    );
  });

  it("changes nothing when a kept backup is proven", async () => {
    const d = plan();
    expect(await keepUnprovenPredecessors(backups, d, async () => ({ proven: true, how: "drill" }))).toEqual([]);
    expect(d.map((x) => x.keep)).toEqual([true, false, false]);
  });

  it("asks nothing when an older backup stays anyway, or nothing is dropped", async () => {
    const d = plan();
    d[2].keep = true;
    let asked = 0;
    expect(await keepUnprovenPredecessors(backups, d, async () => (asked++, { proven: false, why: "x" }))).toEqual([]);
    expect(asked).toBe(0);
  });

  it("untrusted backups take no part; a kept differential predecessor keeps its base", async () => {
    const all = [
      b("new", 4),
      b("forged", 3, { untrusted: ["back-dated"] }),
      b("diff", 2, { bases: ["full"] }),
      b("full", 1),
    ];
    const d: Decision[] = [
      { id: "new", keep: true, reasons: ["last"] },
      { id: "forged", keep: true, reasons: ["untrusted"] },
      { id: "diff", keep: false, reasons: ["no rule"] },
      { id: "full", keep: false, reasons: ["no rule"] },
    ];
    const out = await keepUnprovenPredecessors(all, d, async () => ({ proven: false, why: "x" }));
    expect(out.map((u) => u.kept)).toEqual(["diff"]);
    expect(d[3]).toEqual({ id: "full", keep: true, reasons: ["base of diff"] });
  });
});

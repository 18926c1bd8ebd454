// Retention counts only backups that can be restored: a differential with a broken chain (its base
// lost, incomplete, damaged or untrusted) takes no slot, is never "newest", and is kept and flagged.
import { describe, expect, it } from "vitest";
import { applyRetention, deleteShareExcess, type BackupInfo } from "../../src/retention/policy.js";

const NOW = new Date("2026-12-05T03:00:00Z");
const b = (id: string, iso: string, o: Partial<BackupInfo> = {}): BackupInfo => ({
  id,
  time: new Date(iso),
  complete: true,
  sources: ["assets"],
  ...o,
});

describe("retention and broken differential chains", () => {
  // The audit: full F1 intact, full F2 lost its complete.json (incomplete), three differentials on F2.
  const f1 = b("20261201T020000Z-000001", "2026-12-01T02:00:00Z");
  const f2 = b("20261202T020000Z-000002", "2026-12-02T02:00:00Z", {
    complete: false,
    sources: [],
    lastActivity: new Date("2026-12-02T02:01:00Z"),
  });
  const diffs = [3, 4, 5].map((d) =>
    b(`2026120${d}T020000Z-00000${d}`, `2026-12-0${d}T02:00:00Z`, {
      bases: [f2.id],
      unrestorable: `broken chain: source assets: base ${f2.id} is incomplete (no complete.json)`,
    }),
  );

  it("keep_last: 2 keeps the intact full, and the broken differentials are kept, not counted", () => {
    const decisions = applyRetention([f1, f2, ...diffs], { keep_last: 2 }, { now: NOW });
    const of = (id: string) => decisions.find((d) => d.id === id)!;
    expect(of(f1.id)).toMatchObject({ keep: true });
    expect(of(f1.id).reasons.join("; ")).toMatch(/last 1\/2 of assets.*newest of assets/);
    for (const d of diffs)
      expect(of(d.id)).toEqual({ id: d.id, keep: true, reasons: [`unrestorable, not counted: ${d.unrestorable}`] });
    expect(deleteShareExcess([f1, f2, ...diffs], decisions, 0.5)).toEqual([]);
  });

  it("a broken differential never satisfies the guard: with only broken ones newer, the full stays", () => {
    const decisions = applyRetention([f1, ...diffs], { keep_last: 1 }, { now: NOW });
    expect(decisions.find((d) => d.id === f1.id)).toMatchObject({ keep: true });
  });
});

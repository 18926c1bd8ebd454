// Issue 21: /metrics says when the last backup was partial, or left a failed source out.
import { describe, expect, it } from "vitest";
import { DaemonMetrics } from "../../src/scheduler/health.js";

const backup = (o: { partial?: string[]; failed?: string[]; unreadable?: number }) => ({
  stored_bytes: 100,
  finished_at: "2026-12-05T02:00:00.000Z",
  sources: [
    {
      name: "docs",
      kind: "full" as const,
      files_changed: 3,
      stored_bytes: 60,
      unreadable: o.unreadable ?? 0,
      changed: 1,
    },
    { name: "media", kind: "full" as const, files_changed: 1, stored_bytes: 40, unreadable: 0, changed: 0 },
  ],
  partial: o.partial ?? [],
  failed: (o.failed ?? []).map((name) => ({ name })),
});

describe("/metrics after a partial or incomplete backup", () => {
  it("a partial backup: strongbox_backup_partial 1, the unreadable paths per source", () => {
    const m = new DaemonMetrics();
    m.recordBackup(backup({ partial: ["docs"], unreadable: 7 }));
    const text = m.prometheus(Date.parse("2026-12-05T03:00:00Z"));
    expect(text).toContain("strongbox_backup_partial 1");
    expect(text).toContain('strongbox_backup_unreadable_paths{source="docs"} 7');
    expect(text).toContain('strongbox_backup_unreadable_paths{source="media"} 0');
    expect(text).toContain('strongbox_backup_files_changed_while_read{source="docs"} 1');
  });

  it("a failed source: strongbox_backup_source_failed 1 for it, 0 for the stored ones; cleared by its next stored backup", () => {
    const m = new DaemonMetrics();
    const b = backup({ failed: ["db"] });
    m.recordBackup(b);
    let text = m.prometheus();
    expect(text).toContain('strongbox_backup_source_failed{source="db"} 1');
    expect(text).toContain('strongbox_backup_source_failed{source="docs"} 0');
    expect(text).toContain("strongbox_backup_partial 0");
    m.recordBackup({ ...b, sources: [{ name: "db", kind: "full", stored_bytes: 5 }], failed: [] });
    text = m.prometheus();
    expect(text).toContain('strongbox_backup_source_failed{source="db"} 0');
  });
});

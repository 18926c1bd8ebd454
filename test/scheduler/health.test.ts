import { describe, expect, it } from "vitest";
import { CronSchedule } from "../../src/scheduler/cron.js";
import { DaemonMetrics, type WatchedJob } from "../../src/scheduler/health.js";

const T = (s: string) => Date.parse(s);
const H = 3600_000;

function watched(name: string, command: string, cron: string, deadlineMs: number): WatchedJob {
  const s = new CronSchedule(cron);
  return { name, command, deadlineMs, jitterMs: 0, nextAfter: (t) => s.next(new Date(t))?.getTime() ?? null };
}

function metrics(start: string, jobs: WatchedJob[]): DaemonMetrics {
  const m = new DaemonMetrics();
  (m as { startedAt: number }).startedAt = T(start);
  m.watched = jobs;
  return m;
}

describe("/healthz verdict", () => {
  const nightly = watched("nightly", "backup", "15 2 * * *", 6 * H);

  it("healthy right after start, and while the next backup still has time", () => {
    const m = metrics("2026-11-22T10:00:00Z", [nightly]);
    expect(m.health(T("2026-11-22T10:00:01Z"))).toEqual({ ok: true, reasons: [] });
    expect(m.health(T("2026-11-23T08:15:00Z")).ok).toBe(true); // due 02:15, deadline 6 h: until 08:15
  });

  it("a backup overdue: no success within the run that was due plus its deadline", () => {
    const m = metrics("2026-11-22T10:00:00Z", [nightly]);
    const h = m.health(T("2026-11-23T08:16:00Z"));
    expect(h.ok).toBe(false);
    expect(h.reasons).toEqual([
      "backup job nightly is overdue: no successful run since 2026-11-22T10:00:00.000Z (daemon start); a run was due at 2026-11-23T02:15:00.000Z",
    ]);
    m.job("nightly").lastSuccess = T("2026-11-23T02:40:00Z");
    expect(m.health(T("2026-11-23T08:16:00Z")).ok).toBe(true);
    expect(m.health(T("2026-11-24T08:16:00Z")).reasons[0]).toMatch(
      /no successful run since 2026-11-23T02:40:00.000Z; a run was due at 2026-11-24T02:15/,
    );
  });

  it("a backup that started late but is still within its deadline is not overdue; past its deadline, both are said", () => {
    const m = metrics("2026-11-22T10:00:00Z", [nightly]);
    m.running = "nightly";
    m.runningSince = T("2026-11-23T03:00:00Z"); // due 02:15, started 45 min late (waited for a lock)
    expect(m.health(T("2026-11-23T08:20:00Z"))).toEqual({ ok: true, reasons: [] });
    expect(m.health(T("2026-11-23T09:30:00Z")).reasons).toEqual([
      "job nightly has been running for 6.5h, past its deadline of 6h",
      "backup job nightly is overdue: no successful run since 2026-11-22T10:00:00.000Z (daemon start); a run was due at 2026-11-23T02:15:00.000Z",
    ]);
  });

  it("a job running past its deadline, and a job whose last run was aborted at its deadline", () => {
    const verify = watched("check", "verify", "0 3 * * *", 2 * H);
    const m = metrics("2026-11-22T00:00:00Z", [verify]);
    m.running = "check";
    m.runningSince = T("2026-11-22T03:00:00Z");
    expect(m.health(T("2026-11-22T04:59:00Z")).ok).toBe(true);
    expect(m.health(T("2026-11-22T05:30:00Z")).reasons).toEqual([
      "job check has been running for 2.5h, past its deadline of 2h",
    ]);
    m.running = undefined;
    m.job("check").deadlineHit = true;
    expect(m.health(T("2026-11-22T05:31:00Z")).reasons).toEqual([
      "job check: its last run was aborted at its deadline of 2h",
    ]);
    expect(m.prometheus(T("2026-11-22T05:31:00Z"))).toMatch(/strongbox_healthy 0/);
  });
});

describe("backup kind metrics", () => {
  it("exports strongbox_backup_kind, files changed and stored bytes per source", async () => {
    const { DaemonMetrics } = await import("../../src/scheduler/health.js");
    const m = new DaemonMetrics();
    m.lastBackupSources.set("assets", { kind: "diff", filesChanged: 3, storedBytes: 1234 });
    m.lastBackupSources.set("db", { kind: "full", storedBytes: 99 });
    const text = m.prometheus();
    expect(text).toContain('strongbox_backup_kind{source="assets",kind="diff"} 1');
    expect(text).toContain('strongbox_backup_kind{source="assets",kind="full"} 0');
    expect(text).toContain('strongbox_backup_kind{source="db",kind="full"} 1');
    expect(text).toContain('strongbox_backup_files_changed{source="assets"} 3');
    expect(text).toContain('strongbox_backup_source_stored_bytes{source="db"} 99');
  });
});

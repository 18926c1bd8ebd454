import { describe, expect, it } from "vitest";
import { DaemonMetrics, type WatchedJob } from "../../src/scheduler/health.js";

const T = (s: string) => Date.parse(s);
const H = 3600_000;

describe("/healthz does not compute schedules per request", () => {
  it("computes a backup's due run once per last success, however often health() is asked", () => {
    const asked: number[] = [];
    const nightly: WatchedJob = {
      name: "nightly",
      command: "backup",
      deadlineMs: 6 * H,
      jitterMs: 0,
      nextAfter: (t) => {
        asked.push(t);
        return t + 24 * H;
      },
    };
    const m = new DaemonMetrics();
    (m as { startedAt: number }).startedAt = T("2026-11-22T10:00:00Z");
    m.watched = [nightly];
    for (let i = 0; i < 100; i++) expect(m.health(T("2026-11-22T11:00:00Z") + i * 1000).ok).toBe(true);
    expect(m.prometheus(T("2026-11-22T11:00:00Z"))).toMatch(/strongbox_healthy 1/);
    expect(asked).toEqual([T("2026-11-22T10:00:00Z")]);

    // after a run succeeds, the next request computes it once more, from the new base
    m.job("nightly").lastSuccess = T("2026-11-23T10:05:00Z");
    for (let i = 0; i < 100; i++) m.health(T("2026-11-23T11:00:00Z"));
    expect(asked).toEqual([T("2026-11-22T10:00:00Z"), T("2026-11-23T10:05:00Z")]);
    // and the verdict still follows the clock: overdue once the run due after it plus its deadline passed
    expect(m.health(T("2026-11-24T16:06:00Z")).reasons).toEqual([
      "backup job nightly is overdue: no successful run since 2026-11-23T10:05:00.000Z; a run was due at 2026-11-24T10:05:00.000Z",
    ]);
    expect(asked).toHaveLength(2);
  });

  it("a new schedule (watched jobs replaced) is computed afresh", () => {
    let calls = 0;
    const job = (name: string): WatchedJob => ({
      name,
      command: "backup",
      deadlineMs: H,
      jitterMs: 0,
      nextAfter: (t) => (calls++, t + H),
    });
    const m = new DaemonMetrics();
    m.watched = [job("a")];
    m.health();
    m.health();
    m.watched = [job("a")];
    m.health();
    expect(calls).toBe(2);
  });
});

// Issue 25: /healthz judges freshness (each source's newest backup against what its schedule allows), the
// allowances are exported for the alert rules, and the daemon's results survive a restart (state_dir).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CronSchedule } from "../../src/scheduler/cron.js";
import { daemonStateFile, loadDaemonState, saveDaemonState } from "../../src/scheduler/daemon-state.js";
import { DaemonMetrics, type WatchedJob } from "../../src/scheduler/health.js";
import { drillAllowance, longestGapMs, sourceAllowances } from "../../src/scheduler/max-age.js";
import { HISTORY_CAP } from "../../src/scheduler/run-record.js";
import { tempDir } from "../helpers/cli.js";

const T = (s: string) => Date.parse(s);
const H = 3600_000;

function watched(name: string, command: string, cron: string, deadlineMs: number, jitterMs = 0): WatchedJob {
  const s = new CronSchedule(cron);
  return { name, command, deadlineMs, jitterMs, nextAfter: (t) => s.next(new Date(t))?.getTime() ?? null };
}

describe("what the schedule allows", () => {
  it("the longest gap between runs, plus jitter and deadline; the tightest job per source", () => {
    const from = T("2026-11-22T10:00:00Z");
    const weekdays = watched("wd", "backup", "0 1 * * 1-5", 2 * H);
    expect(longestGapMs(weekdays.nextAfter, from)).toBe(72 * H); // Friday 01:00 to Monday 01:00
    const allow = sourceAllowances(
      [
        { watched: watched("nightly", "backup", "15 2 * * *", 6 * H, H), sources: [] },
        { watched: watched("hourly", "backup", "0 * * * *", H / 2), sources: ["db"] },
        { watched: watched("drill", "drill", "0 4 * * 0", 4 * H), sources: [] },
      ],
      ["db", "assets"],
      from,
    );
    expect(Object.fromEntries(allow)).toEqual({ db: 1.5 * H, assets: 31 * H });
    expect(drillAllowance([watched("drill", "drill", "0 4 * * 0", 4 * H)], from)).toBe(172 * H);
    expect(drillAllowance([weekdays], from)).toBeUndefined();
  });

  it("a per-second cron stays cheap", () => {
    const t0 = performance.now();
    expect(longestGapMs(watched("s", "backup", "*/2 * * * * *", 0).nextAfter, Date.now())).toBe(2000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("/healthz freshness and the exported allowances", () => {
  it("a source whose newest backup is older than its schedule allows makes /healthz unhealthy", () => {
    const m = new DaemonMetrics();
    m.sourceMaxAge.set("db", 26 * H);
    m.sourceMaxAge.set("assets", 26 * H);
    m.recordBackup({
      stored_bytes: 10,
      finished_at: "2026-11-22T02:30:00Z",
      sources: [{ name: "db", kind: "full", stored_bytes: 10 }],
      partial: [],
      failed: [],
    });
    expect(m.health(T("2026-11-23T04:29:00Z"))).toEqual({ ok: true, reasons: [] });
    expect(m.health(T("2026-11-23T04:31:00Z")).reasons).toEqual([
      "source db: its newest backup finished 2026-11-22T02:30:00.000Z, 26h ago; its schedule allows 26h",
    ]);
    const text = m.prometheus(T("2026-11-23T04:31:00Z"));
    expect(text).toContain('strongbox_source_backup_age_seconds{source="db"} 93660');
    expect(text).toContain('strongbox_source_backup_max_age_seconds{source="db"} 93600');
    expect(text).toContain("strongbox_healthy 0");
  });

  it("the drill's age and allowance", () => {
    const m = new DaemonMetrics();
    m.drillMaxAgeMs = 172 * H;
    m.recordDrill(true, T("2026-11-22T04:10:00Z"));
    m.recordDrill(false, T("2026-11-29T04:10:00Z"));
    const text = m.prometheus(T("2026-11-29T05:10:00Z"));
    expect(text).toContain("strongbox_last_drill_passed 0");
    expect(text).toContain("strongbox_drill_last_pass_age_seconds 608400");
    expect(text).toContain("strongbox_drill_max_age_seconds 619200");
  });
});

describe("the daemon's results in state_dir", () => {
  function filled(): DaemonMetrics {
    const m = new DaemonMetrics();
    Object.assign(m.job("nightly"), {
      lastSuccess: T("2026-11-22T02:30:00Z"),
      lastStatus: "success",
      lastDuration: 12,
    });
    m.recordBackup({
      stored_bytes: 10,
      finished_at: "2026-11-22T02:30:00Z",
      sources: [{ name: "db", kind: "diff", stored_bytes: 10, files_changed: 2 }],
      partial: [],
      failed: [{ name: "gone" }],
    });
    m.recordDrill(true, T("2026-11-22T04:00:00Z"));
    m.recordRun({
      job: "nightly",
      command: "backup",
      started: T("2026-11-22T02:29:48Z"),
      duration_s: 12,
      status: "success",
    });
    return m;
  }

  it("a restarted daemon exports what the last one knew", () => {
    const file = daemonStateFile(tempDir("dstate"), "file:///r");
    expect(loadDaemonState(file, new DaemonMetrics())).toEqual({ restored: false });
    expect(saveDaemonState(file, filled())).toBeUndefined();
    const again = new DaemonMetrics();
    expect(loadDaemonState(file, again)).toEqual({ restored: true });
    const now = T("2026-11-22T05:00:00Z");
    expect(again.prometheus(now)).toBe(filled().prometheus(now));
    expect(again.history).toEqual(filled().history);
    expect(again.job("nightly").lastSuccess).toBe(T("2026-11-22T02:30:00Z"));
  });

  it("a damaged, foreign or oversized file is reported and ignored", () => {
    const dir = tempDir("dstate-bad");
    const file = daemonStateFile(dir, "file:///r");
    mkdirSync(join(file, ".."), { recursive: true });
    const cases: [string, RegExp][] = [
      ["{", /not JSON/],
      [
        JSON.stringify({ format: "strongbox/1 daemon-state", jobs: { a: { lastSuccess: "soon" } } }),
        /not a daemon state \(jobs\.a\.lastSuccess\)/,
      ],
      [JSON.stringify({ format: "x" }), /not a daemon state \(format\)/],
      [" ".repeat(5 << 20), /larger than/],
    ];
    for (const [text, problem] of cases) {
      writeFileSync(file, text);
      const m = new DaemonMetrics();
      const r = loadDaemonState(file, m);
      expect(r.restored).toBe(false);
      expect(r.problem).toMatch(problem);
      expect(m.jobs.size).toBe(0);
    }
  });

  it("the history is bounded", () => {
    const m = new DaemonMetrics();
    for (let i = 0; i < HISTORY_CAP + 50; i++)
      m.recordRun({ job: "j", command: "verify", started: i, duration_s: 1, status: "success" });
    expect(m.history.length).toBe(HISTORY_CAP);
    expect(m.history[0].started).toBe(50);
  });

  it("an unwritable state_dir is a warning, not a failure", () => {
    const blocker = join(tempDir("dstate-file"), "not-a-dir");
    writeFileSync(blocker, "");
    expect(saveDaemonState(daemonStateFile(blocker, "file:///r"), new DaemonMetrics())).toMatch(
      /^cannot save the daemon's results to .*not-a-dir\/daemon\/[0-9a-f]{16}\.json: /,
    );
  });
});

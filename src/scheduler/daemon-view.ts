import { liveProgress } from "../progress.js";
import type { DaemonMetrics } from "./health.js";
import { SHOWN_RUNS, type StatusView } from "./status-page.js";

/** What a daemon knows: its sources' freshness, its runs, its schedule, the job running now. */
export function daemonView(m: DaemonMetrics, now = Date.now()): StatusView {
  const names = [...new Set([...m.sourceMaxAge.keys(), ...m.sourceBackupAt.keys()])];
  return {
    title: "strongbox daemon",
    now,
    sources: names.map((name) => ({
      name,
      newestAt: m.sourceBackupAt.get(name),
      maxAgeMs: m.sourceMaxAge.get(name),
      failed: m.sourceFailed.get(name),
    })),
    lastDrill:
      m.lastDrillPassed === undefined ? undefined : { at: m.lastDrillAt, result: m.lastDrillPassed ? "pass" : "fail" },
    runs: m.history.slice(-SHOWN_RUNS).reverse(),
    nextRuns: m.watched.map((w) => ({ job: w.name, command: w.command, at: m.jobs.get(w.name)?.nextRun ?? null })),
    running:
      m.running && m.runningSince !== undefined
        ? { job: m.running, since: m.runningSince, steps: liveProgress(now) }
        : undefined,
  };
}

import type { WatchedJob } from "./health.js";

const DAY = 86400_000;

/**
 * The longest gap between two consecutive scheduled runs, looking ahead from `from`: runs until they span
 * a month (weekly and monthly patterns show), at most `maxRuns` of them (a per-second cron stays cheap),
 * and no further than a year. Null when fewer than two runs fall in that window.
 */
export function longestGapMs(nextAfter: (t: number) => number | null, from: number, maxRuns = 500): number | null {
  const first = nextAfter(from);
  let t = first;
  let longest: number | null = null;
  for (let i = 0; t !== null && first !== null && i < maxRuns && t - first <= 32 * DAY; i++) {
    const n = nextAfter(t);
    if (n === null || n - first > 366 * DAY) break;
    longest = Math.max(longest ?? 0, n - t);
    t = n;
  }
  return longest;
}

/** How old a job's last success may be under its schedule: the longest gap between its runs, plus jitter and deadline. */
export function allowedAgeMs(w: WatchedJob, from: number): number | null {
  const gap = longestGapMs(w.nextAfter, from);
  return gap === null ? null : gap + w.jitterMs + w.deadlineMs;
}

/**
 * Per source, the most its newest backup may age: the tightest allowance among the backup jobs that
 * back it up (a job without a source list backs up every source).
 */
export function sourceAllowances(
  jobs: { watched: WatchedJob; sources: string[] }[],
  allSources: string[],
  from: number,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const { watched, sources } of jobs) {
    if (watched.command !== "backup") continue;
    const allowed = allowedAgeMs(watched, from);
    if (allowed === null) continue;
    for (const s of sources.length ? sources : allSources) out.set(s, Math.min(out.get(s) ?? Infinity, allowed));
  }
  return out;
}

/** The tightest allowance among the drill jobs, or undefined without a drill job that runs. */
export function drillAllowance(jobs: WatchedJob[], from: number): number | undefined {
  const all = jobs
    .filter((w) => w.command === "drill")
    .map((w) => allowedAgeMs(w, from))
    .filter((a): a is number => a !== null);
  return all.length ? Math.min(...all) : undefined;
}

/**
 * A backup's time, judged by the store rather than by the backup. complete.json's started_at and
 * finished_at (and the id) are whatever its writer put there: a stolen writer key can claim 2099
 * (and take every retention slot) or claim yesterday (and take yesterday's slot from a real backup).
 * The store's own time for complete.json (S3 LastModified, a file's mtime) is set by the server when
 * the object is stored; a writer cannot choose it. A backup whose claim disagrees with that time by
 * more than the allowed clock skew is never counted: not by retention, not as `latest`.
 *
 * Each finding has a kind, so that a caller can waive one per backup: `backdated` is what a
 * legitimate `copy` looks like (its complete.json is stored after the time it claims), so a
 * stronger proof of origin (a trusted signature) may waive it; `future` is never waived.
 */
import { parseDuration } from "../config/duration.js";
import { backupTime } from "../repository/layout.js";

export type TimeDistrustKind = "future" | "backdated";

export interface TimeDistrust {
  kind: TimeDistrustKind;
  /** One line for people: what the backup claims and what the clock says. */
  reason: string;
}

/** What complete.json claims (validated already: ISO UTC times, started_at agrees with the id). */
export interface ClaimedTimes {
  id: string;
  started_at: string;
  finished_at: string;
}

export const DEFAULT_CLOCK_SKEW = "15m";
export const DEFAULT_CLOCK_SKEW_MS = 15 * 60_000;

const iso = (t: number) => new Date(t).toISOString().replace(/\.000Z$/, "Z");

/**
 * Why a backup's claimed time cannot be believed; empty when it can.
 * - `future`: a claimed time (id, started_at, finished_at) is after `now` + skew, or finished_at is
 *   after the store's time for complete.json + skew (it claims to have finished after it was stored).
 * - `backdated`: finished_at is more than skew before the store's time (stored long after it claims
 *   to have finished).
 * `storedAt` absent (a store that reports no time) leaves only the check against `now`.
 */
export function judgeTime(claim: ClaimedTimes, storedAt: Date | undefined, now: Date, skewMs: number): TimeDistrust[] {
  const times = [backupTime(claim.id).getTime(), Date.parse(claim.started_at), Date.parse(claim.finished_at)].filter(
    (t) => Number.isFinite(t),
  );
  if (times.length === 0) return [];
  const newest = Math.max(...times);
  const finished = Number.isFinite(Date.parse(claim.finished_at)) ? Date.parse(claim.finished_at) : newest;
  const stored = storedAt && Number.isFinite(storedAt.getTime()) ? storedAt.getTime() : undefined;
  const out: TimeDistrust[] = [];
  if (stored !== undefined && finished > stored + skewMs) {
    out.push({
      kind: "future",
      reason: `claims ${iso(finished)}, in the future of the store's clock (stored at ${iso(stored)})`,
    });
  } else if (newest > now.getTime() + skewMs) {
    out.push({
      kind: "future",
      reason: `claims ${iso(newest)}, in the future of this host's clock (${iso(now.getTime())})`,
    });
  }
  if (stored !== undefined && finished < stored - skewMs) {
    out.push({ kind: "backdated", reason: `back-dated: stored at ${iso(stored)}, claims ${iso(finished)}` });
  }
  return out;
}

/** retention.clock_skew in ms (the default when unset), for Repository's options. */
export function clockSkewMs(config: { retention?: { clock_skew?: string } }): number {
  const text = config.retention?.clock_skew;
  const ms = text === undefined ? null : parseDuration(text);
  return ms ?? DEFAULT_CLOCK_SKEW_MS;
}

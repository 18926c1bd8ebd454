import { redact } from "../secrets.js";
import { appendAudit } from "../audit.js";
import { describeError } from "../errors.js";
import { notifiersFor, type JobOutcome } from "../notify/notifier.js";
import type { CommandContext } from "./context.js";

export interface JobResult {
  backup_id?: string;
  summary: string;
  report?: unknown;
  /** A job can finish and still have failed (a drill whose checks did not hold). */
  failed?: boolean;
}

/**
 * Why a job failed, in the one wording its failure notification, its audit line and the daemon's
 * /healthz share. A job that was aborted (its deadline, the end of the grace period, a signal)
 * failed because of that: the abort's reason comes first, and what the job reported as it
 * unwound is added only when it says more than that it was stopped.
 */
export function failureReason(error: unknown, signal?: AbortSignal): string {
  // Redacted here: /healthz and the daemon's state file keep this text as it is.
  return redact(unredactedReason(error, signal));
}

function unredactedReason(error: unknown, signal?: AbortSignal): string {
  const why = describeError(error);
  if (!signal?.aborted || signal.reason === error) return why;
  const reason = describeError(signal.reason);
  if (why.includes(reason)) return why;
  const echo =
    /^(interrupted|aborted|the operation was aborted|this operation was aborted)\.?$/i.test(why) ||
    (error as Error)?.name === "AbortError";
  return echo || reason.includes(why) ? reason : `${reason} (${why})`;
}

/** Jobs still running: a forced exit (signal, deadline, stuck job) still records and notifies them. */
const unfinished = new Set<(error: Error) => Promise<void>>();

/** Whether a job has started and not finished (its audit line and notification are still to come). */
export const hasUnfinishedJobs = (): boolean => unfinished.size > 0;

/** Audits and notifies every job that has not finished as failed with `reason`, within `ms`. */
export async function failUnfinishedJobs(reason: string, ms = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...unfinished].map((f) => f(new Error(reason)))),
    new Promise((r) => (timer = setTimeout(r, ms))),
  ]);
  clearTimeout(timer);
}

/**
 * Runs a job with notifications (start, then success or failure) and an audit-log line.
 * Notification and audit failures are logged and never change the job's own result or error.
 */
export async function runJob(
  ctx: CommandContext,
  command: string,
  job: string,
  fn: () => Promise<JobResult>,
  o: { notify?: boolean; signal?: AbortSignal } = {},
): Promise<JobResult> {
  const config = ctx.config();
  const notify = o.notify === false ? notifiersFor(undefined, ctx.log) : notifiersFor(config, ctx.log);
  const started = new Date();
  let settled = false;
  const settle = async (result: JobResult | undefined, error: unknown) => {
    if (settled) return;
    settled = true;
    unfinished.delete(abandon);
    const finished = new Date();
    const failed = Boolean(error) || Boolean(result?.failed);
    const reason = error ? failureReason(error, o.signal) : undefined;
    const outcome: JobOutcome = {
      job,
      command,
      status: failed ? "failure" : "success",
      backup_id: result?.backup_id ?? (error as { backupId?: string } | undefined)?.backupId,
      started_at: started.toISOString(),
      finished_at: finished.toISOString(),
      ...(reason ? { error: reason } : {}),
      ...(result?.report ? { report: result.report } : {}),
      summary: reason ? `${command} failed: ${reason}` : result!.summary,
    };
    // The audit line first: it is local and quick; a stalled notification endpoint must not cost it.
    await appendAudit(
      config.audit_log,
      {
        command,
        job,
        backup_id: outcome.backup_id,
        result: outcome.status,
        duration_s: Number(((finished.getTime() - started.getTime()) / 1000).toFixed(3)),
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(result?.report ? { report: result.report } : {}),
      },
      ctx.log,
    );
    await notify.finish(outcome);
  };
  const abandon = (error: Error) => settle(undefined, error);
  unfinished.add(abandon);
  let result: JobResult | undefined;
  let error: unknown;
  try {
    await notify.start(job, command);
    result = await fn();
  } catch (err) {
    error = err;
  }
  await settle(result, error);
  if (error) throw error;
  return result!;
}

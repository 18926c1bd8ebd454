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
 * Runs a job with notifications (start, then success or failure) and an audit-log line.
 * Notification and audit failures are logged and never change the job's own result or error.
 */
export async function runJob(ctx: CommandContext, command: string, job: string, fn: () => Promise<JobResult>, o: { notify?: boolean } = {}): Promise<JobResult> {
  const config = ctx.config();
  const notify = o.notify === false ? notifiersFor(undefined, ctx.log) : notifiersFor(config, ctx.log);
  const started = new Date();
  await notify.start(job, command);
  let result: JobResult | undefined;
  let error: unknown;
  try {
    result = await fn();
  } catch (err) {
    error = err;
  }
  const finished = new Date();
  const failed = Boolean(error) || Boolean(result?.failed);
  const outcome: JobOutcome = {
    job,
    command,
    status: failed ? "failure" : "success",
    backup_id: result?.backup_id ?? (error as { backupId?: string } | undefined)?.backupId,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    ...(error ? { error: describeError(error) } : {}),
    ...(result?.report ? { report: result.report } : {}),
    summary: error ? `${command} failed: ${describeError(error)}` : result!.summary,
  };
  await notify.finish(outcome);
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
  if (error) throw error;
  return result!;
}

import type { CommandContext } from "./context.js";
import { withInterrupt, type InterruptOptions } from "./interrupt.js";
import { runJob, type JobResult } from "./job.js";
import { withRepositoryLock } from "./repository-lock.js";

/** How a command runs as a job. */
export interface CommandRun {
  /** The command's name: the lock holder's, and the job record's and notifications' command. */
  command: string;
  /** The job's name (a schedule job's); the command's own by default. */
  job?: string;
  /** Whether the job's start and outcome are notified (the audit line is written either way). */
  notify?: boolean;
  /** The daemon's signal (a deadline, SIGTERM). Without it, `interrupt` handles SIGINT/SIGTERM of a CLI run. */
  signal?: AbortSignal;
  /**
   * Stop cleanly on SIGINT/SIGTERM when run from the CLI (no `signal`), and exit 130/143; the options
   * name the stop, set its unwind time and what is cleaned up if the job does not unwind in time.
   */
  interrupt?: boolean | InterruptOptions;
}

/**
 * The one lifecycle of a command that works on the repository: SIGINT/SIGTERM handling (installed
 * before the lock is taken, so no signal can leave the lock behind), this host's repository lock
 * (with --retry-lock's bounded wait), then the job: its record, notifications and audit line. The
 * job's error is rethrown as it is; cli.ts turns it into the exit code (src/errors.ts).
 */
export function runCommand(
  ctx: CommandContext,
  run: CommandRun,
  fn: (signal: AbortSignal | undefined) => Promise<JobResult>,
): Promise<JobResult> {
  return withCommandLock(ctx, run, (signal) => commandJob(ctx, run, signal, () => fn(signal)));
}

/**
 * The first half of the lifecycle, for a command that prepares under the lock before its job starts
 * (restore: resolving the backups and checking the targets is not yet the restore): signals, then the
 * repository lock, released however `fn` ends. `fn` starts the job with commandJob.
 */
export function withCommandLock<T>(
  ctx: CommandContext,
  run: CommandRun,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const locked = (signal?: AbortSignal) => withRepositoryLock(ctx, run.command, () => fn(signal), signal);
  if (run.signal || !run.interrupt) return locked(run.signal);
  return withInterrupt(ctx.log, locked, run.interrupt === true ? {} : run.interrupt);
}

/** The second half: the job's record, notifications and audit line. */
export function commandJob(
  ctx: CommandContext,
  run: CommandRun,
  signal: AbortSignal | undefined,
  fn: () => Promise<JobResult>,
): Promise<JobResult> {
  return runJob(ctx, run.command, run.job ?? run.command, fn, { notify: run.notify, signal });
}

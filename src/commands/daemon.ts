import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseDuration } from "../config/duration.js";
import { describeError, StrongboxError } from "../errors.js";
import { CronSchedule } from "../scheduler/cron.js";
import { DaemonMetrics, startHealthServer } from "../scheduler/health.js";
import { daemonStateFile, loadDaemonState, saveDaemonState } from "../scheduler/daemon-state.js";
import { drillAllowance, sourceAllowances } from "../scheduler/max-age.js";
import type { RunRecord } from "../scheduler/run-record.js";
import { daemonView } from "../scheduler/daemon-view.js";
import { isLoopback, readToken, renderStatus } from "../scheduler/status-page.js";
import { stateOwner } from "../differential/owner.js";
import { loadSchedule, type ScheduleJob } from "../scheduler/schedule-file.js";
import { Scheduler, type ScheduledJob } from "../scheduler/scheduler.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";
import { InterruptedError } from "../errors.js";
import { hardExit } from "../hard-exit.js";
import { DEFAULT_DEADLINES, DEFAULT_RETRY_LOCK } from "../scheduler/schedule-file.js";
import { BackupOutcomeError, backupNowCommand } from "./backup.js";
import type { BackupResult } from "../engine/backup.js";
import { copyCommand } from "./copy.js";
import { onStopSignals } from "./interrupt.js";
import { failUnfinishedJobs, failureReason } from "./job.js";
import type { CommandContext } from "./context.js";
import { drillCommand } from "./drill.js";
import { pruneCommand } from "./prune.js";
import { verifyCommand } from "./verify.js";
import { watchWal } from "./daemon-wal.js";

/**
 * Runs one schedule job in-process; the signal aborts it cleanly (upload aborted, scratch removed).
 * It waits up to `lockWaitMs` for a held repository lock.
 */
async function runScheduleJob(
  parent: CommandContext,
  job: ScheduleJob,
  signal: AbortSignal,
  metrics: DaemonMetrics,
  lockWaitMs: number,
  rec: Pick<RunRecord, "backup" | "drill">,
): Promise<void> {
  const ctx = (job.notify ? parent.withConfig({ notify: job.notify }) : parent).withOptions({
    retryLock: `${lockWaitMs / 1000}s`,
  });
  const onAbort = () => killRunningChildren();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    switch (job.command) {
      case "backup": {
        let r: BackupResult;
        try {
          r = await backupNowCommand(ctx, { source: job.sources ?? [], job: job.name, signal });
        } catch (err) {
          // Committed without a source, or partial: /metrics shows what was stored, and what was not; the job still failed.
          if (err instanceof BackupOutcomeError) {
            metrics.recordBackup(err.result);
            rec.backup = backupRecord(err.result);
          }
          throw err;
        }
        metrics.recordBackup(r);
        rec.backup = backupRecord(r);
        return;
      }
      case "drill":
        try {
          const report = await drillCommand(ctx, job.target ?? "latest", { job: job.name, daemon: true, signal });
          metrics.recordDrill(report.result === "pass");
          rec.drill = {
            id: report.drill_id,
            backup_id: report.backup_id,
            result: report.result,
            checks: report.checks,
          };
        } catch (err) {
          if (err instanceof StrongboxError && err.code === "VERIFY") {
            metrics.recordDrill(false);
            rec.drill = {
              id: "",
              backup_id: "",
              result: "fail",
              checks: [{ name: "drill", ok: false, detail: err.message }],
            };
          }
          throw err;
        }
        return;
      case "prune": {
        const r = await pruneCommand(ctx, { job: job.name, signal });
        metrics.untrustedBackups = r.untrusted;
        return;
      }
      case "verify":
        return await verifyCommand(ctx, job.target ?? "latest", { job: job.name, signal });
      case "copy":
        return await copyCommand(ctx, job.target ?? "latest", { to: job.to!, job: job.name, signal });
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function backupRecord(r: BackupResult): RunRecord["backup"] {
  return {
    id: r.id,
    stored_bytes: r.stored_bytes,
    partial: r.partial,
    failed: r.failed.map((f) => f.name),
    sources: r.sources.map((s) => ({ name: s.name, kind: s.kind, stored_bytes: s.stored_bytes })),
  };
}

/** The last resort for a job that ignores its abort: record it as failed, release locks (exit hook), and exit. */
async function exitStuck(ctx: CommandContext, why: string): Promise<never> {
  ctx.log.error(`${why}; exiting so that the service manager can restart strongbox`);
  await failUnfinishedJobs(why, 5000);
  hardExit(1);
}

/** What each source's newest backup, and the last passing drill, may age under the schedule (from now on). */
function watchFreshness(metrics: DaemonMetrics, allSources: string[], sourcesOf: (job: string) => string[]): void {
  const now = Date.now();
  const allow = sourceAllowances(
    metrics.watched.map((w) => ({ watched: w, sources: sourcesOf(w.name) })),
    allSources,
    now,
  );
  for (const [s, ms] of allow) metrics.sourceMaxAge.set(s, ms);
  metrics.drillMaxAgeMs = drillAllowance(metrics.watched, now);
}

/** A daemon's schedule, read and checked: its jobs, their destinations, lock waits, deadlines and stop rules. */
interface DaemonPlan {
  scheduleFile: string;
  timezone?: string;
  jobs: ScheduledJob[];
  /** Each job's spec, a copy job's relative `to` resolved next to the schedule file. */
  specs: Map<string, ScheduleJob>;
  /** How long each job waits for a held repository lock. */
  lockWaits: Map<string, number>;
  grace: string;
  graceMs: number;
  abortWaitMs: number;
}

/** A running daemon: its plan, what it knows (metrics, saved to the state file after each job), and the job runner. */
interface Daemon {
  ctx: CommandContext;
  plan: DaemonPlan;
  metrics: DaemonMetrics;
  runner: (job: ScheduledJob, signal: AbortSignal) => Promise<void>;
}

function planDaemon(ctx: CommandContext, o: { schedule?: string; grace: string; abortWait?: string }): DaemonPlan {
  const config = ctx.config();
  // The default sits next to the config file, not in whatever directory the daemon was started from.
  const scheduleFile = o.schedule ?? join(dirname(resolve(ctx.configFile)), "schedules", "default.yaml");
  const schedule = loadSchedule(
    scheduleFile,
    config,
    o.schedule ? undefined : "the default next to the config; --schedule FILE names another",
  );
  ctx.log.info(`schedule ${scheduleFile}: ${schedule.jobs.length} job(s)`, { schedule: scheduleFile });
  const graceMs = parseDuration(o.grace);
  if (graceMs === null)
    throw new StrongboxError("USAGE", `--grace must be a duration like 60s or 5m, not '${o.grace}'`);
  const abortWaitMs = parseDuration(o.abortWait ?? "30s");
  if (abortWaitMs === null)
    throw new StrongboxError("USAGE", `--abort-wait must be a duration like 30s, not '${o.abortWait}'`);
  // A copy job's destination config, like a relative --schedule default, is found next to the schedule file, not in the daemon's working directory.
  const specs = new Map(
    schedule.jobs.map((j) => [
      j.name,
      j.to && !/^[a-z0-9]+:\/\//i.test(j.to) ? { ...j, to: resolve(dirname(resolve(scheduleFile)), j.to) } : j,
    ]),
  );
  // A job waits for a held lock per its retry_lock, the schedule's default, else 10m: never beyond its deadline.
  const lockWaits = new Map(
    schedule.jobs.map((j) => [
      j.name,
      parseDuration(j.retry_lock ?? schedule.defaults?.retry_lock ?? DEFAULT_RETRY_LOCK)!,
    ]),
  );
  const jobs: ScheduledJob[] = schedule.jobs.map((j) => ({
    name: j.name,
    schedule: new CronSchedule(j.cron, schedule.timezone),
    jitterMs: j.jitter ? parseDuration(j.jitter)! : 0,
    deadlineMs: parseDuration(j.deadline ?? DEFAULT_DEADLINES[j.command])!,
  }));
  return { scheduleFile, timezone: schedule.timezone, jobs, specs, lockWaits, grace: o.grace, graceMs, abortWaitMs };
}

/** What the daemon watches (jobs, WAL, freshness), with what the last daemon knew restored from its state file. */
function daemonMetrics(ctx: CommandContext, plan: DaemonPlan): { metrics: DaemonMetrics; stateFile: string } {
  const config = ctx.config();
  const metrics = new DaemonMetrics();
  watchWal(metrics, config, ctx.env);
  metrics.watched = plan.jobs.map((j) => ({
    name: j.name,
    command: plan.specs.get(j.name)!.command,
    deadlineMs: j.deadlineMs!,
    jitterMs: j.jitterMs,
    nextAfter: (t: number) => j.schedule.next(new Date(t))?.getTime() ?? null,
  }));
  watchFreshness(
    metrics,
    config.sources.map((s) => s.name),
    (n) => plan.specs.get(n)!.sources ?? [],
  );
  // What the last daemon knew (last success per job, newest backup per source, the drill): survives a restart.
  const owner = stateOwner(config);
  const stateFile = daemonStateFile(owner.stateDir, owner.repository);
  const loaded = loadDaemonState(stateFile, metrics);
  if (loaded.problem) ctx.log.warn(`ignoring the saved daemon results: ${loaded.problem}`);
  else if (loaded.restored) ctx.log.info(`restored the last results from ${stateFile}`);
  return { metrics, stateFile };
}

/**
 * One job's run in the daemon: its command's own lifecycle (lock, job record, notifications) inside;
 * around it, what the daemon shows: running since, success or failure in the words of its notification,
 * whether its deadline ended it, and the run record, saved to the state file whatever happened.
 */
function jobRunner(
  ctx: CommandContext,
  plan: DaemonPlan,
  metrics: DaemonMetrics,
  stateFile: string,
): (job: ScheduledJob, signal: AbortSignal) => Promise<void> {
  return async (job, signal) => {
    const stats = metrics.job(job.name);
    const command = plan.specs.get(job.name)!.command;
    const t0 = Date.now();
    stats.lastStart = t0;
    metrics.running = job.name;
    metrics.runningSince = t0;
    const onDeadline = () => (stats.deadlineHit = /deadline/.test(String((signal.reason as Error)?.message)));
    signal.addEventListener("abort", onDeadline, { once: true });
    ctx.log.info(`job ${job.name} started`, { command });
    const rec: Pick<RunRecord, "backup" | "drill" | "failure"> = {};
    try {
      const lockWaitMs = Math.min(plan.lockWaits.get(job.name)!, job.deadlineMs!);
      await runScheduleJob(ctx, plan.specs.get(job.name)!, signal, metrics, lockWaitMs, rec);
      if (signal.aborted) throw signal.reason; // finished, but only after it was told to stop: not a success
      stats.lastSuccess = Date.now();
      stats.lastStatus = "success";
      stats.deadlineHit = false;
      stats.lastFailure = undefined;
      ctx.log.info(`job ${job.name} finished`, { duration_s: (Date.now() - t0) / 1000 });
    } catch (err) {
      stats.lastStatus = "failure";
      // The same words as its failure notification (runJob) and /healthz.
      stats.lastFailure = rec.failure = failureReason(err, signal);
      ctx.log.error(`job ${job.name} failed: ${stats.lastFailure}`);
      throw err;
    } finally {
      stats.lastDuration = (Date.now() - t0) / 1000;
      metrics.running = undefined;
      metrics.runningSince = undefined;
      signal.removeEventListener("abort", onDeadline);
      const status = stats.lastStatus!;
      metrics.recordRun({ job: job.name, command, started: t0, duration_s: stats.lastDuration, status, ...rec });
      const problem = saveDaemonState(stateFile, metrics);
      if (problem) ctx.log.warn(problem);
    }
  };
}

export async function daemonCommand(
  ctx: CommandContext,
  o: { schedule?: string; once?: string; grace: string; abortWait?: string },
): Promise<void> {
  const plan = planDaemon(ctx, o);
  const { metrics, stateFile } = daemonMetrics(ctx, plan);
  const daemon: Daemon = { ctx, plan, metrics, runner: jobRunner(ctx, plan, metrics, stateFile) };
  try {
    if (o.once) await runOnce(daemon, onceJob(plan, o.once));
    else await runDaemon(daemon);
  } finally {
    // A call abandoned on a stalled store (an fs request, a socket) would keep the process alive: it ends anyway.
    setTimeout(() => {
      ctx.log.warn("work abandoned by an aborted job is still pending; exiting");
      hardExit(typeof process.exitCode === "number" ? process.exitCode : 0);
    }, 5000).unref();
  }
}

function onceJob(plan: DaemonPlan, name: string): ScheduledJob {
  const job = plan.jobs.find((j) => j.name === name);
  if (!job)
    throw new StrongboxError(
      "USAGE",
      `--once ${name}: no such job in ${plan.scheduleFile} (jobs: ${plan.jobs.map((j) => j.name).join(", ")})`,
    );
  return job;
}

/**
 * The health server, and the status page: on a loopback listener, or on any listener with
 * `daemon.token_file` (then the page needs the token; /healthz and /metrics never do).
 */
async function serveHealth(d: Daemon): Promise<{ close(): void } | undefined> {
  const { listen, token_file } = d.ctx.config().daemon ?? {};
  if (!listen) return undefined;
  const token = token_file ? readToken(token_file, "daemon.token_file") : undefined;
  const pageHere = token !== undefined || isLoopback(listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, ""));
  const page = pageHere ? { render: () => renderStatus(daemonView(d.metrics)), token } : undefined;
  const server = await startHealthServer(listen, d.metrics, page);
  d.ctx.log.info(
    `health and metrics on http://${listen}/healthz and /metrics${page ? `, status page on http://${listen}/${token ? " (token required)" : ""}` : " (status page: only on a 127.0.0.1 listener, or with daemon.token_file)"}`,
  );
  return server;
}

/** The long-running daemon: jobs on their schedules until SIGTERM/SIGINT, then --grace for the running one. */
async function runDaemon(d: Daemon): Promise<void> {
  const { ctx, plan, metrics } = d;
  const scheduler = new Scheduler(plan.jobs, d.runner, {
    log: ctx.log,
    now: Date.now,
    abortWaitMs: plan.abortWaitMs,
    onStuck: (_job, why) => void exitStuck(ctx, why),
  });
  for (const { job, next } of scheduler.start(Date.now())) {
    metrics.job(job).nextRun = next?.getTime() ?? null;
    ctx.log.info(`job ${job}: next run ${next ? next.toISOString() : "never (no match within a year)"}`, {
      timezone: plan.timezone,
    });
  }
  const server = await serveHealth(d);
  const stopping = new AbortController();
  const signals = onStopSignals(
    (sig) => {
      ctx.log.warn(
        `${sig} received: no new jobs; ${scheduler.busy ? `waiting up to ${plan.grace} for ${scheduler.busy}` : "stopping"}`,
      );
      stopping.abort();
    },
    (sig) => void exitStuck(ctx, `${sig} received again while stopping`),
  );
  try {
    while (!stopping.signal.aborted) {
      const wake = scheduler.tick(Date.now());
      for (const j of plan.jobs) metrics.job(j.name).nextRun = scheduler.nextRun(j.name);
      const delay = Math.max(50, Math.min((wake ?? Date.now() + 60_000) - Date.now(), 60_000));
      await sleep(delay, undefined, { signal: stopping.signal }).catch(() => {});
    }
    const running = scheduler.busy;
    const how = await scheduler.stop(plan.graceMs);
    if (how === "stuck")
      await exitStuck(
        ctx,
        `job ${running} did not stop within ${plan.abortWaitMs / 1000} s after the grace period ended`,
      );
    ctx.log.info(how === "aborted" ? "the running job was aborted after the grace period; stopped" : "stopped");
  } finally {
    signals.release();
    server?.close();
  }
}

/**
 * --once: the job runs under the same rules as in the long-running daemon (its deadline; on
 * SIGTERM/SIGINT it gets --grace to finish, and a run that finished in time exits 0; after the
 * grace it is aborted and the run exits 130/143; a second signal, or a job that ignores its
 * abort, ends the run at once).
 */
async function runOnce(d: Daemon, job: ScheduledJob): Promise<void> {
  const { ctx, plan } = d;
  let failed: { error: unknown; reason: unknown } | undefined;
  const single = new Scheduler(
    [job],
    (j, signal) =>
      d.runner(j, signal).catch((error) => {
        failed = { error, reason: signal.aborted ? signal.reason : undefined };
        throw error;
      }),
    { log: ctx.log, now: Date.now, abortWaitMs: plan.abortWaitMs, onStuck: (_job, why) => void exitStuck(ctx, why) },
  );
  const done = single.run(job, Date.now());
  const signals = onStopSignals(
    (sig) => {
      ctx.log.warn(
        `${sig} received: waiting up to ${plan.grace} for job ${job.name} to finish (send ${sig} again to exit at once)`,
      );
      void single.stop(plan.graceMs, new InterruptedError(sig, `job ${job.name} interrupted by ${sig}`)).then((how) => {
        if (how === "stuck")
          void exitStuck(
            ctx,
            `job ${job.name} did not stop within ${plan.abortWaitMs / 1000} s after the grace period ended`,
          );
      });
    },
    (sig) => void exitStuck(ctx, `${sig} received again while stopping`),
  );
  try {
    await done;
  } finally {
    signals.release();
  }
  if (!failed) return;
  const { error, reason } = failed;
  if (reason instanceof InterruptedError && error !== reason)
    throw new InterruptedError(reason.signal, `${reason.message}: stopped cleanly (${describeError(error)})`);
  throw error;
}

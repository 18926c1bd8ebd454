import { setTimeout as sleep } from "node:timers/promises";
import { parseDuration } from "../config/duration.js";
import { describeError, StrongboxError } from "../errors.js";
import { CronSchedule } from "../scheduler/cron.js";
import { DaemonMetrics, startHealthServer } from "../scheduler/health.js";
import { loadSchedule, type ScheduleJob } from "../scheduler/schedule-file.js";
import { Scheduler, type ScheduledJob } from "../scheduler/scheduler.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";
import { backupNowCommand } from "./backup.js";
import type { CommandContext } from "./context.js";
import { drillCommand } from "./drill.js";
import { pruneCommand } from "./prune.js";
import { verifyCommand } from "./verify.js";

/** Runs one schedule job in-process; the signal aborts it cleanly (upload aborted, scratch removed). */
async function runScheduleJob(ctx: CommandContext, job: ScheduleJob, signal: AbortSignal, metrics: DaemonMetrics): Promise<void> {
  const onAbort = () => killRunningChildren();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    switch (job.command) {
      case "backup": {
        const r = await backupNowCommand(ctx, { source: job.sources ?? [], job: job.name, signal });
        metrics.lastBackupBytes = r.stored_bytes;
        metrics.lastBackupFinished = Date.parse(r.finished_at);
        return;
      }
      case "drill":
        try {
          const report = await drillCommand(ctx, job.target ?? "latest", { job: job.name, daemon: true });
          metrics.lastDrillPassed = report.result === "pass";
        } catch (err) {
          if (err instanceof StrongboxError && err.code === "VERIFY") metrics.lastDrillPassed = false;
          throw err;
        }
        return;
      case "prune":
        return await pruneCommand(ctx, { job: job.name });
      case "verify":
        return await verifyCommand(ctx, job.target ?? "latest", { job: job.name });
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

export async function daemonCommand(ctx: CommandContext, o: { schedule: string; once?: string; grace: string }): Promise<void> {
  const config = ctx.config();
  const schedule = loadSchedule(o.schedule, config);
  const graceMs = parseDuration(o.grace);
  if (graceMs === null) throw new StrongboxError("USAGE", `--grace must be a duration like 60s or 5m, not '${o.grace}'`);
  const specs = new Map(schedule.jobs.map((j) => [j.name, j]));
  const metrics = new DaemonMetrics();
  const jobs: ScheduledJob[] = schedule.jobs.map((j) => ({
    name: j.name,
    schedule: new CronSchedule(j.cron, schedule.timezone),
    jitterMs: j.jitter ? parseDuration(j.jitter)! : 0,
  }));
  const runner = async (job: ScheduledJob, signal: AbortSignal) => {
    const stats = metrics.job(job.name);
    const t0 = Date.now();
    stats.lastStart = t0;
    metrics.running = job.name;
    ctx.log.info(`job ${job.name} started`, { command: specs.get(job.name)!.command });
    try {
      await runScheduleJob(ctx, specs.get(job.name)!, signal, metrics);
      stats.lastSuccess = Date.now();
      stats.lastStatus = "success";
      ctx.log.info(`job ${job.name} finished`, { duration_s: (Date.now() - t0) / 1000 });
    } catch (err) {
      stats.lastStatus = "failure";
      ctx.log.error(`job ${job.name} failed: ${describeError(err)}`);
      throw err;
    } finally {
      stats.lastDuration = (Date.now() - t0) / 1000;
      metrics.running = undefined;
    }
  };
  const scheduler = new Scheduler(jobs, runner, { log: ctx.log, now: Date.now });

  if (o.once) {
    const job = jobs.find((j) => j.name === o.once);
    if (!job) throw new StrongboxError("USAGE", `--once ${o.once}: no such job in ${o.schedule} (jobs: ${jobs.map((j) => j.name).join(", ")})`);
    const ac = new AbortController();
    const stop = () => ac.abort(new Error("interrupted"));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    try {
      await runner(job, ac.signal);
    } finally {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    }
    return;
  }

  for (const { job, next } of scheduler.start(Date.now())) {
    metrics.job(job).nextRun = next?.getTime() ?? null;
    ctx.log.info(`job ${job}: next run ${next ? next.toISOString() : "never (no match within a year)"}`, { timezone: schedule.timezone });
  }
  const server = config.daemon?.listen ? await startHealthServer(config.daemon.listen, metrics) : undefined;
  if (server) ctx.log.info(`health and metrics on http://${config.daemon!.listen}/healthz and /metrics`);

  const stopping = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping.signal.aborted) return;
    ctx.log.warn(`${sig} received: no new jobs; ${scheduler.busy ? `waiting up to ${o.grace} for ${scheduler.busy}` : "stopping"}`);
    stopping.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    while (!stopping.signal.aborted) {
      const wake = scheduler.tick(Date.now());
      for (const j of jobs) metrics.job(j.name).nextRun = scheduler.nextRun(j.name);
      const delay = Math.max(50, Math.min((wake ?? Date.now() + 60_000) - Date.now(), 60_000));
      await sleep(delay, undefined, { signal: stopping.signal }).catch(() => {});
    }
    const how = await scheduler.stop(graceMs);
    ctx.log.info(how === "aborted" ? "the running job was aborted after the grace period; stopped" : "stopped");
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    server?.close();
  }
}

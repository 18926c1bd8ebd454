import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { formatDuration } from "../config/duration.js";
import type { CronSchedule } from "./cron.js";

/** What a job aborted at its deadline failed of: its notification, its audit line and /healthz all say this. */
export function deadlineReason(job: string, deadlineMs: number, ranMs: number): string {
  return `job ${job}: deadline ${formatDuration(deadlineMs)} exceeded after ${formatDuration(ranMs)}`;
}

export interface ScheduledJob {
  name: string;
  schedule: CronSchedule;
  jitterMs: number;
  /** Aborted when it runs longer than this. */
  deadlineMs?: number;
}

export type JobRunner = (job: ScheduledJob, signal: AbortSignal) => Promise<void>;

export interface SchedulerEvent {
  at: number;
  job: string;
  what: "due" | "start" | "wait" | "skip" | "finish" | "fail" | "deadline" | "stuck";
  detail?: string;
}

/**
 * Decides when jobs run; time comes from outside (tick(now)), so the logic is tested with an
 * injected clock. Rules: one job at a time (jobs touch the same repository); a job due while
 * another runs waits its turn; a job due while it is itself still running or already waiting
 * is skipped with a warning, never stacked; jitter delays a start by [0, jitter).
 */
export class Scheduler {
  private readonly next = new Map<string, number | null>();
  private pending: { job: ScheduledJob; at: number }[] = [];
  private readonly queue: ScheduledJob[] = [];
  private running: { job: ScheduledJob; done: Promise<void>; ac: AbortController } | undefined;
  private stopped = false;
  readonly events: SchedulerEvent[] = [];

  constructor(
    readonly jobs: ScheduledJob[],
    private readonly runner: JobRunner,
    private readonly o: {
      log: Logger;
      random?: () => number;
      now: () => number;
      /** How long an aborted job may take to wind down before onStuck is called. */
      abortWaitMs?: number;
      /** A job that ignored its abort: the daemon's last resort (exit, so the service manager restarts it). */
      onStuck?: (job: ScheduledJob, why: string) => void;
    },
  ) {}

  /** Computes each job's first run after `now`; returns them for logging. */
  start(now: number): { job: string; next: Date | null }[] {
    return this.jobs.map((j) => {
      const n = j.schedule.next(new Date(now));
      this.next.set(j.name, n ? n.getTime() : null);
      return { job: j.name, next: n };
    });
  }

  nextRun(job: string): number | null {
    return this.next.get(job) ?? null;
  }

  /** Handles everything due up to `now`; returns when it next needs to be called. */
  tick(now: number): number | null {
    if (this.stopped) return null;
    for (const job of this.jobs) {
      const at = this.next.get(job.name);
      if (at == null || at > now) continue;
      this.event(now, job.name, "due");
      const jitter = job.jitterMs > 0 ? Math.floor((this.o.random ?? Math.random)() * job.jitterMs) : 0;
      this.pending.push({ job, at: at + jitter });
      // Missed runs (the machine slept) collapse into one.
      const n = job.schedule.next(new Date(Math.max(at, now)));
      this.next.set(job.name, n ? n.getTime() : null);
    }
    const ready = this.pending.filter((p) => p.at <= now);
    this.pending = this.pending.filter((p) => p.at > now);
    for (const p of ready) this.dispatch(p.job, now);
    const times = [...this.next.values(), ...this.pending.map((p) => p.at)].filter((t): t is number => t != null);
    return times.length ? Math.min(...times) : null;
  }

  private dispatch(job: ScheduledJob, now: number): void {
    if (this.running?.job === job) {
      this.event(now, job.name, "skip", "still running from its previous run");
      this.o.log.warn(`job ${job.name} is due but still running from its previous run: skipped`);
    } else if (this.queue.includes(job)) {
      this.event(now, job.name, "skip", "already waiting");
      this.o.log.warn(`job ${job.name} is due but already waiting for its turn: skipped`);
    } else if (this.running) {
      this.event(now, job.name, "wait", `waits for ${this.running.job.name}`);
      this.o.log.info(`job ${job.name} is due and waits for ${this.running.job.name} to finish`);
      this.queue.push(job);
    } else {
      this.run(job, now);
    }
  }

  /** Runs a job now (also for --once); resolves when it finished. */
  run(job: ScheduledJob, now: number): Promise<void> {
    const ac = new AbortController();
    this.event(now, job.name, "start");
    let stuckTimer: NodeJS.Timeout | undefined;
    const deadlineTimer = job.deadlineMs
      ? setTimeout(() => {
          this.event(this.o.now(), job.name, "deadline");
          const reason = deadlineReason(job.name, job.deadlineMs!, this.o.now() - now);
          this.o.log.error(`${reason}: aborting it`);
          ac.abort(new StrongboxError("SOURCE", `${reason}; aborted`));
          stuckTimer = this.watchAbort(job, "after its deadline");
        }, job.deadlineMs)
      : undefined;
    const done = this.runner(job, ac.signal)
      .then(
        () => this.event(this.o.now(), job.name, "finish"),
        (err) => {
          this.event(this.o.now(), job.name, "fail", (err as Error)?.message);
        },
      )
      .finally(() => {
        clearTimeout(deadlineTimer);
        clearTimeout(stuckTimer);
        this.running = undefined;
        const nextJob = this.queue.shift();
        if (nextJob && !this.stopped) void this.run(nextJob, this.o.now());
      });
    this.running = { job, done, ac };
    return done;
  }

  /** Calls onStuck if the job has not wound down abortWaitMs after its abort. */
  private watchAbort(job: ScheduledJob, when: string): NodeJS.Timeout {
    const ms = this.o.abortWaitMs ?? 30_000;
    return setTimeout(() => {
      if (this.running?.job !== job) return;
      this.event(this.o.now(), job.name, "stuck");
      this.o.onStuck?.(job, `job ${job.name} did not stop within ${ms / 1000} s ${when}`);
    }, ms);
  }

  get busy(): string | undefined {
    return this.running?.job.name;
  }

  /** Stops scheduling; waits up to graceMs for the running job, then aborts it (with `reason`) and waits for it to wind down. */
  async stop(
    graceMs: number,
    reason: Error = new StrongboxError("SOURCE", "daemon stopping: the job was aborted after the grace period"),
  ): Promise<"idle" | "finished" | "aborted" | "stuck"> {
    this.stopped = true;
    this.queue.length = 0;
    this.pending = [];
    const r = this.running;
    if (!r) return "idle";
    let timer: NodeJS.Timeout | undefined;
    const finishedInTime = await Promise.race([
      r.done.then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (finishedInTime) return "finished";
    r.ac.abort(reason);
    const ms = this.o.abortWaitMs ?? 30_000;
    const wound = await Promise.race([
      r.done.then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms))),
    ]);
    clearTimeout(timer);
    if (!wound) this.event(this.o.now(), r.job.name, "stuck");
    return wound ? "aborted" : "stuck";
  }

  private event(at: number, job: string, what: SchedulerEvent["what"], detail?: string): void {
    this.events.push({ at, job, what, ...(detail ? { detail } : {}) });
  }
}

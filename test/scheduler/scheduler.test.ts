import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/log.js";
import { CronSchedule, cronErrors } from "../../src/scheduler/cron.js";
import { Scheduler, type ScheduledJob } from "../../src/scheduler/scheduler.js";

const iso = (d: Date | null) => d?.toISOString() ?? null;
const T = (s: string) => new Date(s).getTime();

describe("cron schedules in a timezone", () => {
  it("computes the next run (5 fields, UTC)", () => {
    expect(iso(new CronSchedule("15 2 * * *").next(new Date("2026-11-22T02:15:00Z")))).toBe("2026-11-23T02:15:00.000Z");
    expect(iso(new CronSchedule("15 2 * * *").next(new Date("2026-11-22T01:00:00Z")))).toBe("2026-11-22T02:15:00.000Z");
    expect(iso(new CronSchedule("0 5 * * 0").next(new Date("2026-11-22T05:00:00Z")))).toBe("2026-11-29T05:00:00.000Z");
  });

  it("supports 6 fields with seconds first", () => {
    expect(iso(new CronSchedule("*/10 * * * * *").next(new Date("2026-11-22T10:00:03Z")))).toBe(
      "2026-11-22T10:00:10.000Z",
    );
  });

  it("runs in the schedule's timezone", () => {
    // 02:15 in Berlin (CET, UTC+1) is 01:15 UTC
    expect(iso(new CronSchedule("15 2 * * *", "Europe/Berlin").next(new Date("2026-11-22T00:00:00Z")))).toBe(
      "2026-11-22T01:15:00.000Z",
    );
  });

  it("spring forward: a wall time inside the skipped hour runs right after the gap, once", () => {
    // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC)
    const s = new CronSchedule("30 2 * * *", "Europe/Berlin");
    const first = s.next(new Date("2026-03-28T12:00:00Z"));
    expect(iso(first)).toBe("2026-03-29T01:00:00.000Z");
    expect(iso(s.next(first!))).toBe("2026-03-30T00:30:00.000Z");
  });

  it("fall back: a wall time that happens twice runs once", () => {
    // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30Z and 01:30Z
    const s = new CronSchedule("30 2 * * *", "Europe/Berlin");
    const first = s.next(new Date("2026-10-24T12:00:00Z"));
    expect(iso(first)).toBe("2026-10-25T00:30:00.000Z");
    expect(iso(s.next(first!))).toBe("2026-10-26T01:30:00.000Z");
  });

  it("an hourly job runs once per wall-clock hour across fall back, like classic cron", () => {
    const s = new CronSchedule("0 * * * *", "Europe/Berlin");
    const runs: string[] = [];
    let t = new Date("2026-10-24T23:30:00Z");
    for (let i = 0; i < 5; i++) {
      t = s.next(t)!;
      runs.push(iso(t)!);
    }
    // wall 02:00 CEST (00:00Z), then 03:00 CEST would be 01:00Z but wall time falls back to 02:00 CET: skipped as a repeat; next new wall time 03:00 CET (02:00Z)
    expect(runs).toEqual([
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T03:00:00.000Z",
      "2026-10-25T04:00:00.000Z",
      "2026-10-25T05:00:00.000Z",
    ]);
  });

  it("classic day-of-month OR day-of-week when both are restricted", () => {
    // the 1st of the month or any Sunday
    const s = new CronSchedule("0 5 1 * 0");
    expect(iso(s.next(new Date("2026-11-22T06:00:00Z")))).toBe("2026-11-29T05:00:00.000Z");
    expect(iso(s.next(new Date("2026-11-29T06:00:00Z")))).toBe("2026-12-01T05:00:00.000Z");
  });

  it("reports invalid expressions", () => {
    expect(cronErrors("61 * * * *")[0]).toMatch(/minute/);
    expect(cronErrors("* * *")[0]).toMatch(/5 fields/);
    expect(cronErrors("*/5 * * * *")).toEqual([]);
  });
});

/** A runner whose jobs finish (or fail) when the test says so. */
function controllableRunner() {
  const open = new Map<string, { resolve: () => void; reject: (e: Error) => void; signal: AbortSignal }>();
  const runner = (job: ScheduledJob, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      open.set(job.name, { resolve, reject, signal });
      signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  return { runner, open };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("scheduler with an injected clock", () => {
  afterEach(() => void vi.useRealTimers());
  const everyMinute = (name: string, jitterMs = 0): ScheduledJob => ({
    name,
    schedule: new CronSchedule("* * * * *"),
    jitterMs,
  });

  it("never runs two jobs at once: a job due while another runs waits, then runs", async () => {
    let now = T("2026-11-22T10:00:30Z");
    const { runner, open } = controllableRunner();
    const s = new Scheduler([everyMinute("backup"), everyMinute("prune")], runner, {
      log: silentLogger,
      now: () => now,
    });
    s.start(now);
    now = T("2026-11-22T10:01:00Z");
    s.tick(now);
    expect(s.busy).toBe("backup");
    expect(s.events.map((e) => `${e.job}:${e.what}`)).toEqual([
      "backup:due",
      "prune:due",
      "backup:start",
      "prune:wait",
    ]);
    open.get("backup")!.resolve();
    await flush();
    await flush();
    expect(s.busy).toBe("prune");
    open.get("prune")!.resolve();
    await flush();
    await flush();
    expect(s.busy).toBeUndefined();
  });

  it("skips a job that is still running when its next time comes, instead of stacking it", async () => {
    let now = T("2026-11-22T10:00:30Z");
    const { runner, open } = controllableRunner();
    const s = new Scheduler([everyMinute("backup")], runner, { log: silentLogger, now: () => now });
    s.start(now);
    for (const t of ["10:01:00", "10:02:00", "10:03:00"]) {
      now = T(`2026-11-22T${t}Z`);
      s.tick(now);
    }
    expect(s.events.filter((e) => e.what === "start")).toHaveLength(1);
    expect(s.events.filter((e) => e.what === "skip").map((e) => e.detail)).toEqual([
      "still running from its previous run",
      "still running from its previous run",
    ]);
    open.get("backup")!.resolve();
    await flush();
    await flush();
    expect(s.busy).toBeUndefined();
    now = T("2026-11-22T10:04:00Z");
    s.tick(now);
    expect(s.events.filter((e) => e.what === "start")).toHaveLength(2);
  });

  it("a failing job is recorded and the scheduler keeps going", async () => {
    let now = T("2026-11-22T10:00:30Z");
    const { runner, open } = controllableRunner();
    const s = new Scheduler([everyMinute("backup")], runner, { log: silentLogger, now: () => now });
    s.start(now);
    now = T("2026-11-22T10:01:00Z");
    s.tick(now);
    open.get("backup")!.reject(new Error("store down"));
    await flush();
    await flush();
    now = T("2026-11-22T10:02:00Z");
    s.tick(now);
    expect(s.events.map((e) => `${e.what}${e.detail ? `(${e.detail})` : ""}`)).toEqual([
      "due",
      "start",
      "fail(store down)",
      "due",
      "start",
    ]);
  });

  it.each([0, 0.5, 0.999999])("jitter delays the start within [0, jitter) (random=%s)", (r) => {
    let now = T("2026-11-22T10:00:30Z");
    const { runner } = controllableRunner();
    const jitter = 5 * 60_000;
    const s = new Scheduler([everyMinute("backup", jitter)], runner, {
      log: silentLogger,
      now: () => now,
      random: () => r,
    });
    s.start(now);
    now = T("2026-11-22T10:01:00Z");
    const wake = s.tick(now)!;
    const startAt = T("2026-11-22T10:01:00Z") + Math.floor(r * jitter);
    if (r === 0) {
      expect(s.busy).toBe("backup");
    } else {
      expect(s.busy).toBeUndefined();
      expect(wake).toBe(Math.min(startAt, T("2026-11-22T10:02:00Z")));
      now = startAt - 1;
      s.tick(now);
      expect(s.busy).toBeUndefined();
      now = startAt;
      s.tick(now);
      expect(s.busy).toBe("backup");
    }
    expect(startAt - T("2026-11-22T10:01:00Z")).toBeLessThan(jitter);
  });

  it("collapses runs missed while the machine slept into one", () => {
    let now = T("2026-11-22T10:00:30Z");
    const { runner } = controllableRunner();
    const s = new Scheduler([everyMinute("backup")], runner, { log: silentLogger, now: () => now });
    s.start(now);
    now = T("2026-11-22T13:00:30Z");
    s.tick(now);
    expect(s.events.filter((e) => e.what === "due")).toHaveLength(1);
    expect(new Date(s.nextRun("backup")!).toISOString()).toBe("2026-11-22T13:01:00.000Z");
  });

  it("stop: lets the running job finish within the grace period, else aborts it", async () => {
    vi.useFakeTimers(); // real timers again after each test (afterEach above)
    let now = T("2026-11-22T10:00:30Z");
    const { runner, open } = controllableRunner();
    const s = new Scheduler([everyMinute("backup")], runner, { log: silentLogger, now: () => now });
    s.start(now);
    now = T("2026-11-22T10:01:00Z");
    s.tick(now);
    let how: string | undefined;
    void s.stop(20_000).then((h) => (how = h));
    await vi.advanceTimersByTimeAsync(19_999);
    expect(open.get("backup")!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(open.get("backup")!.signal.aborted).toBe(true);
    expect(how).toBe("aborted");

    const s2 = new Scheduler([everyMinute("backup")], runner, { log: silentLogger, now: () => now });
    s2.start(T("2026-11-22T10:00:30Z"));
    s2.tick(now);
    const stopping2 = s2.stop(10_000);
    open.get("backup")!.resolve();
    expect(await stopping2).toBe("finished");
  });
});

describe("job deadlines", () => {
  // Fake timers: the deadlines are tens of seconds and time moves only when the test moves it, so
  // the outcome does not depend on how fast (or how loaded) the machine is.
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());
  const job = (name: string, deadlineMs: number): ScheduledJob => ({
    name,
    schedule: new CronSchedule("* * * * *"),
    jitterMs: 0,
    deadlineMs,
  });

  it("a job past its deadline is aborted with a reason naming it; one that stops is not 'stuck'", async () => {
    const { runner, open } = controllableRunner();
    const stuck: string[] = [];
    const s = new Scheduler([job("verify", 30_000)], runner, {
      log: silentLogger,
      now: Date.now,
      abortWaitMs: 50_000,
      onStuck: (_j, why) => stuck.push(why),
    });
    const done = s.run(s.jobs[0], Date.now());
    await vi.advanceTimersByTimeAsync(29_999);
    expect(open.get("verify")!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(open.get("verify")!.signal.aborted).toBe(true);
    expect(String(open.get("verify")!.signal.reason.message)).toMatch(
      /job verify: deadline 30s exceeded after 30s; aborted/,
    );
    await done;
    await vi.advanceTimersByTimeAsync(60_000); // past abortWaitMs: the job stopped, so nothing is stuck
    expect(s.events.map((e) => e.what)).toEqual(["start", "deadline", "fail"]);
    expect(stuck).toEqual([]);
  });

  it("a job that ignores its abort is reported stuck after abortWaitMs", async () => {
    const stuck: string[] = [];
    const never = () => new Promise<void>(() => {});
    const s = new Scheduler([job("verify", 20_000)], never, {
      log: silentLogger,
      now: Date.now,
      abortWaitMs: 30_000,
      onStuck: (_j, why) => stuck.push(why),
    });
    void s.run(s.jobs[0], Date.now());
    await vi.advanceTimersByTimeAsync(20_000);
    expect(s.events.map((e) => e.what)).toEqual(["start", "deadline"]);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(stuck).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(stuck).toEqual(["job verify did not stop within 30 s after its deadline"]);
    expect(s.events.map((e) => e.what)).toEqual(["start", "deadline", "stuck"]);
  });

  it("stop(): a job that ignores its abort makes stop() return 'stuck' instead of waiting forever", async () => {
    const never = () => new Promise<void>(() => {});
    const s = new Scheduler([job("verify", 3600_000)], never, {
      log: silentLogger,
      now: Date.now,
      abortWaitMs: 30_000,
    });
    void s.run(s.jobs[0], Date.now());
    let how: string | undefined;
    void s.stop(10_000).then((h) => (how = h));
    await vi.advanceTimersByTimeAsync(10_000 + 29_999);
    expect(how).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(how).toBe("stuck");
  });
});

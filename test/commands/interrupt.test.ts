import { afterEach, describe, expect, it, vi } from "vitest";
import { withInterrupt } from "../../src/commands/interrupt.js";
import { exitCodeFor, InterruptedError } from "../../src/errors.js";
import { exitWatchdog } from "../../src/hard-exit.js";
import { silentLogger } from "../../src/log.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job that notices the abort and then needs `cleanupMs` to tear down (abort the upload, unlink temp files). */
const job = (cleanupMs: number) => (signal: AbortSignal) =>
  new Promise<string>((_, reject) =>
    signal.addEventListener("abort", () => setTimeout(() => reject(new Error("upload aborted")), cleanupMs)),
  );

describe("one termination request, however many signals carry it", () => {
  const before = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  afterEach(() => {
    // an interrupted run keeps its handler until exit; this process does not exit between tests
    for (const sig of ["SIGINT", "SIGTERM"] as const)
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
    vi.restoreAllMocks();
    process.off("exit", exitWatchdog); // process.exit was mocked: no watchdog for the test runner
  });

  it("SIGTERM to the process and its group (timeout(1)) within a second: one clean stop, exit 143", async () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const run = withInterrupt(silentLogger, job(300));
    await sleep(10);
    process.emit("SIGTERM", "SIGTERM");
    await sleep(50);
    process.emit("SIGTERM", "SIGTERM");
    const err = await run.catch((e) => e);
    expect(exit).not.toHaveBeenCalled();
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err.message).toBe("interrupted by SIGTERM: stopped cleanly (upload aborted)");
    expect(exitCodeFor(err)).toBe(143);
  });

  it("Ctrl-C exits 130 after the clean stop", async () => {
    const run = withInterrupt(silentLogger, job(20));
    await sleep(10);
    process.emit("SIGINT", "SIGINT");
    expect(exitCodeFor(await run.catch((e) => e))).toBe(130);
  });

  it("a second request later than a second exits at once", async () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const run = withInterrupt(silentLogger, job(1500));
    await sleep(10);
    process.emit("SIGTERM", "SIGTERM");
    await sleep(1100);
    process.emit("SIGTERM", "SIGTERM");
    expect(exit).toHaveBeenCalledWith(143);
    await run.catch(() => {});
  });

  it("leaves no handler behind", async () => {
    const before = process.listenerCount("SIGTERM");
    await withInterrupt(silentLogger, async () => "ok");
    expect(process.listenerCount("SIGTERM")).toBe(before);
  });
});

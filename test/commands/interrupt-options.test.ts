// The CLI's stop on SIGINT/SIGTERM, as commands configure it through the lifecycle (runCommand's
// `interrupt` options): the stop's name, its unwind time, the cleanup before a forced exit, and the
// running job's audit line written even when the process exits without the job unwinding.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CommandContext } from "../../src/commands/context.js";
import { runCommand } from "../../src/commands/lifecycle.js";
import { exitWatchdog } from "../../src/hard-exit.js";
import { makeRepo, tempDir } from "../helpers/cli.js";

function context() {
  const dir = tempDir("interrupt-options");
  const repo = makeRepo({ sources: [{ name: "a", type: "files", path: dir }] });
  const audit = join(dir, "audit.log");
  const file = repo.write((c) => Object.assign(c, { audit_log: audit, lock_dir: tempDir("interrupt-locks") }));
  const ctx = new CommandContext({ config: file, quiet: true });
  const lines = () =>
    readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ctx, lines };
}

/** A job that ignores its signal until the process "exits" (process.exit is mocked); `started` once it runs. */
function stuckJob(exited: Promise<unknown>, started: { yes: boolean }) {
  return async () => {
    started.yes = true;
    await exited;
    return { summary: "finished too late" };
  };
}

describe("the lifecycle's stop on a signal, with a command's options", () => {
  const before = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  afterEach(() => {
    for (const sig of ["SIGINT", "SIGTERM"] as const)
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
    vi.restoreAllMocks();
    process.off("exit", exitWatchdog);
  });

  function mockExit() {
    const events: string[] = [];
    let exited!: (code: unknown) => void;
    const done = new Promise((r) => (exited = r));
    const exit = vi.spyOn(process, "exit").mockImplementation(((code: number) => {
      events.push(`exit ${code}`);
      exited(code);
    }) as never);
    return { events, done, exit };
  }

  it("a job that does not unwind in its unwind time: cleanup, then its failure audit line, then exit 143", async () => {
    const { ctx, lines } = context();
    const { events, done } = mockExit();
    const cleanup = async () => void events.push("cleanup");
    const interrupt = { what: "drill", unwindMs: 50, cleanup };
    const started = { yes: false };
    const run = runCommand(ctx, { command: "drill", interrupt }, stuckJob(done, started)).catch(() => {});
    await vi.waitFor(() => expect(started.yes).toBe(true));
    process.emit("SIGTERM", "SIGTERM");
    await vi.waitFor(() => expect(events).toContain("exit 143"), { timeout: 10_000 });
    expect(events).toEqual(["cleanup", "exit 143"]);
    expect(lines()).toEqual([
      expect.objectContaining({ command: "drill", result: "failure", error: "drill interrupted by SIGTERM" }),
    ]);
    await run;
  });

  it("a second request later than a second: the running job is audited as failed before the exit", async () => {
    const { ctx, lines } = context();
    const { done, exit } = mockExit();
    let now = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const started = { yes: false };
    const run = runCommand(ctx, { command: "verify", interrupt: true }, stuckJob(done, started)).catch(() => {});
    await vi.waitFor(() => expect(started.yes).toBe(true));
    process.emit("SIGINT", "SIGINT");
    now += 2000;
    process.emit("SIGINT", "SIGINT");
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(130), { timeout: 10_000 });
    expect(lines()).toEqual([
      expect.objectContaining({ command: "verify", result: "failure", error: "interrupted by SIGINT" }),
    ]);
    await run;
  });
});

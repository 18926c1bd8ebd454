// The HTTP code is loaded when the first notification goes out (start-up cost): a failure to load it
// (a package replaced under a running daemon, no file descriptor left) is a failed notification,
// logged as a warning, never an exception that would change the job's own result.
import { PassThrough } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { Logger } from "../../src/log.js";
import { notifiersFor } from "../../src/notify/notifier.js";

vi.mock("../../src/net/http-send.js", () => {
  throw new Error("EMFILE: too many open files");
});

describe("a notification whose HTTP code cannot be loaded", () => {
  it("is a logged warning, not a thrown error, for start and finish", async () => {
    const out = new PassThrough();
    let logged = "";
    out.on("data", (d) => (logged += d));
    const log = new Logger({ stream: out, human: true });
    const config = {
      notify: [
        { type: "webhook", url: "http://127.0.0.1:9/hook" },
        { type: "healthchecks", url: "http://127.0.0.1:9/ping" },
      ],
    } as unknown as Config;
    const n = notifiersFor(config, log, { timeoutMs: 100, attempts: 2, baseDelayMs: 1 });
    await expect(n.start("backup", "backup")).resolves.toBeUndefined();
    const at = new Date().toISOString();
    const outcome = { job: "backup", command: "backup", status: "success" as const, started_at: at, finished_at: at };
    await expect(n.finish({ ...outcome, summary: "ok" })).resolves.toBeUndefined();
    expect(logged).toMatch(/notification webhook failed/);
    expect(logged).toMatch(/notification healthchecks start failed/);
    // The stand-in above (vitest wraps its throw), not a refused connection to port 9:
    expect(logged).toMatch(/EMFILE|error when mocking a module/);
  });
});

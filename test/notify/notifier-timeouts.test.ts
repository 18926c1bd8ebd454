// Notification endpoints that stall must not hold a job: every request has a timeout, retries are
// bounded, and the failure is a logged warning, never an exception.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { Logger } from "../../src/log.js";
import { notifiersFor } from "../../src/notify/notifier.js";

describe("notification timeouts", () => {
  let server: Server;
  let url = "";
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      // /headers-only: answer the headers, then never finish the body; anything else: never answer.
      if (req.url?.startsWith("/headers-only")) res.writeHead(200, { "content-length": "100" }).write("x");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const run = async (path: string, human = true) => {
    const out = new PassThrough();
    let logged = "";
    out.on("data", (d) => (logged += d));
    const log = new Logger({ stream: out, human });
    const config = { notify: [{ type: "webhook", url: `${url}${path}` }] } as unknown as Config;
    requests = 0;
    const t0 = Date.now();
    await notifiersFor(config, log, { timeoutMs: 300, attempts: 3, baseDelayMs: 10 }).finish({
      job: "backup",
      command: "backup",
      status: "success",
      started_at: "",
      finished_at: "",
      summary: "ok",
    });
    return { ms: Date.now() - t0, logged };
  };

  it("a webhook that never answers: three bounded attempts, then a warning; the job goes on", async () => {
    const r = await run("/stall");
    expect(requests).toBe(3);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.logged).toMatch(/notification webhook failed after 3 attempts/);
  });

  it("a webhook that sends headers and then stalls the body does not hang either", async () => {
    const r = await run("/headers-only");
    expect(r.ms).toBeLessThan(5_000);
    expect(requests).toBeGreaterThanOrEqual(1);
  });

  it("the warning names the endpoint's host only: a webhook's path and query are its credential", async () => {
    const r = await run("/services/T000/B000/WEBHOOKSECRET123?token=QUERYSECRET", false);
    expect(r.logged).toMatch(/notification webhook failed after 3 attempts/);
    expect(r.logged).toContain(`"url":"${url}/…"`);
    expect(r.logged).not.toMatch(/WEBHOOKSECRET|QUERYSECRET|services/);
  });
});

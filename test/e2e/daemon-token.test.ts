// Issue 25: the daemon serves its status page on a non-loopback listener only with daemon.token_file,
// and then only to a request that has the token; /healthz and /metrics never need it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { startDaemon as daemon } from "../helpers/daemon-process.js";
import { until } from "../helpers/until.js";

const TOKEN = "daemon-token-test-0123456789";

describe("daemon status page off loopback", () => {
  it.each([
    { name: "with daemon.token_file: the page needs the token", token: true },
    { name: "without it: no page, health and metrics only", token: false },
  ])("$name", async ({ token }) => {
    const docs = tempDir("dt-docs");
    writeFileSync(join(docs, "a.txt"), "a");
    const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: docs }] });
    const port = await freePort();
    const tokenFile = join(tempDir("dt-token"), "token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const config = repo.write((c) => {
      c.state_dir = tempDir("dt-state");
      c.lock_dir = tempDir("dt-lock");
      c.daemon = { listen: `0.0.0.0:${port}`, ...(token ? { token_file: tokenFile } : {}) };
    });
    const schedule = join(repo.dir, "quiet.yaml");
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "0 0 1 1 *" }\n`);
    const d = daemon(config, schedule);
    const base = `http://127.0.0.1:${port}`;
    try {
      await until(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200);
      expect((await fetch(`${base}/metrics`)).status).toBe(200);
      const anonymous = await fetch(`${base}/`);
      if (token) {
        expect(anonymous.status).toBe(401);
        const page = await fetch(`${base}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
        expect(page.status).toBe(200);
        expect(page.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
        expect(await page.text()).toContain("<td>docs</td>");
        expect(d.log()).toMatch(/status page on http:\/\/0\.0\.0\.0:\d+\/ \(token required\)/);
      } else {
        expect(anonymous.status).toBe(404);
        expect(d.log()).toContain("status page: only on a 127.0.0.1 listener, or with daemon.token_file");
      }
      expect(d.log()).not.toContain(TOKEN);
    } finally {
      expect(await d.stop(), d.log()).toBe(0);
    }
  });
});

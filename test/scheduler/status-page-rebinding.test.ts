// DNS rebinding: a web page on evil.example that re-points its name to 127.0.0.1 makes the browser
// send its requests to the loopback listener with "Host: evil.example:PORT". Without a token the
// page must answer only requests addressed to a loopback name, or any site could read it.
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { DaemonMetrics, startHealthServer } from "../../src/scheduler/health.js";
import { daemonView } from "../../src/scheduler/daemon-view.js";
import { renderStatus } from "../../src/scheduler/status-page.js";

function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("status page without a token", () => {
  it("answers loopback Host names only (DNS rebinding)", async () => {
    const m = new DaemonMetrics();
    const server = await startHealthServer("127.0.0.1:0", m, { render: () => renderStatus(daemonView(m)) });
    try {
      const port = (server.address() as AddressInfo).port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`])
        expect([host, (await get(port, "/", host)).status]).toEqual([host, 200]);
      for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`]) {
        const r = await get(port, "/status", host);
        expect([host, r.status]).toEqual([host, 403]);
        expect(r.body).not.toContain("<html");
      }
      expect((await get(port, "/metrics", `evil.example:${port}`)).status).toBe(200); // scrapers are not browsers
    } finally {
      server.close();
    }
  });
});

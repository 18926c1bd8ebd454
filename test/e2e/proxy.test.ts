// HTTPS_PROXY / HTTP_PROXY / NO_PROXY for S3 (Ceph RGW) and notifications, through a real local
// forward proxy that counts what passes through it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxy, type CountingProxy } from "../helpers/connect-proxy.js";
import { startReceiver } from "../helpers/http-receiver.js";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";

const s3 = inject("s3");

describe.skipIf(!s3)("outbound proxy", () => {
  let proxy: CountingProxy;
  beforeAll(async () => (proxy = await startProxy()));
  afterAll(() => proxy.close());
  const data = tempDir("proxydata");
  writeFileSync(join(data, "f.bin"), Buffer.alloc(200_000, 3));
  const endpointHost = () => new URL(s3!.endpoint).host;

  it("S3 requests and notifications go through HTTP_PROXY; backup and verify succeed; the proxy password never shows", async () => {
    const hook = await startReceiver();
    try {
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
      const cfg = repo.write((c) => (c.notify = [{ type: "webhook", url: `${hook.url}/hook` }]));
      const proxyUrl = proxy.url.replace("http://", "http://strongbox:pr0xy-s3cret@");
      const env = { HTTP_PROXY: proxyUrl };
      const b = await runCli(["-c", cfg, "--json", "backup", "now"], { env });
      expect(b.stderr).not.toMatch(/"level":"error"/);
      expect(b.code).toBe(0);
      const id = JSON.parse(b.stdout).id;
      const v = await runCli(["-c", cfg, "verify", id], { env });
      expect(v.stdout.trim()).toBe(`${id}  OK`);
      expect(proxy.counts.get(endpointHost()) ?? 0).toBeGreaterThan(3);
      expect(proxy.counts.get(new URL(hook.url).host)).toBe(1);
      expect(hook.calls).toHaveLength(1);
      expect(proxy.auth.every((a) => a === `Basic ${Buffer.from("strongbox:pr0xy-s3cret").toString("base64")}`)).toBe(true);
      const d = await runCli(["-c", cfg, "doctor"], { env });
      expect(d.stdout).toMatch(new RegExp(`proxy\\s+S3 ${endpointHost()} through ${proxy.url}; webhook`));
      for (const out of [b.stdout, b.stderr, v.stderr, d.stdout, d.stderr]) expect(out).not.toContain("pr0xy-s3cret");
    } finally {
      await hook.close();
    }
  });

  it("NO_PROXY matching the endpoint sends nothing through the proxy", async () => {
    const before = proxy.total();
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
    const b = await runCli(["-c", repo.configFile, "backup", "now"], { env: { HTTP_PROXY: proxy.url, NO_PROXY: `localhost,${new URL(s3!.endpoint).hostname}` } });
    expect(b.code).toBe(0);
    expect(proxy.total()).toBe(before);
  });

  it("a dead proxy: a one-line error naming the proxy, exit 1, within the configured timeouts", async () => {
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
    const cfg = repo.write((c) => {
      c.repository.s3.retry = { attempts: 2, base_delay: "0.1s", max_delay: "0.2s" };
      c.repository.s3.timeouts = { connect: "2s", idle: "5s", request: "10s" };
    });
    const t0 = Date.now();
    const r = await runCli(["-c", cfg, "backup", "now"], { env: { HTTP_PROXY: "http://127.0.0.1:9" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/strongbox: error: .*the proxy http:\/\/127\.0\.0\.1:9 is unreachable or refused the connection/);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("strongbox:"))).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});

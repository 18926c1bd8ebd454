// HTTPS_PROXY / HTTP_PROXY / NO_PROXY for S3 (Ceph RGW) and notifications, through a real local
// forward proxy that counts what passes through it.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
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
  /** A backup and a verify of it through the proxy settings in `env`: both must succeed. */
  const backupAndVerify = async (cfg: string, env: Record<string, string>) => {
    const b = await runCli(["-c", cfg, "--json", "backup", "now"], { env });
    expect(b.stderr).not.toMatch(/"level":"error"/);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const v = await runCli(["-c", cfg, "verify", id], { env });
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    return { b, v };
  };

  it("S3 requests and notifications go through HTTP_PROXY; backup and verify succeed; the proxy password never shows", async () => {
    const hook = await startReceiver();
    try {
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
      const cfg = repo.write((c) => (c.notify = [{ type: "webhook", url: `${hook.url}/hook` }]));
      const proxyUrl = proxy.url.replace("http://", "http://strongbox:pr0xy-s3cret@");
      const env = { HTTP_PROXY: proxyUrl };
      const { b, v } = await backupAndVerify(cfg, env);
      expect(proxy.counts.get(endpointHost()) ?? 0).toBeGreaterThan(3);
      expect(proxy.counts.get(new URL(hook.url).host)).toBe(1);
      expect(hook.calls).toHaveLength(1);
      expect(proxy.auth.every((a) => a === `Basic ${Buffer.from("strongbox:pr0xy-s3cret").toString("base64")}`)).toBe(
        true,
      );
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
    const b = await runCli(["-c", repo.configFile, "backup", "now"], {
      env: { HTTP_PROXY: proxy.url, NO_PROXY: `localhost,${new URL(s3!.endpoint).hostname}` },
    });
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
    expect(r.stderr).toMatch(
      /strongbox: error: .*the proxy http:\/\/127\.0\.0\.1:9 is unreachable or refused the connection/,
    );
    expect(
      r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("strongbox:")),
    ).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("HTTPS_PROXY: S3 over https and an https webhook go through CONNECT tunnels, every connection", async () => {
    // A self-signed certificate for 127.0.0.1, trusted by the child through NODE_EXTRA_CA_CERTS.
    const dir = tempDir("proxytls");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-days",
        "2",
      ],
      { cwd: dir, stdio: "ignore" },
    );
    const tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
    // TLS in front of Ceph RGW (which speaks plain http here), counting the connections it gets.
    const rgw = new URL(s3!.endpoint);
    let frontConnections = 0;
    const open = new Set<Socket>();
    const front = createTlsServer(tls, (c) => {
      frontConnections++;
      const up = connect(Number(rgw.port), rgw.hostname);
      c.pipe(up).pipe(c);
      c.on("error", () => up.destroy());
      up.on("error", () => c.destroy());
    });
    front.on("connection", (s) => (open.add(s), s.on("close", () => open.delete(s))));
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    const frontHost = `127.0.0.1:${(front.address() as AddressInfo).port}`;
    const hooks: string[] = [];
    const hook = createHttpsServer(tls, (req, res) => {
      req.resume();
      req.on("end", () => (hooks.push(req.url!), res.end("OK")));
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const hookHost = `127.0.0.1:${(hook.address() as AddressInfo).port}`;
    try {
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
      const cfg = repo.write((c) => {
        c.repository.s3.endpoint = `https://${frontHost}`;
        c.notify = [{ type: "webhook", url: `https://${hookHost}/hook` }];
      });
      const before = new Map(proxy.counts);
      // HTTP_PROXY points nowhere: an https request that used it (or went direct) would show.
      const env = {
        HTTPS_PROXY: proxy.url,
        HTTP_PROXY: "http://127.0.0.1:9",
        NODE_EXTRA_CA_CERTS: join(dir, "cert.pem"),
      };
      await backupAndVerify(cfg, env);
      const tunnels = (host: string) => (proxy.counts.get(host) ?? 0) - (before.get(host) ?? 0);
      expect(tunnels(frontHost)).toBeGreaterThanOrEqual(2); // one process each, at least
      expect(frontConnections).toBe(tunnels(frontHost)); // no connection reached S3 except through a tunnel
      expect(tunnels(hookHost)).toBe(1);
      expect(hooks).toEqual(["/hook"]);
    } finally {
      for (const s of open) s.destroy();
      await new Promise((r) => front.close(r));
      hook.closeAllConnections();
      await new Promise((r) => hook.close(r));
    }
  });
});

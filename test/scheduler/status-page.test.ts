// Issue 25: the status page escapes every name (hostile source names, ids, drill checks, failures), sends a
// strict CSP with no script, stays bounded on a long history, and asks for the token when one is set.
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { DaemonMetrics } from "../../src/scheduler/health.js";
import { startHealthServer } from "../../src/scheduler/health.js";
import { daemonView } from "../../src/scheduler/daemon-view.js";
import { esc, renderStatus, STATUS_CSP } from "../../src/scheduler/status-page.js";

const EVIL = `<script>alert("x")</script>'"&\u0007\u001b[31m\u2028<img src=x onerror=alert(1)>`;

function hostile(): DaemonMetrics {
  const m = new DaemonMetrics();
  m.sourceMaxAge.set(EVIL, 3600_000);
  m.recordBackup({
    stored_bytes: 5,
    finished_at: new Date().toISOString(),
    sources: [{ name: EVIL, kind: "full", stored_bytes: 5 }],
    partial: [EVIL],
    failed: [{ name: EVIL }],
  });
  m.recordDrill(false);
  m.watched = [{ name: EVIL, command: "backup", deadlineMs: 1, jitterMs: 0, nextAfter: () => null }];
  for (let i = 0; i < 300; i++)
    m.recordRun({
      job: EVIL,
      command: "drill",
      started: Date.now() - (300 - i) * 1000,
      duration_s: i,
      status: i % 2 ? "success" : "failure",
      failure: EVIL,
      backup: {
        id: EVIL,
        stored_bytes: i,
        partial: [EVIL],
        failed: [EVIL],
        sources: [{ name: EVIL, kind: "diff", stored_bytes: i }],
      },
      drill: { id: EVIL, backup_id: EVIL, result: "fail", checks: [{ name: EVIL, ok: false, detail: EVIL }] },
    });
  return m;
}

describe("status page", () => {
  it("escapes every name from the repository or the schedule; no script, no control characters", () => {
    const html = renderStatus(daemonView(hostile()));
    expect(html).not.toMatch(/<script|<img|onerror=alert\(1\)>|\u0007|\u001b|\u2028/i);
    expect(html).toContain(esc(EVIL));
    expect(esc(EVIL)).toBe(
      "&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#39;&#34;&#38;\ufffd\ufffd[31m\ufffd&#60;img src=x onerror=alert(1)&#62;",
    );
    // Bounded: 100 rows of the 300 runs kept, newest first.
    expect(html.match(/<tr><td>\d{4}-/g)?.length).toBe(100);
    expect(html).toMatch(/Duration per backup \(max 5m\)/); // the newest 100 runs: durations 200..299 s
  });

  it("serves it with a strict CSP, and only with the token when one is set", async () => {
    const m = hostile();
    const render = () => renderStatus(daemonView(m));
    const server = await startHealthServer("127.0.0.1:0", m, { render, token: "s3cret-token" });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const none = await fetch(`${base}/`);
      expect(none.status).toBe(401);
      expect(await none.text()).not.toContain("script");
      expect(none.headers.get("www-authenticate")).toMatch(/^Basic/);
      expect((await fetch(`${base}/status`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const basic = await fetch(`${base}/`, {
        headers: { authorization: `Basic ${Buffer.from("any:s3cret-token").toString("base64")}` },
      });
      expect(basic.status).toBe(200);
      const csp = basic.headers.get("content-security-policy")!;
      expect(csp).toBe(STATUS_CSP);
      expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*';/);
      expect(csp).not.toMatch(/unsafe|script-src|http/);
      const html = await basic.text();
      expect(html).not.toContain("s3cret-token");
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toMatch(/<[a-z]+[^>]*\s(src|href)=/i); // no asset loaded at all
      const bearer = await fetch(`${base}/status`, { headers: { authorization: "Bearer s3cret-token" } });
      expect(bearer.status).toBe(200);
      expect(
        (await fetch(`${base}/`, { method: "POST", headers: { authorization: "Bearer s3cret-token" } })).status,
      ).toBe(405);
      expect((await fetch(`${base}/metrics`)).status).toBe(200); // Prometheus still scrapes without it
    } finally {
      server.close();
    }
  });
});

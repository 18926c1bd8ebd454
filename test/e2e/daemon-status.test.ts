// Issue 25: a restarted daemon still knows its last results (state_dir): /metrics, /healthz and the status
// page show the backup and the drill the previous daemon ran, and the page's numbers match `list --json`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { startDaemon as daemon } from "../helpers/daemon-process.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

describe("daemon results across a restart", () => {
  it(
    "metrics, /healthz and the status page after a restart show the last backup and drill",
    { timeout: 120_000 },
    async () => {
      const docs = tempDir("ds-docs");
      writeFileSync(join(docs, "a.txt"), "a".repeat(5000));
      const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: docs }] });
      const port = await freePort(); // the kernel's pick: never a port an outgoing connection holds
      const base = `http://127.0.0.1:${port}`;
      const config = repo.write((c) => {
        c.state_dir = tempDir("ds-state");
        c.lock_dir = tempDir("ds-lock");
        c.daemon = { listen: `127.0.0.1:${port}` };
      });
      const busy = join(repo.dir, "busy.yaml");
      writeFileSync(
        busy,
        `jobs:\n  - { name: nightly, command: backup, cron: "*/2 * * * * *" }\n  - { name: drill, command: drill, cron: "*/3 * * * * *" }\n`,
      );
      const first = daemon(config, busy);
      try {
        await until(async () => {
          const t = await (await fetch(`${base}/metrics`)).text();
          return /strongbox_last_drill_passed 1/.test(t) && /strongbox_job_last_run_success\{job="nightly"\} 1/.test(t);
        }, 90_000);
      } finally {
        expect(await first.stop(), first.log()).toBe(0);
      }
      // The restarted daemon runs nothing soon: all it shows, it restored.
      const quiet = join(repo.dir, "quiet.yaml");
      writeFileSync(quiet, `jobs:\n  - { name: nightly, command: backup, cron: "0 0 1 1 *" }\n`);
      const second = daemon(config, quiet);
      try {
        const metrics = await until(async () => (await fetch(`${base}/metrics`)).text());
        expect(second.log()).toMatch(/restored the last results from .*daemon\/[0-9a-f]{16}\.json/);
        expect(metrics).toMatch(/strongbox_job_last_success_timestamp_seconds\{job="nightly"\} \d/);
        expect(metrics).toContain("strongbox_last_drill_passed 1");
        expect(metrics).toMatch(/strongbox_source_backup_age_seconds\{source="docs"\} \d/);
        expect(metrics).toMatch(/strongbox_source_backup_max_age_seconds\{source="docs"\} \d/);
        const health = await fetch(`${base}/healthz`);
        expect(health.status).toBe(200);
        expect((await health.json()).jobs.nightly.lastStatus).toBe("success");

        const list = JSON.parse((await runCli(["-c", config, "list", "--json"])).stdout) as {
          id: string;
          newest_of?: string[];
          size: number;
        }[];
        const newest = list.find((b) => b.newest_of?.includes("docs"))!;
        const page = await fetch(`${base}/`);
        expect(page.status).toBe(200);
        expect(page.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
        const html = await page.text();
        // Every backup the daemon ran is in the repository, with the size it stored; the newest one is shown.
        const shown = [...html.matchAll(/backup (\d{8}T\d{6}Z[^ <]*)/g)].map((m) => m[1]);
        expect(shown.length).toBeGreaterThan(0);
        expect(shown).toContain(newest.id);
        for (const id of shown) expect(list.map((b) => b.id)).toContain(id);
        expect(html).toMatch(/Last drill: <span class="ok">PASS<\/span>/);
        expect(html).toContain("<td>docs</td>");
      } finally {
        await second.stop();
      }
    },
  );
});

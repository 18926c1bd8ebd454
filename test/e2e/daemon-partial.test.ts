// Issue 21: the daemon's /metrics says when its last backup was partial or left a failed source out.
import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";

async function until<T>(f: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("daemon /metrics after a partial backup that left a failed source out", () => {
  it(
    "strongbox_backup_partial 1, the unreadable paths of the partial source, strongbox_backup_source_failed 1 for the failed one, the job failed",
    { timeout: 60_000 },
    async () => {
      const home = tempDir("dp-home");
      chmodSync(home, 0o755);
      chownSync(home, 65534, 65534);
      const docs = tempDir("dp-docs");
      chmodSync(docs, 0o755);
      writeFileSync(join(docs, "a.txt"), "a", { mode: 0o644 });
      chmodSync(join(docs, "a.txt"), 0o644);
      mkdirSync(join(docs, "secret"), { mode: 0o700 });
      const repo = makeRepo({
        sources: [
          { name: "docs", type: "files", path: docs, on_unreadable: "partial" },
          { name: "gone", type: "files", path: "/nonexistent/strongbox-daemon" },
        ],
      });
      chmodSync(repo.dir, 0o755);
      mkdirSync(join(repo.dir, "repository"));
      chownSync(join(repo.dir, "repository"), 65534, 65534);
      const port = await freePort();
      const config = repo.write((c) => {
        delete c.encryption.identity_file;
        c.lock_dir = home;
        c.state_dir = home;
        c.daemon = { listen: `127.0.0.1:${port}` };
      });
      chmodSync(config, 0o644);
      const schedule = join(repo.dir, "s.yaml");
      writeFileSync(schedule, `jobs:\n  - { name: tick, command: backup, cron: "*/2 * * * * *" }\n`);
      chmodSync(schedule, 0o644);
      const child = spawn(
        "runuser",
        ["-u", "nobody", "--", process.execPath, BIN, "-c", config, "daemon", "--schedule", schedule],
        {
          env: { PATH: process.env.PATH, TMPDIR: "/tmp" },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      child.stderr.resume();
      const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      try {
        const text = await until(async () => {
          const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /strongbox_job_last_run_success\{job="tick"\} 0/.test(t) && t;
        });
        expect(text).toContain("strongbox_backup_partial 1");
        expect(text).toContain('strongbox_backup_unreadable_paths{source="docs"} 1');
        expect(text).toContain('strongbox_backup_source_failed{source="gone"} 1');
        expect(text).toContain('strongbox_backup_source_failed{source="docs"} 0');
      } finally {
        child.kill("SIGTERM");
        await exited;
      }
    },
  );
});

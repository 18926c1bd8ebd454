// Issue 25: `strongbox ui` serves the status page from the repository with the reader role: 127.0.0.1 by
// default; another address only with a token from a file (it refuses to start without one).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatBytes } from "../../src/progress.js";
import { secondApart } from "../helpers/backup-clock.js";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

describe("strongbox ui", () => {
  it(
    "refuses a non-loopback address without a token; serves the repository's backups with it",
    { timeout: 90_000 },
    async () => {
      const docs = tempDir("ui-docs");
      writeFileSync(join(docs, "a.txt"), "a".repeat(3000));
      const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: docs }] });
      const config = repo.write((c) => (c.lock_dir = tempDir("ui-lock")));
      const clock = secondApart();
      for (let i = 0; i < 2; i++)
        expect((await runCli(["-c", config, "backup", "now"], { env: clock() })).code).toBe(0);
      expect((await runCli(["-c", config, "drill", "latest"])).code).toBe(0);

      // A port must be digits: "" was taken as 0 (a random port) and " 0x50" as 80.
      for (const listen of ["127.0.0.1:", "127.0.0.1: 0x50", "127.0.0.1:8e1", "127.0.0.1:99999"]) {
        const odd = await runCli(["-c", config, "ui", "--listen", listen]);
        expect([odd.code, odd.stderr.trim()]).toEqual([
          2,
          `strongbox: error: --listen must be HOST:PORT, not '${listen}'`,
        ]);
      }
      const refused = await runCli(["-c", config, "ui", "--listen", "0.0.0.0:1"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--listen 0\.0\.0\.0:1 is reachable from other hosts: give --token-file FILE/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      const short = join(repo.dir, "short-token");
      writeFileSync(short, "abc\n");
      expect((await runCli(["-c", config, "ui", "--listen", "0.0.0.0:1", "--token-file", short])).stderr).toMatch(
        /at least 16 characters/,
      );

      const tokenFile = join(repo.dir, "ui-token");
      writeFileSync(tokenFile, "a-long-enough-token-1234\n", { mode: 0o600 });
      const port = await freePort(); // the kernel's pick: never a port an outgoing connection holds
      const child = spawn(
        process.execPath,
        [BIN, "-c", config, "ui", "--listen", `0.0.0.0:${port}`, "--token-file", tokenFile],
        {
          env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let log = "";
      child.stderr.on("data", (d) => (log += d));
      const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      try {
        const base = `http://127.0.0.1:${port}`;
        const anon = await until(() => fetch(`${base}/`));
        expect(anon.status).toBe(401);
        const page = await fetch(`${base}/`, { headers: { authorization: "Bearer a-long-enough-token-1234" } });
        expect(page.status).toBe(200);
        expect(page.headers.get("content-security-policy")).toMatch(/^default-src 'none'; style-src 'sha256-/);
        const html = await page.text();
        const list = JSON.parse((await runCli(["-c", config, "list", "--json"])).stdout) as {
          id: string;
          size: number;
        }[];
        expect(list.length).toBe(2);
        for (const b of list) expect(html).toContain(`backup ${b.id}`);
        for (const b of list) expect(html).toContain(`<td>${formatBytes(b.size)}</td>`);
        expect(html).toMatch(/Last drill: <span class="ok">PASS<\/span>/);
        expect(html).not.toContain("a-long-enough-token-1234");
        expect(html).not.toContain(repo.identityFile);
      } finally {
        child.kill("SIGTERM");
        expect(await exited, log).toBe(0);
      }
    },
  );
});

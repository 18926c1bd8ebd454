// Issue 25: the status page in a real browser (Debian's chromium via playwright-core, no browser download):
// a daemon with real backups and a drill; the numbers shown match `list --json`; the token rule of
// `strongbox ui`; no script runs and the CSP refuses nothing. The screenshot goes to a temp dir;
// STRONGBOX_UPDATE_SCREENSHOT=1 writes it to docs/status-page.png, the README's picture, instead (an
// ordinary run used to rewrite that tracked file every time).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { formatBytes } from "../../src/progress.js";
import { BIN, makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

const CHROMIUM = "/usr/bin/chromium";
const has = existsSync(CHROMIUM) && spawnSync(CHROMIUM, ["--version"]).status === 0;
const required = process.env.CI === "true";
const screenshot =
  process.env.STRONGBOX_UPDATE_SCREENSHOT === "1"
    ? new URL("../../docs/status-page.png", import.meta.url).pathname
    : join(tempDir("status-shot"), "status-page.png");

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  /** Its log's last 15 lines, for a wait's timeout message. */
  const tail = () => log.split("\n").slice(-15).join("\n");
  return { log: () => log, tail, stop: () => (child.kill("SIGTERM"), exited) };
}

describe("status page in headless Chromium", () => {
  it.skipIf(!has && !required)(
    "shows the daemon's backups and drill as list --json has them; ui asks for its token",
    // Above the sum of its waits' own bounds (120 + 60 + 60 + 60 s), so a slow wait fails with its name.
    { timeout: 420_000 },
    async () => {
      expect(has, `${CHROMIUM} is missing (apt-get install chromium); CI requires it`).toBe(true);
      const docs = tempDir("sb-docs");
      writeFileSync(join(docs, "a.txt"), "a".repeat(20_000));
      const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: docs }] });
      const port = await freePort(); // the kernel's pick: never a port an outgoing connection holds
      const config = repo.write((c) => {
        c.state_dir = tempDir("sb-state");
        c.lock_dir = tempDir("sb-lock");
        c.daemon = { listen: `127.0.0.1:${port}` };
      });
      const schedule = join(repo.dir, "s.yaml");
      writeFileSync(
        schedule,
        `jobs:\n  - { name: nightly, command: backup, cron: "*/2 * * * * *" }\n  - { name: weekly-drill, command: drill, cron: "*/5 * * * * *" }\n`,
      );
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      const daemon = start(["-c", config, "daemon", "--schedule", schedule]);
      let ui: ReturnType<typeof start> | undefined;
      try {
        const base = `http://127.0.0.1:${port}`;
        await until(
          async () => {
            const t = await (await fetch(`${base}/metrics`)).text();
            const backups = [...t.matchAll(/strongbox_job_last_run_success\{job="nightly"\} 1/g)].length;
            return /strongbox_last_drill_passed 1/.test(t) && backups > 0;
          },
          120_000,
          () => `a backup and a passed drill in /metrics; the daemon's log ends:\n${daemon.tail()}`,
        );
        await until(
          async () => (await (await fetch(`${base}/`)).text()).split("backup 2").length > 3,
          60_000,
          () => `three backups on the page; the daemon's log ends:\n${daemon.tail()}`,
        );
        expect(await daemon.stop(), daemon.log()).toBe(0);
        // The page as the stopped daemon left it: a restarted one on the same state shows the same runs.
        const quiet = join(repo.dir, "quiet.yaml");
        writeFileSync(
          quiet,
          `jobs:\n  - { name: nightly, command: backup, cron: "0 0 1 1 *" }\n  - { name: weekly-drill, command: drill, cron: "0 4 * * 0" }\n`,
        );
        const again = start(["-c", config, "daemon", "--schedule", quiet]);
        try {
          const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
          const refused: string[] = [];
          page.on("console", (m) => refused.push(m.text()));
          await until(
            async () => (await page.goto(`${base}/`))?.status() === 200,
            60_000,
            () => `the restarted daemon's page; its log ends:\n${again.tail()}`,
          );
          const list = JSON.parse((await runCli(["-c", config, "list", "--json"])).stdout) as {
            id: string;
            size: number;
            newest_of?: string[];
            last_drill: { result: string } | null;
          }[];
          const text = await page.locator("body").innerText();
          // Every backup in the timeline is in the repository with the size list --json gives it.
          const rows = await page.locator("tr", { hasText: "backup 2" }).allInnerTexts();
          expect(rows.length).toBeGreaterThan(0);
          for (const row of rows) {
            const id = /backup (\S+)/.exec(row)![1];
            const b = list.find((x) => x.id === id);
            expect(b, `${id} in list --json`).toBeDefined();
            expect(row).toContain(formatBytes(b!.size));
          }
          const newest = list.find((b) => b.newest_of?.includes("docs"))!;
          expect(text).toContain(newest.id);
          expect(text).toMatch(/Last drill: PASS/);
          expect(list.some((b) => b.last_drill?.result === "pass")).toBe(true);
          expect(await page.locator("svg polyline").count()).toBe(2);
          expect(await page.locator("script").count()).toBe(0);
          expect(refused).toEqual([]); // no CSP violation reported
          await page.screenshot({ path: screenshot, fullPage: false });
          expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe("PNG");
        } finally {
          await again.stop();
        }

        // strongbox ui on a non-loopback address: the browser gets 401 without the token, the page with it.
        const tokenFile = join(repo.dir, "token");
        writeFileSync(tokenFile, "browser-token-0123456789\n", { mode: 0o600 });
        const uiPort = await freePort();
        ui = start(["-c", config, "ui", "--listen", `0.0.0.0:${uiPort}`, "--token-file", tokenFile]);
        // Without credentials Chromium's navigation fails on the Basic challenge; its request API shows the 401.
        const anon = await browser.newContext();
        const denied = await until(
          () => anon.request.get(`http://127.0.0.1:${uiPort}/`),
          60_000,
          () => `strongbox ui to answer; its log ends:\n${ui!.tail()}`,
        );
        expect(denied.status()).toBe(401);
        const ctx = await browser.newContext({
          httpCredentials: { username: "me", password: "browser-token-0123456789" },
        });
        const authed = await ctx.newPage();
        expect((await authed.goto(`http://127.0.0.1:${uiPort}/`))!.status()).toBe(200);
        const uiText = await authed.locator("body").innerText();
        for (const b of list0(await runCli(["-c", config, "list", "--json"]))) expect(uiText).toContain(b);
      } finally {
        await ui?.stop();
        await daemon.stop();
        await browser.close();
      }
    },
  );
});

const list0 = (r: { stdout: string }) => (JSON.parse(r.stdout) as { id: string }[]).map((b) => b.id);

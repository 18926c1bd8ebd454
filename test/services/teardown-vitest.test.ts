// A real vitest run stopped by a signal leaves no service running. vitest's own SIGINT/SIGTERM handler
// ends its process before the global setup's handlers run (test/helpers/started-services.ts): the reaper
// process (test/helpers/service-reaper.ts) is what stops the services then. Before it, a `.ci/run`
// stopped with SIGTERM left Ceph's mon, osd and radosgw and the PostgreSQL server running.
// The worker fork ends too (die-with-run.ts), even one whose test handles SIGINT as an in-process command
// does; and what a test started in its temp dir (a server of its own, as pitr's PostgreSQL) is stopped and
// the dir removed (the run's temp-dir list, read by the reaper). Before, both outlived the run.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { processesUsing, running, stopProcessesUsing } from "../helpers/service-processes.js";

const repo = new URL("../../", import.meta.url).pathname;

/** Until `cond` holds, or 30 s (then the test fails on what it expected). */
async function until(cond: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 30_000; !cond() && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
}

const sweepAfter: string[] = [];
afterAll(async () => {
  for (const dir of sweepAfter) {
    await stopProcessesUsing(dir, { termMs: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A project whose global setup registers `service` and the temp-dir list as the suite's does
 * (StartedServices.add, listTempDirs) and says "registered", with the suite's die-with-run setup file. Its
 * one test makes a temp dir (tempDir), starts a detached process there (as a test's PostgreSQL is), handles
 * SIGINT (as an in-process command does), writes its fork's pid and the dir to `started`, and waits far
 * longer than this test does.
 */
function project(service: string): { dir: string; started: string } {
  const dir = tempDir("vitest-run");
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "t"));
  const helper = (name: string) => JSON.stringify(join(repo, "test/helpers", name));
  const started = join(dir, "started.json");
  writeFileSync(
    join(dir, "setup.ts"),
    `import { listTempDirs, StartedServices } from ${helper("started-services.ts")};\n` +
      `export default function () {\n  const s = new StartedServices();\n  s.add(${JSON.stringify(service)});\n` +
      `  listTempDirs(s);\n  console.log("registered");\n}\n`,
  );
  writeFileSync(
    join(dir, "t/wait.test.ts"),
    `import { execFileSync } from "node:child_process";\nimport { renameSync, writeFileSync } from "node:fs";\n` +
      `import { it } from "vitest";\nimport { tempDir } from ${helper("temp-dir.ts")};\n` +
      `it("waits", () => {\n  const own = tempDir("reaped");\n` +
      `  execFileSync("sh", ["-c", "(setsid sh -c 'while :; do sleep 0.2; done' </dev/null >/dev/null 2>&1 &)"], { cwd: own });\n` +
      `  process.on("SIGINT", () => {});\n` +
      `  writeFileSync(${JSON.stringify(`${started}.part`)}, JSON.stringify({ pid: process.pid, own }));\n` +
      `  renameSync(${JSON.stringify(`${started}.part`)}, ${JSON.stringify(started)});\n` +
      `  return new Promise((r) => setTimeout(r, 600_000));\n}, 700_000);\n`,
  );
  writeFileSync(
    join(dir, "vitest.config.ts"),
    `export default { test: { globalSetup: ["./setup.ts"], setupFiles: [${helper("die-with-run.ts")}] } };\n`,
  );
  return { dir, started };
}

describe("a vitest run told to stop", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: the run ends and its service's processes are stopped`, { timeout: 120_000 }, async () => {
      const service = tempDir("svc-vitest");
      sweepAfter.push(service);
      // A daemon as Ceph's are: forked away into its own session, naming its directory in its arguments.
      execFileSync("sh", [
        "-c",
        `(setsid sh -c 'while :; do sleep 0.2; done' fake-daemon -c ${service}/ceph.conf </dev/null >/dev/null 2>&1 &)`,
      ]);
      await until(() => processesUsing(service).length === 1);
      expect(processesUsing(service)).toHaveLength(1);

      const { dir, started } = project(service);
      sweepAfter.push(dir); // the run itself (its processes work in dir), should this test fail before it ends
      // A process group of its own, as a terminal gives a command: SIGINT goes to all of it (a Ctrl-C,
      // which the fork's in-process command catches), SIGTERM to vitest alone (a CI runner's stop). Its
      // temp dirs are listed for the reaper even if this run keeps them (STRONGBOX_KEEP_TEST_TMP).
      const run = spawn(process.execPath, [join(repo, "node_modules/vitest/vitest.mjs"), "run"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        env: { ...process.env, STRONGBOX_KEEP_TEST_TMP: "" },
      });
      const exited = once(run, "exit");
      let out = "";
      await new Promise<void>((resolve, reject) => {
        const seen = (d: Buffer) => (out += d).includes("registered") && resolve();
        run.stdout.on("data", seen);
        run.stderr.on("data", seen);
        run.once("exit", () => reject(new Error(`vitest ended before its setup registered the service: ${out}`)));
      });
      await until(() => existsSync(started));
      const test = JSON.parse(readFileSync(started, "utf8")) as { pid: number; own: string };
      sweepAfter.push(test.own);
      await until(() => processesUsing(test.own).length > 0); // the loop (and its sleep)
      expect(processesUsing(test.own).length, "the test's own detached process").toBeGreaterThan(0);
      if (signal === "SIGINT") process.kill(-run.pid!, signal);
      else run.kill(signal);
      await exited;
      await until(() => processesUsing(service).length === 0);
      expect(processesUsing(service)).toEqual([]);
      await until(() => !running(test.pid));
      expect(running(test.pid), "the worker fork outlived the run").toBe(false);
      await until(() => processesUsing(test.own).length === 0 && !existsSync(test.own));
      expect(processesUsing(test.own)).toEqual([]);
      expect(existsSync(test.own), "the test's temp dir").toBe(false);
    });
  }
});

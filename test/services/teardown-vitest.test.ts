// A real vitest run stopped by a signal leaves no service running. vitest's own SIGINT/SIGTERM handler
// ends its process before the global setup's handlers run (test/helpers/started-services.ts): the reaper
// process (test/helpers/service-reaper.ts) is what stops the services then. Before it, a `.ci/run`
// stopped with SIGTERM left Ceph's mon, osd and radosgw and the PostgreSQL server running.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { processesUsing, stopProcessesUsing } from "../helpers/service-processes.js";

const repo = new URL("../../", import.meta.url).pathname;

/** Until `cond` holds, or 30 s (then the test fails on what it expected). */
async function until(cond: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 30_000; !cond() && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
}

const sweepAfter: string[] = [];
afterAll(async () => {
  for (const dir of sweepAfter) await stopProcessesUsing(dir, { termMs: 1000 });
});

/**
 * A project whose global setup registers `service` as the suite's does (StartedServices.add) and says
 * "registered", and whose one test waits far longer than this test does.
 */
function project(service: string): string {
  const dir = tempDir("vitest-run");
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "t"));
  const setupModule = JSON.stringify(join(repo, "test/helpers/started-services.ts"));
  writeFileSync(
    join(dir, "setup.ts"),
    `import { StartedServices } from ${setupModule};\n` +
      `export default function () {\n  new StartedServices().add(${JSON.stringify(service)});\n` +
      `  console.log("registered");\n}\n`,
  );
  writeFileSync(
    join(dir, "t/wait.test.ts"),
    `import { it } from "vitest";\nit("waits", () => new Promise((r) => setTimeout(r, 600_000)), 700_000);\n`,
  );
  writeFileSync(join(dir, "vitest.config.ts"), `export default { test: { globalSetup: ["./setup.ts"] } };\n`);
  return dir;
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

      const dir = project(service);
      const run = spawn(process.execPath, [join(repo, "node_modules/vitest/vitest.mjs"), "run"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const exited = once(run, "exit");
      let out = "";
      await new Promise<void>((resolve, reject) => {
        const seen = (d: Buffer) => (out += d).includes("registered") && resolve();
        run.stdout.on("data", seen);
        run.stderr.on("data", seen);
        run.once("exit", () => reject(new Error(`vitest ended before its setup registered the service: ${out}`)));
      });
      run.kill(signal);
      await exited;
      await until(() => processesUsing(service).length === 0);
      expect(processesUsing(service)).toEqual([]);
    });
  }
});

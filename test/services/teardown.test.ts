// The suite leaves nothing running: the global setup's teardown stops every process its throwaway
// services started (SIGTERM, a bounded wait, then SIGKILL), after a normal run and when setup fails
// half-way; processes of other suites on the same machine are left alone.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import setup, { setupWith, type StartedServices } from "../helpers/global-setup.js";
import { processesUsing, stopProcessesUsing } from "../helpers/service-processes.js";

/** Until `cond` holds, or 20 s (then the test fails on what it expected). */
async function until(cond: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 20_000; !cond() && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
}

/**
 * A daemon as Ceph's are: forked away (its parent is init) into its own session, naming `dir` in its
 * arguments, or (`cwd`) only running in it as PostgreSQL's children do. `ignoreTerm` needs SIGKILL.
 * Neither forks once started: a shell loop's `sleep` is, between fork and exec, a second process with
 * the same arguments, and the counts below would see it now and then.
 */
function fakeDaemon(dir: string, o: { ignoreTerm?: boolean; cwd?: boolean } = {}): void {
  const script = `${o.ignoreTerm ? 'process.on("SIGTERM", () => {}); ' : ""}setInterval(() => {}, 1e9)`;
  const cmd = o.cwd ? "sleep 1000" : `'${process.execPath}' -e '${script}' fake-daemon -c ${dir}/ceph.conf`;
  execFileSync("sh", ["-c", `(setsid ${cmd} </dev/null >/dev/null 2>&1 &)`], { cwd: o.cwd ? dir : "/" });
}

const sweepAfter: string[] = [];
afterAll(async () => {
  for (const dir of sweepAfter) await stopProcessesUsing(dir, { termMs: 1000 });
});

describe("stopping a service's processes", () => {
  it("stops daemons that forked away, one ignoring SIGTERM, one found by its working directory; another directory's are untouched", async () => {
    const mine = tempDir("svc-mine");
    const other = tempDir("svc-other");
    sweepAfter.push(mine, other);
    fakeDaemon(mine);
    fakeDaemon(mine, { ignoreTerm: true });
    fakeDaemon(mine, { cwd: true });
    fakeDaemon(other);
    await until(() => processesUsing(mine).length === 3 && processesUsing(other).length === 1);
    expect(processesUsing(mine)).toHaveLength(3);
    const t0 = Date.now();
    expect(await stopProcessesUsing(mine, { termMs: 1000, killMs: 10_000 })).toEqual([]);
    expect(processesUsing(mine)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(12_000);
    expect(processesUsing(other)).toHaveLength(1);
    expect(await stopProcessesUsing(other)).toEqual([]);
  });
});

describe("a run that is told to stop (Ctrl-C, SIGTERM)", () => {
  const setupFile = new URL("../helpers/started-services.ts", import.meta.url).pathname;
  const viteNode = new URL("../../node_modules/vite-node/vite-node.mjs", import.meta.url).pathname;

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(
      `${signal}: the services' processes are stopped, and the run ends by the signal`,
      { timeout: 120_000 },
      async () => {
        const service = tempDir("svc-signal");
        sweepAfter.push(service);
        fakeDaemon(service);
        await until(() => processesUsing(service).length === 1);
        // A process that registered the service as the global setup does, then waits to be stopped.
        const script = join(tempDir("svc-signal-run"), "run.ts");
        writeFileSync(
          script,
          `import { StartedServices } from ${JSON.stringify(setupFile)};\n` +
            `new StartedServices().add(${JSON.stringify(service)});\n` +
            `console.log("registered");\nsetInterval(() => {}, 1000);\n`,
        );
        const run = spawn(process.execPath, [viteNode, script], { stdio: ["ignore", "pipe", "inherit"] });
        const exited = once(run, "exit");
        let out = "";
        await new Promise<void>((resolve, reject) => {
          run.stdout.on("data", (d) => (out += d).includes("registered") && resolve());
          run.once("exit", () => reject(new Error(`it ended before registering the service: ${out}`)));
        });
        run.kill(signal);
        expect((await exited)[1]).toBe(signal);
        await until(() => processesUsing(service).length === 0);
        expect(processesUsing(service)).toEqual([]);
      },
    );
  }
});

const have = (bin: string) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
const realServices =
  !process.env.STRONGBOX_TEST_S3_ENDPOINT &&
  !process.env.STRONGBOX_TEST_PG_URL &&
  ["radosgw", "ceph-mon", "ceph-osd"].every(have) &&
  spawnSync("sh", ["-c", "ls /usr/lib/postgresql/*/bin/initdb"]).status === 0;

/** Runs the global setup with its services under a TMPDIR of their own, so that their processes can be found. */
async function withOwnTmp<T>(run: (root: string) => Promise<T>): Promise<{ root: string; result: T }> {
  const root = tempDir("svc-setup");
  chmodSync(root, 0o755); // the postgres user reaches its cluster's directory inside
  sweepAfter.push(root);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = root;
  try {
    return { root, result: await run(root) };
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

describe("a setup that fails half-way", () => {
  it("after both services started: setup stops both (their own stop, then the sweep), removes their directories and throws", async () => {
    // The real start-up with stand-ins for Ceph (daemons forked away, naming their directory) and
    // PostgreSQL (a child found by its working directory, with a stop of its own): the code path a
    // real failure takes is the same, and real services cost two start-ups. The real teardown is below.
    const { root } = await withOwnTmp(async (root) => {
      const stopped: string[] = [];
      const start = async (project: { provide(key: string, v: unknown): void }, services: StartedServices) => {
        const ceph = services.add(mkdtempSync(join(root, "strongbox-ceph-")));
        fakeDaemon(ceph);
        fakeDaemon(ceph);
        project.provide("s3", null);
        const pg = services.add(mkdtempSync(join(root, "strongbox-pg-")), () => stopped.push("pg"));
        fakeDaemon(pg, { cwd: true });
        await until(() => processesUsing(ceph).length === 2 && processesUsing(pg).length === 1);
        expect(processesUsing(root)).toHaveLength(3);
        project.provide("pg", null);
      };
      const provided: string[] = [];
      const project = {
        provide(key: string) {
          provided.push(key);
          if (key === "pg") throw new Error("injected failure after both services started");
        },
      };
      await expect(setupWith(project as never, start as never)).rejects.toThrow(/injected failure/);
      expect(provided).toEqual(["s3", "pg"]);
      expect(stopped).toEqual(["pg"]);
    });
    expect(processesUsing(root)).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe.skipIf(!realServices)("the global setup's services (Ceph RGW, PostgreSQL)", () => {
  it("setup, then teardown: every process is gone when teardown returns", { timeout: 300_000 }, async () => {
    const { root, result: teardown } = await withOwnTmp(() => setup({ provide() {} } as never));
    expect(processesUsing(root).length).toBeGreaterThanOrEqual(4); // mon, osd, radosgw, postmaster and its children
    await teardown();
    expect(processesUsing(root)).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });
});

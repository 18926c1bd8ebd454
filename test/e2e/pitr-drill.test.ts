import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
// The base backup in-process; the drills stay processes (their restore_command runs this binary).
import { runInProcess } from "../helpers/run-in-process.js";
import { clusterAt, freePort, giveToPostgres, initCluster, PG_BIN, type TestCluster } from "../helpers/pg-cluster.js";
import { closeSegment, pushSettings, serverNow } from "../helpers/pitr-live.js";
import { until } from "../helpers/until.js";

const PASSWORD = "pitr-drill-pw";

/** Command lines of running processes that name `path` (a throwaway server's data directory lies below it). */
function processesUnder(path: string): string[] {
  return execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(path) && !l.startsWith("ps "));
}

describe.skipIf(!PG_BIN)("drill and restore --start of a postgres-cluster source", () => {
  let repo: TestRepo;
  let work: string;
  /** TMPDIR of the drills: their scratch space must be gone afterwards. */
  let scratch: string;
  /** A moment between rows 150 and 151: a recovery to it has 150 rows. */
  let T: string;
  const root = () => join(repo.dir, "repository");
  const walObjects = () =>
    (readdirSync(join(root(), "wal"), { recursive: true }) as string[]).filter((p) => /\.age$/.test(p)).sort();
  const drill = (args: string[], config = repo.configFile) =>
    runCli(["-c", config, "--json", "drill", ...args], { env: { TMPDIR: scratch } });
  const expectNothingLeft = () => {
    expect(readdirSync(scratch)).toEqual([]);
    expect(processesUnder(scratch)).toEqual([]);
  };

  beforeAll(async () => {
    work = tempDir("pitr-drill");
    scratch = tempDir("pitr-drill-tmp");
    chmodSync(scratch, 0o755);
    const src = await initCluster(work, PASSWORD, []);
    repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: src.url() }] });
    repo.config.drill = {
      checks: [{ source: "cluster", name: "every row is there", sql: "SELECT count(*) = 200 FROM kept" }],
    };
    repo.write();
    mkdirSync(root(), { recursive: true });
    giveToPostgres(repo.dir);
    const live: TestCluster = clusterAt(src.dataDir, src.port, PASSWORD, pushSettings(repo.configFile));
    try {
      live.start();
      await live.query("CREATE TABLE kept (id int); INSERT INTO kept SELECT generate_series(1, 100)");
      const b = await runInProcess(["-c", repo.configFile, "backup", "now"]);
      expect(b.stderr).not.toMatch(/error/i);
      expect(b.code).toBe(0);
      await live.query("INSERT INTO kept SELECT generate_series(101, 150)");
      T = await serverNow(live);
      await live.query("INSERT INTO kept SELECT generate_series(151, 200)");
      await closeSegment(live);
    } finally {
      // Stopped: the archive holds still while the drills run (and a drill that archived would show).
      live.stop();
    }
  }, 240_000);

  it("drill recovers to the end of the archive, runs the SQL checks there, reports the recovery point and the RPO, archives nothing", async () => {
    const before = walObjects();
    const d = await drill(["latest"]);
    expect(d.stderr).not.toMatch(/error/i);
    expect(d.code).toBe(0);
    const report = JSON.parse(d.stdout);
    expect(report.result).toBe("pass");
    expect(report.checks).toContainEqual(expect.objectContaining({ name: "cluster: every row is there", ok: true }));
    expect(report.checks).toContainEqual(
      expect.objectContaining({ name: expect.stringMatching(/^cluster: recovers to end of archive/), ok: true }),
    );
    const r = report.recovery.cluster;
    expect(r.state).toBe("promoted");
    expect(r.time > T).toBe(true);
    expect(r.rpo_s).toBeGreaterThanOrEqual(0);
    expect(r.rpo_s).toBeLessThan(600);
    expect(r.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(walObjects()).toEqual(before);
    expectNothingLeft();
    // The readable report says it too.
    const text = await runCli(["-c", repo.configFile, "drill", "latest"], { env: { TMPDIR: scratch } });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /cluster: recovered to \d{4}-.*Z \(LSN [0-9A-F]+\/[0-9A-F]+, target end of archive .*\); RPO \d+ s/,
    );
    expectNothingLeft();
  }, 240_000);

  it("drill --target-time holds recovery at T: the rows before T are there, the ones after are not", async () => {
    const config = repo.write((c) => {
      c.drill.checks = [{ source: "cluster", name: "150 rows at T", sql: "SELECT count(*) = 150 FROM kept" }];
    });
    giveToPostgres(config);
    const d = await drill(["latest", "--target-time", T], config);
    expect(d.stderr).not.toMatch(/error/i);
    expect(d.code).toBe(0);
    const report = JSON.parse(d.stdout);
    expect(report.checks).toContainEqual(expect.objectContaining({ name: "cluster: 150 rows at T", ok: true }));
    expect(report.recovery.cluster).toMatchObject({ state: "paused", target: expect.stringContaining("time ") });
    expect(report.recovery.cluster.time <= T).toBe(true);
    expectNothingLeft();
  }, 240_000);

  it("restore --start recovers to --target-time, stops the server, and the restored cluster has the rows before T only", async () => {
    const dir = join(work, "restored");
    const r = await runCli([
      ...["-c", repo.configFile, "--json", "restore", "latest", "--source", "cluster"],
      ...["--to-dir", dir, "--target-time", T, "--start"],
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.reached).toMatchObject({ state: "promoted", target: expect.stringContaining("time ") });
    expect(out.reached.time <= T).toBe(true);
    expect(existsSync(join(dir, "postmaster.pid"))).toBe(false);
    expect(processesUnder(dir)).toEqual([]);
    const restored = clusterAt(dir, await freePort(), PASSWORD);
    try {
      restored.start();
      expect(await restored.query("SELECT count(*)::int AS n FROM kept")).toEqual([{ n: 150 }]);
      expect(await restored.query("SELECT pg_is_in_recovery() AS r")).toEqual([{ r: false }]);
    } finally {
      restored.stop();
    }
  }, 240_000);

  it("a drill stopped by SIGTERM while its server recovers: the server is stopped, the scratch space removed, exit 143", async () => {
    const child = spawn(process.execPath, [BIN, "-c", repo.configFile, "drill", "latest"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: scratch },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    await until(() => processesUnder(scratch).some((l) => /postgres/.test(l)), 120_000);
    child.kill("SIGTERM");
    const code = (await exited) ?? (child.signalCode === "SIGTERM" ? 143 : null);
    expect(stderr).toMatch(/error: drill interrupted by SIGTERM/);
    expect(code).toBe(143);
    expectNothingLeft();
  }, 240_000);

  it("a drill killed (SIGKILL) while its server recovers: the server ends with it, and the next drill removes the scratch space and the run directory it left", async () => {
    const child = spawn(process.execPath, [BIN, "-c", repo.configFile, "drill", "latest"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: scratch },
      stdio: ["ignore", "ignore", "ignore"],
    });
    const exited = new Promise<void>((r) => child.on("close", () => r()));
    await until(() => processesUnder(scratch).some((l) => /postgres/.test(l)), 120_000);
    child.kill("SIGKILL");
    await exited;
    // The server's parent-death signal (setpriv --pdeathsig) stops it, though nothing could stop it cleanly.
    await until(
      () => processesUnder(scratch).length === 0,
      20_000,
      () => `the drill's server to end:\n${processesUnder(scratch).join("\n")}`,
    );
    const left = readdirSync(scratch);
    expect(left).toEqual([expect.stringMatching(new RegExp(`^strongbox-drill-[0-9a-f]{8}-${child.pid}-[0-9a-f]+$`))]);
    expect(readdirSync(join(scratch, left[0]))).toEqual(["data"]); // a restored cluster, in plaintext
    // And the server's run directory (socket, access file), under /tmp, named after the killed drill.
    const runDirs = () =>
      readdirSync("/tmp").filter((n) => new RegExp(`^strongbox-pgrun-[0-9a-f]{8}-${child.pid}-`).test(n));
    const next = await drill(["latest"]);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain(
      `removed ${join(scratch, left[0])}: the scratch space of a drill, verify or recovery that was killed`,
    );
    // /tmp is shared: another file's recovery running meanwhile may have been the one to remove it.
    expect(runDirs()).toEqual([]);
    expectNothingLeft();
  }, 240_000);

  it("a damaged, then a missing WAL segment in the middle fails the drill (exit 3) naming it; nothing is left running", async () => {
    const segments = walObjects().filter((p) => /\/[0-9A-F]{24}\.[0-9a-f]{64}\./.test(p));
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const middle = segments[Math.floor(segments.length / 2)];
    const name = /([0-9A-F]{24})\./.exec(middle)![1];
    const path = join(root(), "wal", middle);
    const bytes = readFileSync(path);
    bytes[bytes.length - 50] ^= 0xff;
    writeFileSync(path, bytes);
    const damaged = await drill(["latest"]);
    expect(damaged.code).toBe(3);
    expect(damaged.stderr).toContain(name);
    expect(damaged.stderr).toMatch(/recovers to end of archive.*stopped/);
    expectNothingLeft();
    rmSync(path);
    const missing = await drill(["latest"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`WAL ${name}`);
    expect(JSON.parse(missing.stdout).result).toBe("fail");
    expectNothingLeft();
  }, 240_000);
});

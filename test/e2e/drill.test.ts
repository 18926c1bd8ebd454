import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { BIN, makeRepo, runCli as runProcess, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process (see test/helpers/run-in-process.ts), but for the drill stopped by SIGTERM: real processes.
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startReceiver } from "../helpers/http-receiver.js";
import { createDb, withClient } from "../helpers/pg.js";
import { makeSampleTree } from "../helpers/tree.js";

const fx = inject("pg");
const s3 = inject("s3");

async function scratchDatabases(): Promise<string[]> {
  return withClient(fx!.url, async (c) =>
    (await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'strongbox_drill_%'")).rows.map(
      (r) => r.datname,
    ),
  );
}

describe.skipIf(!fx)("restore drills", () => {
  let repo: TestRepo;
  let hc: Awaited<ReturnType<typeof startReceiver>>;
  let hook: Awaited<ReturnType<typeof startReceiver>>;
  const audit = join(tempDir("audit"), "log/audit.jsonl");
  const data = tempDir("drilldata");
  makeSampleTree(data);

  beforeAll(async () => {
    hc = await startReceiver();
    hook = await startReceiver();
    const src = await createDb(fx!, "drill");
    await withClient(src.url, (c) =>
      c.query(
        "CREATE TABLE users (id int, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 300) g;",
      ),
    );
    repo = makeRepo({
      sources: [
        { name: "db", type: "postgres", url: src.url },
        { name: "assets", type: "files", path: data },
      ],
    });
    repo.config.drill = {
      postgres_url: fx!.url,
      max_backup_age: "26h",
      checks: [{ source: "db", name: "users exist", sql: "SELECT count(*) > 0 FROM users" }],
    };
    repo.config.notify = [
      { type: "healthchecks", url: `${hc.url}/ping/abc` },
      { type: "webhook", url: `${hook.url}/hooks/strongbox` },
    ];
    repo.config.audit_log = audit;
    repo.write();
  });
  afterAll(async () => {
    await hc.close();
    await hook.close();
  });

  it("a good backup passes every check; the report is stored, listed and audited; receivers get exactly the expected calls", async () => {
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    expect(hc.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /ping/abc/start", "POST /ping/abc"]);
    expect(hc.calls[1].body).toMatch(new RegExp(`backup ${id} complete`));
    expect(hook.calls).toHaveLength(1);
    expect(hook.calls[0].contentType).toBe("application/json");
    expect(JSON.parse(hook.calls[0].body)).toMatchObject({
      job: "backup",
      command: "backup",
      status: "success",
      backup_id: id,
    });

    hc.calls.length = 0;
    hook.calls.length = 0;
    const tmp = tempDir("drilltmp");
    const d = await runCli(["-c", repo.configFile, "--json", "drill", "latest"], { env: { TMPDIR: tmp } });
    expect(d.stderr).not.toMatch(/error/);
    expect(d.code).toBe(0);
    const report = JSON.parse(d.stdout);
    expect(report).toMatchObject({ backup_id: id, result: "pass" });
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual([
      "objects match complete.json (SHA-256) and pass age authentication",
      "db: row counts match the manifest",
      "assets: files match the manifest",
      "db: users exist",
      "db: newest backup is at most 26h old",
      "assets: newest backup is at most 26h old",
    ]);
    expect(report.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    expect(report.restore_bytes_per_s).toBeGreaterThan(0);
    expect(Object.keys(report.durations_s)).toEqual(expect.arrayContaining(["restore", "checks", "cleanup", "total"]));
    // stored under drills/, shown by list, cleaned up, audited
    expect(readdirSync(join(repo.dir, "repository/drills"))).toEqual([`${report.drill_id}.json`]);
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(list[0].last_drill).toMatchObject({ result: "pass", drill_id: report.drill_id });
    expect(await scratchDatabases()).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    const lines = readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.command}:${l.result}`)).toEqual(["backup:success", "drill:success"]);
    expect(lines[1]).toMatchObject({
      backup_id: id,
      host: expect.any(String),
      user: expect.any(String),
      duration_s: expect.any(Number),
    });
    expect(lines[1].report.result).toBe("pass");
    expect(statSync(audit).mode & 0o777).toBe(0o600);
    expect(hc.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /ping/abc/start", "POST /ping/abc"]);
    expect(JSON.parse(hook.calls[0].body)).toMatchObject({
      command: "drill",
      status: "success",
      report: { result: "pass" },
    });
  });

  it("a SQL check that is false fails the drill (exit 3), the report and the /fail ping name it", async () => {
    hc.calls.length = 0;
    const cfg = repo.write((c) =>
      c.drill.checks.push({ source: "db", name: "no admins", sql: "SELECT count(*) = 0 FROM users" }),
    );
    const d = await runCli(["-c", cfg, "--json", "drill"]);
    expect(d.code).toBe(3);
    const report = JSON.parse(d.stdout.split("\n{")[0]);
    expect(report.result).toBe("fail");
    expect(report.checks.find((c: { name: string }) => c.name === "db: no admins")).toMatchObject({
      ok: false,
      detail: "returned false",
    });
    expect(hc.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /ping/abc/start", "POST /ping/abc/fail"]);
    expect(hc.calls[1].body).toMatch(/db: no admins: returned false/);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("a SQL check whose query errors is a failed check, not a crash", async () => {
    const cfg = repo.write(
      (c) => (c.drill.checks = [{ source: "db", name: "bad sql", sql: "SELECT nonsense FROM nowhere" }]),
    );
    const d = await runCli(["-c", cfg, "--json", "drill"]);
    expect(d.code).toBe(3);
    expect(
      JSON.parse(d.stdout.split("\n{")[0]).checks.find((c: { name: string }) => c.name === "db: bad sql").detail,
    ).toMatch(/query failed: relation "nowhere" does not exist/);
  });

  it("an altered object fails at the hash check (exit 3) and the scratch space is removed", async () => {
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const id = JSON.parse(b.stdout).id;
    const file = join(repo.dir, "repository/backups", id, "assets.tar.zst.age");
    const buf = readFileSync(file);
    buf[buf.length >> 1] ^= 0x20;
    writeFileSync(file, buf);
    const tmp = tempDir("drilltmp2");
    const d = await runCli(["-c", repo.configFile, "--json", "drill", id], { env: { TMPDIR: tmp } });
    expect(d.code).toBe(3);
    const report = JSON.parse(d.stdout.split("\n{")[0]);
    expect(report.checks[0]).toMatchObject({ ok: false });
    expect(report.checks[0].detail).toMatch(/SHA-256 mismatch/);
    expect(await scratchDatabases()).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("a failing notification endpoint never changes the job's result", async () => {
    const cfg = repo.write(
      (c) =>
        (c.notify = [
          { type: "healthchecks", url: "http://127.0.0.1:9/ping" },
          { type: "webhook", url: "http://127.0.0.1:9/hook" },
        ]),
    );
    const b = await runCli(["-c", cfg, "backup", "now"]);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/notification .* failed after 3 attempts/);
  });

  it("refuses a drill.postgres_url that is a source's own database", async () => {
    const cfg = repo.write((c) => (c.drill.postgres_url = c.sources[0].url));
    const d = await runCli(["-c", cfg, "drill"]);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/drill\.postgres_url points at source db's own database/);
  });

  it("a drill stopped by SIGTERM mid-restore: no scratch database or directory, an audit line and a /fail ping, exit 143", async () => {
    const src = await createDb(fx!, "bigdrill");
    await withClient(src.url, (c) =>
      c.query(
        "CREATE TABLE big (id int, v text); INSERT INTO big SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 400000) g;",
      ),
    );
    const big = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    big.config.drill = { postgres_url: fx!.url };
    const hc = await startReceiver();
    big.config.notify = [{ type: "healthchecks", url: `${hc.url}/ping` }];
    big.config.audit_log = join(big.dir, "audit.jsonl");
    big.write();
    expect((await runProcess(["-c", big.configFile, "backup", "now"])).code).toBe(0);
    const tmp = tempDir("drillkill");
    const child = spawn(process.execPath, [BIN, "-c", big.configFile, "drill"], {
      env: { PATH: process.env.PATH, TMPDIR: tmp },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    let seen = false;
    for (let i = 0; i < 400 && !seen; i++) {
      seen = (await scratchDatabases()).length > 0;
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBe(true);
    await new Promise((r) => setTimeout(r, 150));
    // A second signal of the same request (timeout, process group) changes nothing: sent back to back, as
    // `timeout` does (50 ms apart, a loaded machine could handle it past the 1 s debounce: a second request).
    child.kill("SIGTERM");
    child.kill("SIGTERM");
    const code = (await exited) ?? (child.signalCode === "SIGTERM" ? 143 : null); // a late signal in Node's teardown: 143 to the shell too
    expect(stderr).toMatch(/SIGTERM received: stopping the drill/);
    expect(stderr).toMatch(/error: drill interrupted by SIGTERM/);
    expect(code).toBe(143);
    expect(await scratchDatabases()).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    const lines = readFileSync(join(big.dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({
      command: "drill",
      result: "failure",
      error: expect.stringMatching(/interrupted by SIGTERM/),
    });
    const fail = hc.calls.find((c) => c.path === "/ping/fail");
    expect(fail?.method).toBe("POST");
    expect(fail?.body).toMatch(/interrupted by SIGTERM/);
    await hc.close();
  });
});

describe.skipIf(!s3 || !fx)("drill with the reader role on S3", () => {
  it("lists, restores and files its report under drills/ with reader credentials only", async () => {
    const data = tempDir("s3drill");
    makeSampleTree(data);
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const readerOnly = repo.write(
      (c) => (c.repository.s3.credentials = { reader: c.repository.s3.credentials.reader }),
    );
    const d = await runCli(["-c", readerOnly, "--json", "drill", "random"]);
    expect(d.stderr).not.toMatch(/could not store/);
    expect(d.code).toBe(0);
    const list = JSON.parse((await runCli(["-c", readerOnly, "--json", "list"])).stdout);
    expect(list[0].last_drill.result).toBe("pass");
  });
});

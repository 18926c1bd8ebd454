import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
import { startReceiver } from "../helpers/http-receiver.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

function startDaemon(args: string[]) {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR, UV_THREADPOOL_SIZE: "16" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", () => {});
  let result: { code: number | null; after: number } | undefined;
  child.on("close", (code) => (result = { code, after: Date.now() - t0 }));
  /** The daemon's exit; fails within the test's own time, with the daemon's log, if it never comes. */
  const exited = (ms = 30_000) =>
    until(
      () => result,
      ms,
      () => `the daemon's exit; its log:\n${stderr}`,
    );
  /** Waits for `f` (up to 30 s), naming `what` and ending with the daemon's log if it never holds. */
  const waitFor = <T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false) =>
    until(f, 30_000, () => `${what}; the daemon's log:\n${stderr}`);
  return { child, exited, waitFor, stderr: () => stderr };
}

/** An HTTP endpoint that accepts requests and never answers: a hung monitoring server. */
async function stallingServer(): Promise<{ url: string; paths: string[]; close: () => void }> {
  const paths: string[] = [];
  const open: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    paths.push(req.url!);
    open.push(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    close: () => (server.closeAllConnections(), server.close()),
  };
}

const audit = (file: string) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
    : [];

async function setup(): Promise<{ repo: TestRepo; lockDir: string; auditLog: string; port: number; schedule: string }> {
  const data = tempDir("dl");
  writeFileSync(join(data, "a.txt"), "hello");
  const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
  const lockDir = tempDir("dl-locks");
  const auditLog = join(repo.dir, "audit.jsonl");
  const port = await freePort();
  Object.assign(repo.config, { lock_dir: lockDir, audit_log: auditLog, daemon: { listen: `127.0.0.1:${port}` } });
  repo.write();
  return { repo, lockDir, auditLog, port, schedule: join(repo.dir, "s.yaml") };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("daemon deadlines, /healthz and stopping", () => {
  it("a verify stalled on the store hits its deadline: aborted, lock released, audited and notified as failure, /healthz 503; the waiting backup then runs", async () => {
    const { repo, lockDir, auditLog, port, schedule } = await setup();
    const hook = await startReceiver();
    cleanups.push(() => void hook.close());
    const withHook = repo.write((c) => (c.notify = [{ type: "webhook", url: `${hook.url}/hook` }]));
    const b = await runCli(["-c", withHook, "--json", "backup", "now"]);
    const id = JSON.parse(b.stdout).id;
    // complete.json becomes a FIFO: opening it blocks forever, like a read from a hung NFS server.
    // (Not a data object: the listing would see its size differ from complete.json's and refuse it
    // at once as damaged, with nothing left to stall.)
    const marker = join(repo.dir, "repository/backups", id, "complete.json");
    rmSync(marker);
    execFileSync("mkfifo", [marker]);
    writeFileSync(
      schedule,
      `jobs:\n  - { name: check, command: verify, target: ${id}, cron: "*/1 * * * * *", deadline: 2s }\n  - { name: nightly, command: backup, cron: "*/1 * * * * *" }\n`,
    );
    const d = startDaemon(["-c", withHook, "daemon", "--schedule", schedule, "--grace", "0s", "--abort-wait", "5s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    const failure = await d.waitFor("the check job's failure webhook", () =>
      hook.calls.map((c) => JSON.parse(c.body)).find((b) => b.job === "check" && b.status === "failure"),
    );
    expect(failure.error).toMatch(/^job check: deadline 2s exceeded after 2s; aborted/);
    expect(d.stderr()).toMatch(/job check: deadline 2s exceeded after 2s: aborting it/);
    const health = await d.waitFor("/healthz 503", async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return res.status === 503 && (await res.json());
    });
    expect(health.status).toBe("unhealthy");
    expect(health.reasons.join("\n")).toMatch(
      /job check: deadline 2s exceeded after 2s; aborted|job check has been running for .*, past its deadline of 2s/,
    );
    // the lock was released: the backup that waited for check ran and succeeded
    await d.waitFor("the nightly job's success webhook", () =>
      hook.calls.map((c) => JSON.parse(c.body)).find((b) => b.job === "nightly" && b.status === "success"),
    );
    expect(audit(auditLog).some((l) => l.job === "check" && l.result === "failure" && /deadline/.test(l.error))).toBe(
      true,
    );
    // The reads of aborted runs are still blocked in open(): stopping must not wait for them.
    d.child.kill("SIGTERM");
    const t = Date.now();
    const { code } = await d.exited();
    expect(Date.now() - t).toBeLessThan(15_000);
    // Both jobs run every second: the SIGTERM may find check started again (--grace 0s aborts it) or nothing running.
    expect(d.stderr()).toMatch(/"(the running job was aborted after the grace period; )?stopped"/);
    // exit 0, or, when a blocked thread keeps process.exit from finishing, killed by the watchdog
    expect(code === 0 || code === null).toBe(true);
    expect(readdirSync(lockDir)).toEqual([]);
  });

  it("a job that ignores its abort: /healthz 503 while it runs past its deadline, then the daemon exits (1) with a clear line, audit line written, lock released", async () => {
    const { repo, lockDir, auditLog, port, schedule } = await setup();
    const hc = await stallingServer();
    cleanups.push(hc.close);
    const cfg = repo.write((c) => (c.notify = [{ type: "healthchecks", url: `${hc.url}/ping` }]));
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "*/1 * * * * *", deadline: 1s }\n`);
    const d = startDaemon(["-c", cfg, "daemon", "--schedule", schedule, "--abort-wait", "4s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    await d.waitFor("the job's start ping", () => hc.paths.includes("/ping/start")); // the job hangs on its start ping
    const health = await d.waitFor("/healthz 503", async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return res.status === 503 && (await res.json());
    });
    expect(health.reasons.join("\n")).toMatch(/job nightly has been running for [\d.]+s, past its deadline of 1s/);
    const { code, after } = await d.exited();
    expect(code).toBe(1);
    expect(after).toBeLessThan(20_000);
    expect(d.stderr()).toMatch(
      /job nightly did not stop within 4 s after its deadline; exiting so that the service manager can restart strongbox/,
    );
    expect(audit(auditLog)).toEqual([
      expect.objectContaining({
        command: "backup",
        job: "nightly",
        result: "failure",
        error: expect.stringMatching(/did not stop/),
      }),
    ]);
    expect(readdirSync(lockDir)).toEqual([]);
  });

  it("SIGTERM: a job that ignores its abort does not keep the daemon alive past grace + abort-wait", async () => {
    const { repo, lockDir, auditLog, schedule } = await setup();
    const hc = await stallingServer();
    cleanups.push(hc.close);
    const cfg = repo.write((c) => (c.notify = [{ type: "healthchecks", url: `${hc.url}/ping` }]));
    writeFileSync(schedule, `jobs:\n  - { name: check, command: verify, cron: "*/1 * * * * *" }\n`);
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const d = startDaemon(["-c", cfg, "daemon", "--schedule", schedule, "--grace", "1s", "--abort-wait", "2s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    await d.waitFor("the job's start ping", () => hc.paths.includes("/ping/start"));
    const t = Date.now();
    d.child.kill("SIGTERM");
    const { code } = await d.exited();
    const took = Date.now() - t;
    expect(code).toBe(1);
    expect(took).toBeLessThan(1000 + 2000 + 6000);
    expect(d.stderr()).toMatch(/SIGTERM received: no new jobs; waiting up to 1s for check/);
    expect(d.stderr()).toMatch(/job check did not stop within 2 s after the grace period ended; exiting/);
    expect(audit(auditLog).filter((l) => l.job === "check")).toEqual([
      expect.objectContaining({ command: "verify", result: "failure" }),
    ]);
    expect(readdirSync(lockDir)).toEqual([]);
  });

  it("--once: SIGTERM twice (process and group) stops the job cleanly, exit 143, lock released, no complete backup", async () => {
    const { repo, lockDir, schedule } = await setup();
    const big = tempDir("once-big");
    // 64 MiB: the job is still writing long after its backup's directory appears, when the SIGTERMs come.
    for (let i = 0; i < 4; i++) writeFileSync(join(big, `clip-${i}.bin`), randomBytes(16 * 1024 * 1024));
    const cfg = repo.write(
      (c) => ((c.sources = [{ name: "media", type: "files", path: big }]), (c.compression = "none")),
    );
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "0 2 * * *" }\n`);
    // --grace 0s: the job is aborted at the first SIGTERM (daemon-jobs22.test.ts: within the grace it may finish).
    const d = startDaemon(["-c", cfg, "daemon", "--schedule", schedule, "--once", "nightly", "--grace", "0s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    const backups = join(repo.dir, "repository/backups");
    await d.waitFor("the backup's directory", () => existsSync(backups) && readdirSync(backups).length > 0);
    // One stop request delivered twice, as `timeout` sends it to the process and then its group: back to back.
    // (30 ms apart, a loaded machine could handle the second more than the 1 s debounce after the first, and
    // the daemon rightly took it for a second request: exit 1.)
    d.child.kill("SIGTERM");
    d.child.kill("SIGTERM");
    const { code } = await d.exited();
    expect(code === 143 || (code === null && d.child.signalCode === "SIGTERM"), d.stderr()).toBe(true); // see interrupt.test.ts
    expect(d.stderr()).toMatch(/job nightly interrupted by SIGTERM: stopped cleanly/);
    expect(readdirSync(lockDir)).toEqual([]);
    const list = await runCli(["-c", cfg, "--json", "list"]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("deadline must be a duration (exit 2)", async () => {
    const { repo, schedule } = await setup();
    writeFileSync(schedule, `jobs:\n  - { name: b, command: backup, cron: "0 * * * *", deadline: forever }\n`);
    const r = await runCli(["-c", repo.configFile, "daemon", "--schedule", schedule]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/jobs\[0\]\.deadline: deadline must be a duration/);
  });
});

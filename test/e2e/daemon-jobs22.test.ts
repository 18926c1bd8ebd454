// Issue 22 items 10-13: `daemon --once` honours --grace, `copy` as a daemon job, bounded waits for a
// held repository lock (--retry-lock, the schedule's retry_lock), and failure notifications that say
// what /healthz says.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lockPath, repositoryIdentity } from "../../src/repository/lock.js";
import { BIN, makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
import { startReceiver } from "../helpers/http-receiver.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

function start(args: string[]) {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", () => {});
  const exited = new Promise<{ code: number | null; after: number }>((r) =>
    child.on("close", (code) => r({ code, after: Date.now() - t0 })),
  );
  return { child, exited, stderr: () => stderr };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(files: "small" | "big" = "small"): {
  repo: TestRepo;
  lockDir: string;
  schedule: string;
  lockFile: string;
} {
  const data = tempDir("j22");
  if (files === "big")
    for (let i = 0; i < 8; i++) writeFileSync(join(data, `clip-${i}.bin`), randomBytes(20 * 1024 * 1024));
  else writeFileSync(join(data, "a.txt"), "hello");
  const repo = makeRepo({
    sources: [{ name: "files", type: "files", path: data }],
    compression: files === "big" ? "none" : "zstd",
  });
  const lockDir = tempDir("j22-locks");
  repo.config.lock_dir = lockDir;
  repo.write();
  return {
    repo,
    lockDir,
    schedule: join(repo.dir, "s.yaml"),
    lockFile: lockPath(repositoryIdentity(repo.config.repository.url), lockDir),
  };
}

/** A lock held by a live process on this host (this test runner), as a manual restore would hold it. */
function holdLock(file: string): void {
  writeFileSync(
    file,
    JSON.stringify({
      pid: process.pid,
      host: hostname(),
      boot: "",
      command: "restore",
      since: "2026-12-01T10:00:00.000Z",
      repository: "x",
      token: "held",
    }),
  );
}

const listed = async (cfg: string) =>
  JSON.parse((await runCli(["-c", cfg, "--json", "list"])).stdout) as { id: string }[];

describe("daemon --once and --grace (item 10)", () => {
  it("SIGTERM while the job runs: it gets the grace period, finishes, and the run exits 0 with a complete backup", async () => {
    const { repo, lockDir, schedule } = setup("big");
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "0 2 * * *" }\n`);
    const d = start(["-c", repo.configFile, "daemon", "--schedule", schedule, "--once", "nightly", "--grace", "120s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    const backups = join(repo.dir, "repository/backups");
    await until(() => existsSync(backups) && readdirSync(backups).length > 0);
    d.child.kill("SIGTERM");
    const { code } = await d.exited;
    expect(d.stderr()).toMatch(/SIGTERM received: waiting up to 120s for job nightly to finish/);
    expect(code).toBe(0);
    expect(await listed(repo.configFile)).toHaveLength(1);
    expect(readdirSync(lockDir)).toEqual([]);
  });

  it("a job still running when the grace ends is aborted cleanly: exit 143, after the grace, not before", async () => {
    const { repo, lockDir, schedule, lockFile } = setup();
    holdLock(lockFile); // the job waits for the lock: it is running, and will not finish by itself
    writeFileSync(
      schedule,
      `defaults: { retry_lock: 5m }\njobs:\n  - { name: nightly, command: backup, cron: "0 2 * * *" }\n`,
    );
    const d = start(["-c", repo.configFile, "daemon", "--schedule", schedule, "--once", "nightly", "--grace", "2s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    await until(() => /waiting up to 5m for the repository lock/.test(d.stderr()));
    const t = Date.now();
    d.child.kill("SIGTERM");
    const { code } = await d.exited;
    expect(Date.now() - t).toBeGreaterThanOrEqual(2000);
    expect(code).toBe(143);
    expect(d.stderr()).toMatch(/job nightly interrupted by SIGTERM/);
    rmSync(lockFile);
    expect(readdirSync(lockDir)).toEqual([]); // ours never existed; the held one is gone by our hand only
  });

  it("a second SIGTERM more than a second after the first ends the run at once, as in the long-running daemon (exit 1)", async () => {
    const { repo, schedule, lockFile } = setup();
    holdLock(lockFile);
    writeFileSync(
      schedule,
      `defaults: { retry_lock: 5m }\njobs:\n  - { name: nightly, command: backup, cron: "0 2 * * *" }\n`,
    );
    const d = start(["-c", repo.configFile, "daemon", "--schedule", schedule, "--once", "nightly", "--grace", "5m"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    await until(() => /waiting up to 5m for the repository lock/.test(d.stderr()));
    d.child.kill("SIGTERM");
    const t = Date.now();
    await until(() => /SIGTERM received: waiting up to 5m for job nightly to finish/.test(d.stderr()));
    // Signals within a second of the first are the same request (interrupt.ts SIGNAL_DEBOUNCE_MS); this one is a new one.
    await until(() => Date.now() - t > 1100);
    d.child.kill("SIGTERM");
    const { code } = await d.exited;
    expect(code).toBe(1);
    expect(d.stderr()).toMatch(
      /SIGTERM received again while stopping; exiting so that the service manager can restart strongbox/,
    );
  });
});

describe("copy as a daemon job (item 11)", () => {
  it("command: copy with target and to (file://) copies the latest backup, notified and audited like the other jobs", async () => {
    const { repo, schedule } = setup();
    const hook = await startReceiver();
    cleanups.push(() => void hook.close());
    const auditLog = join(repo.dir, "audit.jsonl");
    const cfg = repo.write(
      (c) => ((c.notify = [{ type: "webhook", url: `${hook.url}/hook` }]), (c.audit_log = auditLog)),
    );
    expect((await runCli(["-c", cfg, "backup", "now"])).code).toBe(0);
    const dest = tempDir("j22-offsite");
    writeFileSync(
      schedule,
      `jobs:\n  - { name: offsite, command: copy, target: latest, to: "file://${dest}", cron: "45 3 * * *" }\n`,
    );
    expect((await runCli(["-c", cfg, "config", "check", "--schedule", schedule])).code).toBe(0);
    const r = await runCli(["-c", cfg, "daemon", "--schedule", schedule, "--once", "offsite"]);
    expect(r.stderr).not.toMatch(/"level":"error"/);
    expect(r.code).toBe(0);
    const [b] = await listed(cfg);
    expect(existsSync(join(dest, "backups", b.id, "complete.json"))).toBe(true);
    const done = hook.calls.map((c) => JSON.parse(c.body)).find((x) => x.job === "offsite");
    expect(done).toMatchObject({ command: "copy", status: "success" });
    // A destination config named by a relative path is the one next to the schedule file, wherever the daemon runs.
    const dest2 = tempDir("j22-offsite2");
    writeFileSync(
      join(repo.dir, "offsite.yaml"),
      (await import("yaml")).stringify({ ...repo.config, repository: { url: `file://${dest2}` } }),
    );
    writeFileSync(
      schedule,
      `jobs:\n  - { name: offsite2, command: copy, target: latest, to: offsite.yaml, cron: "45 3 * * *" }\n`,
    );
    const r2 = await runCli(["-c", cfg, "daemon", "--schedule", schedule, "--once", "offsite2"], {
      cwd: tempDir("j22-cwd"),
    });
    expect(r2.code).toBe(0);
    expect(existsSync(join(dest2, "backups", b.id, "complete.json"))).toBe(true);
  });

  it("a copy job without `to`, a `to` on another command, or a retry_lock that is no duration is a schedule error (exit 2)", async () => {
    const { repo, schedule } = setup();
    writeFileSync(
      schedule,
      `defaults: { retry_lock: soon }\njobs:\n  - { name: offsite, command: copy, cron: "45 3 * * *" }\n  - { name: b, command: backup, to: "file:///x", cron: "0 2 * * *", retry_lock: forever }\n`,
    );
    const r = await runCli(["-c", repo.configFile, "config", "check", "--schedule", schedule]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/jobs\[0\]\.to: copy jobs need `to`/);
    expect(r.stderr).toMatch(/jobs\[1\]\.to: only copy jobs take `to`/);
    // and the lock waits (item 12) must be durations
    expect(r.stderr).toMatch(/defaults\.retry_lock: retry_lock must be a duration like 10m or 0s/);
    expect(r.stderr).toMatch(/jobs\[1\]\.retry_lock: retry_lock must be a duration like 10m or 0s/);
  });
});

describe("waiting for a held repository lock (item 12)", () => {
  it("--retry-lock: a lock released after a moment; the run logs the holder once, then takes the lock and succeeds", async () => {
    const { repo, lockFile } = setup();
    holdLock(lockFile);
    const b = start(["-c", repo.configFile, "backup", "now", "--retry-lock", "45s"]);
    cleanups.push(() => b.child.kill("SIGKILL"));
    await until(() =>
      /waiting up to 45s for the repository lock held by restore \(pid \d+ on .*, since 2026-12-01T10:00:00.000Z\)/.test(
        b.stderr(),
      ),
    );
    rmSync(lockFile);
    const { code } = await b.exited;
    expect(code).toBe(0);
    expect(b.stderr().match(/waiting up to/g)).toHaveLength(1);
    expect(await listed(repo.configFile)).toHaveLength(1);
  });

  it("--retry-lock: a lock never released fails with one clear line after the wait (exit 1); without it, at once", async () => {
    const { repo, lockFile } = setup();
    holdLock(lockFile);
    const t = Date.now();
    const r = await runCli(["-c", repo.configFile, "verify", "latest", "--retry-lock", "2s"]);
    expect(Date.now() - t).toBeGreaterThanOrEqual(2000);
    expect(r.code).toBe(1);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("strongbox: error"));
    expect(errors).toEqual([
      expect.stringMatching(
        /^strongbox: error: lock held: another strongbox run holds the repository lock \(restore, pid \d+ on .*\); lock file .*; gave up after waiting 2s$/,
      ),
    ]);
    const bad = await runCli(["-c", repo.configFile, "prune", "--retry-lock", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--retry-lock must be a duration like 30s or 10m, not 'soon'/);
  });

  it("the daemon waits (schedule defaults.retry_lock, bounded by the job's deadline) and runs the job once the lock is free", async () => {
    const { repo, schedule, lockFile } = setup();
    holdLock(lockFile);
    writeFileSync(
      schedule,
      `defaults: { retry_lock: 10m }\njobs:\n  - { name: nightly, command: backup, cron: "0 2 * * *", deadline: 3m }\n`,
    );
    const d = start(["-c", repo.configFile, "daemon", "--schedule", schedule, "--once", "nightly"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    await until(() => /waiting up to 3m for the repository lock held by restore/.test(d.stderr()));
    rmSync(lockFile);
    const { code } = await d.exited;
    expect(code).toBe(0);
    expect(await listed(repo.configFile)).toHaveLength(1);
  });
});

describe("failure notifications say what /healthz says (item 13)", () => {
  it("a backup aborted at its deadline is notified with the deadline reason, the same text /healthz gives", async () => {
    const { repo, schedule } = setup("big");
    const hook = await startReceiver();
    cleanups.push(() => void hook.close());
    const port = await freePort();
    const cfg = repo.write(
      (c) => (
        (c.notify = [{ type: "webhook", url: `${hook.url}/hook` }]),
        (c.daemon = { listen: `127.0.0.1:${port}` })
      ),
    );
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "*/1 * * * * *", deadline: 1s }\n`);
    const d = start(["-c", cfg, "daemon", "--schedule", schedule, "--grace", "0s"]);
    cleanups.push(() => d.child.kill("SIGKILL"));
    const failure = await until(() =>
      hook.calls.map((c) => JSON.parse(c.body)).find((b) => b.job === "nightly" && b.status === "failure"),
    );
    expect(failure.error).toMatch(/^job nightly: deadline 1s exceeded after \d+(\.\d+)?s; aborted/);
    expect(failure.error).not.toMatch(/^interrupted/);
    const health = await until(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      const h = res.status === 503 && ((await res.json()) as { reasons: string[] });
      return h && h.reasons.some((x) => x.startsWith("job nightly: deadline")) && h;
    });
    // Not necessarily the same run: the same function words both, so the same shape.
    const shape = (s: string) => s.replace(/\d+(\.\d+)?s/g, "Ns");
    expect(health.reasons.map(shape)).toContain(shape(failure.error));
    d.child.kill("SIGTERM");
    await d.exited;
  });
});

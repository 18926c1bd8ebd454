import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { lockPath, repositoryIdentity } from "../../src/repository/lock.js";
import { BIN, makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { freePort } from "../helpers/free-port.js";

const s3 = inject("s3");

function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", () => {});
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

async function until<T>(f: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("schedules and the daemon", () => {
  it("an invalid schedule file is a config error (exit 2) listing every problem", async () => {
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tempDir("d") }] });
    const file = join(repo.dir, "bad.yaml");
    writeFileSync(
      file,
      `timezone: Mars/Olympus
jobs:
  - { name: nightly, command: backup, cron: "61 2 * * *" }
  - { name: nightly, command: explode, cron: "* * *" }
  - { name: weekly, command: drill, cron: "0 5 * * 0", sources: [files], colour: red }
  - { name: partial, command: backup, cron: "0 * * * *", sources: [nope], jitter: soon }
`,
    );
    const r = await runCli(["-c", repo.configFile, "daemon", "--schedule", file]);
    expect(r.code).toBe(2);
    for (const m of [
      /timezone: timezone must be an IANA timezone/,
      /jobs\[0\]\.cron: 61 is not a valid minute \(0-59\)/,
      /jobs\[1\]\.command: command must be backup, drill, prune, verify or copy/,
      /jobs\[1\]\.cron: cron must have 5 fields/,
      /jobs\[2\]\.colour: unknown key/,
      /jobs\[2\]\.sources: only backup jobs take sources/,
      /jobs\[3\]\.jitter: jitter must be a duration/,
    ]) {
      expect(r.stderr).toMatch(m);
    }
  });

  it("--once runs one job now and exits; health and metrics are served while the daemon runs", async () => {
    const data = tempDir("once");
    writeFileSync(join(data, "a.txt"), "hello");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const port = await freePort();
    repo.config.daemon = { listen: `127.0.0.1:${port}` };
    repo.write();
    const schedule = join(repo.dir, "s.yaml");
    writeFileSync(
      schedule,
      `jobs:\n  - { name: tick, command: backup, cron: "*/1 * * * * *" }\n  - { name: never, command: prune, cron: "0 0 1 1 *" }\n`,
    );
    const once = await runCli(["-c", repo.configFile, "daemon", "--schedule", schedule, "--once", "tick"]);
    expect(once.code).toBe(0);
    expect(JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout)).toHaveLength(1);

    const d = startDaemon(["-c", repo.configFile, "daemon", "--schedule", schedule]);
    const metrics = await until(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      const text = await res.text();
      return /strongbox_job_last_run_success\{job="tick"\} 1/.test(text) && text;
    });
    expect(metrics).toMatch(/strongbox_job_last_success_timestamp_seconds\{job="tick"\} \d+/);
    expect(metrics).toMatch(/strongbox_backup_stored_bytes \d+/);
    expect(metrics).toMatch(/strongbox_newest_backup_age_seconds \d+/);
    expect(metrics).toMatch(/strongbox_job_next_run_timestamp_seconds\{job="never"\} \d+/);
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
    expect(health.status).toBe("ok");
    d.child.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(d.stderr()).toMatch(/job never: next run 20\d\d-01-01T00:00:00/);
  });

  it("the repository lock keeps a second run out, and a stale lock from a dead process is taken over", async () => {
    const data = tempDir("lock");
    writeFileSync(join(data, "a.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const lockDir = tempDir("locks");
    repo.config.lock_dir = lockDir;
    repo.write();
    // a trailing slash names the same repository, so the same lock
    const file = lockPath(repositoryIdentity(`${repo.config.repository.url}/`), lockDir);
    const host = (await import("node:os")).hostname();
    writeFileSync(
      file,
      JSON.stringify({
        pid: process.pid,
        host,
        boot: "",
        command: "backup",
        since: new Date().toISOString(),
        token: "t1",
      }),
    );
    const held = await runCli(["-c", repo.configFile, "backup", "now"]);
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(
      new RegExp(`lock held: another strongbox run holds the repository lock \\(backup, pid ${process.pid}`),
    );
    writeFileSync(
      file,
      JSON.stringify({
        pid: 2 ** 22 + 12345,
        host,
        boot: "",
        command: "backup",
        since: "2026-01-01T00:00:00Z",
        token: "t2",
      }),
    );
    const stale = await runCli(["-c", repo.configFile, "backup", "now"]);
    expect(stale.code).toBe(0);
    const { existsSync } = await import("node:fs");
    expect(existsSync(file)).toBe(false);
  });
});

describe.skipIf(!s3)("daemon on the real S3 server", () => {
  it("SIGTERM mid-upload: the backup is aborted cleanly (no complete.json, no open multipart upload) and the daemon exits 0", async () => {
    const data = tempDir("sigterm");
    // Enough data that the upload is still going when SIGTERM arrives (~50 ms after the first part).
    for (let i = 0; i < 6; i++) writeFileSync(join(data, `clip-${i}.bin`), randomBytes(25 * 1024 * 1024));
    const prefix = `daemon-${Math.random().toString(16).slice(2, 8)}`;
    const repo = makeRepo({
      sources: [{ name: "media", type: "files", path: data }],
      s3: s3!,
      prefix,
      compression: "none",
    });
    repo.config.repository.s3.part_size_mb = 5;
    repo.config.repository.s3.credentials = { writer: repo.config.repository.s3.credentials.writer };
    repo.write();
    const schedule = join(repo.dir, "s.yaml");
    writeFileSync(schedule, `jobs:\n  - { name: media-backup, command: backup, cron: "*/2 * * * * *" }\n`);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const d = startDaemon(["-c", repo.configFile, "daemon", "--schedule", schedule, "--grace", "0s"]);
    await until(async () => {
      const u = await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
      return (u.Uploads?.length ?? 0) > 0;
    });
    d.child.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(d.stderr()).toMatch(/aborted after the grace period/);
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: prefix }));
    expect((objects.Contents ?? []).filter((o) => o.Key!.endsWith("complete.json"))).toEqual([]);
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
    expect(uploads.Uploads ?? []).toEqual([]);
    admin.destroy();
  });
});

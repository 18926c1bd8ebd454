import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { until } from "../helpers/until.js";

const s3 = inject("s3");

/** Starts the CLI (detached: in a process group of its own, to be signalled as a group). */
function start(args: string[], env: NodeJS.ProcessEnv, o: { detached?: boolean } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: o.detached,
  });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => (stdout += d));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, exited, stderr: () => stderr, stdout: () => stdout };
}

/** The size of a file, 0 when it is gone (a spool file can be removed between readdir and stat). */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function bigTree(label: string, files: number, mb: number): string {
  const data = tempDir(label);
  for (let i = 0; i < files; i++) writeFileSync(join(data, `clip-${i}.bin`), randomBytes(mb * 1024 * 1024));
  return data;
}

function withLockDir(repo: TestRepo): string {
  const lockDir = tempDir("locks");
  repo.config.lock_dir = lockDir;
  repo.write();
  return lockDir;
}

describe.skipIf(!s3)("interrupting a backup to S3 (Ceph RGW)", () => {
  it("SIGTERM to the process and then its group, as `timeout` sends it: one clean stop, exit 143, no lock, no multipart upload, no spool file", async () => {
    const data = bigTree("tmo", 6, 20);
    const prefix = `tmo-${Math.random().toString(16).slice(2, 8)}`;
    const repo = makeRepo({
      sources: [{ name: "media", type: "files", path: data }],
      s3: s3!,
      prefix,
      compression: "none",
    });
    repo.config.repository.s3.part_size_mb = 5;
    const lockDir = withLockDir(repo);
    const spool = tempDir("spool");
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const run = start(["-c", repo.configFile, "backup", "now"], { TMPDIR: spool }, { detached: true });
    await until(
      async () =>
        ((await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }))).Uploads?.length ??
          0) > 0,
    );
    expect(readdirSync(lockDir).filter((f) => f.endsWith(".lock"))).toHaveLength(1);
    // What timeout(1) does: the command, then its process group; a second group kill 30 ms later
    // makes sure a distinct second signal arrives (the kernel merges ones that arrive together). The
    // 30 ms are spent here, not on a timer: on a busy machine a timer can fire more than the CLI's
    // one-second window later, and the CLI then rightly takes the signal for a second request.
    const sent = Date.now();
    run.child.kill("SIGTERM");
    process.kill(-run.child.pid!, "SIGTERM");
    while (Date.now() - sent < 30);
    try {
      process.kill(-run.child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    const apart = Date.now() - sent;
    const code = await run.exited;
    expect(apart, "the signals were sent further apart than the CLI's one-second window").toBeLessThan(1000);
    // 143; or, when the late signal lands in Node's own teardown after the last line was written,
    // death by that SIGTERM, which the shell reports as 143 too
    expect(code === 143 || (code === null && run.child.signalCode === "SIGTERM")).toBe(true);
    expect(run.stderr()).toMatch(/SIGTERM received: stopping cleanly/);
    expect(run.stderr()).toMatch(/interrupted by SIGTERM: stopped cleanly/);
    expect(run.stderr()).not.toMatch(/received again/);
    expect(readdirSync(lockDir)).toEqual([]);
    expect(readdirSync(spool)).toEqual([]);
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
    expect(uploads.Uploads ?? []).toEqual([]);
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: prefix }));
    expect((objects.Contents ?? []).filter((o) => o.Key!.endsWith("complete.json"))).toEqual([]);
    admin.destroy();
  });

  it("kill -9 leaves spool files: `list --all` counts them, the next backup removes them and takes over the lock", async () => {
    const data = bigTree("k9s3", 4, 20);
    const prefix = `k9-${Math.random().toString(16).slice(2, 8)}`;
    const repo = makeRepo({
      sources: [{ name: "media", type: "files", path: data }],
      s3: s3!,
      prefix,
      compression: "none",
    });
    repo.config.repository.s3.part_size_mb = 5;
    const lockDir = withLockDir(repo);
    const spool = tempDir("spool9");
    const run = start(["-c", repo.configFile, "backup", "now"], { TMPDIR: spool });
    // kill once a part file holds data (not on a timer: on a loaded machine the first bytes can
    // take longer than any fixed delay)
    await until(() =>
      readdirSync(spool).some((f) => f.startsWith("strongbox-part-") && sizeOf(join(spool, f)) >= 64 << 10),
    );
    run.child.kill("SIGKILL");
    await run.exited;
    const left = readdirSync(spool).filter((f) => f.startsWith("strongbox-part-"));
    expect(left.length).toBeGreaterThan(0);
    expect(readdirSync(lockDir).filter((f) => f.endsWith(".lock"))).toHaveLength(1); // the killed run's lock
    const list = await runCli(["-c", repo.configFile, "list", "--all"], { env: { TMPDIR: spool } });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`leftovers: ${left.length} temporary file\\(s\\) of killed runs, [\\d.]+ [KMG]i?B`),
    );
    const small = tempDir("k9small");
    writeFileSync(join(small, "a.txt"), "a");
    const cfg = repo.write((c) => (c.sources = [{ name: "small", type: "files", path: small }]));
    const next = await runCli(["-c", cfg, "backup", "now"], { env: { TMPDIR: spool } });
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(new RegExp(`removed ${left.length} temporary file\\(s\\)`));
    expect(readdirSync(spool)).toEqual([]);
    expect(readdirSync(lockDir)).toEqual([]);
  });
});

describe("leftovers and locks on a local repository", () => {
  it("kill -9 mid-write leaves .strongbox-tmp-*: `list --all` counts them (count + bytes), the next backup removes them", async () => {
    const data = bigTree("k9local", 8, 20);
    const repo = makeRepo({ sources: [{ name: "media", type: "files", path: data }], compression: "none" });
    const lockDir = withLockDir(repo);
    const temps = join(repo.dir, "repository/.strongbox-tmp"); // where an object is written before it is named
    const run = start(["-c", repo.configFile, "backup", "now"], { TMPDIR: tempDir("t") });
    const tmpFile = await until(() => {
      if (!existsSync(temps)) return undefined;
      for (const f of readdirSync(temps))
        if (f.startsWith(".strongbox-tmp-") && sizeOf(join(temps, f)) >= 64 << 10) return join(temps, f);
      return undefined;
    });
    run.child.kill("SIGKILL");
    await run.exited;
    expect(existsSync(tmpFile)).toBe(true);
    const list = await runCli(["-c", repo.configFile, "list", "--all"]);
    expect(list.stdout).toMatch(/\(incomplete\)|no backups/);
    expect(list.stdout).toMatch(/leftovers: 1 temporary file\(s\) of killed runs, [\d.]+ [KMG]i?B/);
    const small = tempDir("k9small2");
    writeFileSync(join(small, "a.txt"), "a");
    const next = await runCli([
      "-c",
      repo.write((c) => (c.sources = [{ name: "small", type: "files", path: small }])),
      "backup",
      "now",
    ]);
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(/removed 1 temporary file\(s\)/);
    expect(existsSync(tmpFile)).toBe(false);
    expect(readdirSync(lockDir)).toEqual([]);
    const after = await runCli(["-c", repo.configFile, "list", "--all"]);
    expect(after.stdout).toMatch(/leftovers: 0 temporary file\(s\)/);
  });

  it("backup + backup and backup + prune, the second spelled with a trailing slash: the second run fails with 'lock held' (exit 1)", async () => {
    const data = bigTree("bb", 6, 20);
    const repo = makeRepo({ sources: [{ name: "media", type: "files", path: data }], compression: "none" });
    repo.config.retention = { keep_last: 1 };
    const lockDir = withLockDir(repo);
    const first = start(["-c", repo.configFile, "backup", "now"], {});
    await until(() => readdirSync(lockDir).some((f) => f.endsWith(".lock")));
    // Frozen while it holds the lock (alive, so never a stale lock): the contenders meet it however slow this machine is.
    first.child.kill("SIGSTOP");
    const slash = repo.write((c) => (c.repository.url = `${c.repository.url}/`));
    const second = await runCli(["-c", slash, "backup", "now"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/lock held: another strongbox run holds the repository lock \(backup, pid \d+/);
    const prune = await runCli(["-c", slash, "prune"]);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/lock held/);
    first.child.kill("SIGCONT");
    expect(await first.exited).toBe(0);
    expect(JSON.parse((await runCli(["-c", repo.configFile, "--json", "list", "--all"])).stdout)).toHaveLength(1);
    expect(readdirSync(lockDir)).toEqual([]);
  });

  it("prune removes empty backups/<id>/ directories left by killed runs", async () => {
    const data = tempDir("emptydirs");
    writeFileSync(join(data, "a.txt"), "a");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    repo.config.retention = { keep_last: 1 };
    repo.write();
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const empty = join(repo.dir, "repository/backups/20260101T000000Z-abcdef");
    mkdirSync(empty);
    utimesSync(empty, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    const p = await runCli(["-c", repo.configFile, "prune"]);
    expect(p.code).toBe(0);
    expect(existsSync(empty)).toBe(false);
  });

  it("restore holds the repository lock: a concurrent prune fails with 'lock held' (exit 1) and the restore succeeds", async () => {
    const data = bigTree("rl", 6, 20);
    const repo = makeRepo({ sources: [{ name: "media", type: "files", path: data }], compression: "none" });
    repo.config.retention = { keep_last: 1 };
    const lockDir = withLockDir(repo);
    const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const target = tempDir("rl-target");
    const restore = start(["-c", repo.configFile, "restore", id, "--to-dir", target], {});
    await until(() => readdirSync(lockDir).some((f) => f.endsWith(".lock")));
    restore.child.kill("SIGSTOP"); // holds the lock, alive, for as long as the prune needs to meet it
    const prune = await runCli(["-c", repo.configFile, "prune"]);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/lock held: another strongbox run holds the repository lock \(restore, pid \d+/);
    restore.child.kill("SIGCONT");
    expect(await restore.exited).toBe(0);
    expect(restore.stdout()).toMatch(/media → .*: restored and checked/);
    expect(readdirSync(lockDir)).toEqual([]);
  });
});

// The CLI against real Ceph RGW through the fault proxy: backup with the writer, verify/restore/drill
// with the reader. Every run ends in success with intact data (verified afterwards) or in a clear
// one-line error with the right exit code in bounded time — never a complete-looking broken backup.
// The commands run in-process (test/helpers/run-in-process.ts: same arguments, exit code and output),
// but for the 403 case, whose subject is that the process itself ends at once (no socket left behind).
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, runCli as runProcess, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startS3FaultProxy, type Rule, type S3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");

describe.skipIf(!s3)("backup, verify, restore and drill through an S3 that lies or stalls", () => {
  let proxy: S3FaultProxy;
  let repo: TestRepo;
  const data = tempDir("faultdata");
  makeSampleTree(data);
  writeFileSync(join(data, "big.bin"), randomBytes(7 * 1024 * 1024)); // two parts of 5 MiB
  const prefix = `spx-faults-${randomBytes(3).toString("hex")}`;
  let writerOnly = "";
  let writerVerified = "";

  beforeAll(async () => {
    proxy = await startS3FaultProxy(s3!.endpoint);
    repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data }],
      s3: { ...s3!, endpoint: proxy.endpoint },
      prefix,
      compression: "none",
    });
    Object.assign(repo.config.repository.s3, {
      part_size_mb: 5,
      timeouts: { connect: "2s", idle: "2s", request: "60s" },
      retry: { attempts: 3, base_delay: "0.1s", max_delay: "0.5s" },
    });
    repo.write();
    writerOnly = repo.write((c) => (c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer }));
    // A backup host that also holds the reader's credentials may check each upload.
    writerVerified = repo.write((c) => {
      c.repository.s3.credentials = {
        writer: c.repository.s3.credentials.writer,
        reader: c.repository.s3.credentials.reader,
      };
      c.repository.s3.verify_after_write = true;
    });
  });
  afterAll(async () => {
    console.log(`[s3 fault proxy] CLI scenarios: ${proxy?.injected} faults injected`);
    await proxy?.close();
  });

  const rules = (r: Rule[]) => {
    proxy.rules(r);
    proxy.log.length = 0;
  };
  const faults = () => proxy.log.filter((e) => e.fault).length;
  const backup = async (cfg = writerOnly, run = runCli) => {
    const t0 = Date.now();
    const r = await run(["-c", cfg, "--json", "backup", "now"]);
    return { ...r, ms: Date.now() - t0, id: r.code === 0 ? (JSON.parse(r.stdout).id as string) : "" };
  };
  /** complete.json keys straight from RGW, around the proxy. */
  const completes = async () => {
    const a = s3Client(s3!.endpoint, s3!.admin);
    const res = await a.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/backups/` }));
    const uploads = await a.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
    a.destroy();
    return {
      keys: (res.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith("/complete.json")),
      uploads: uploads.Uploads?.length ?? 0,
    };
  };
  /** The reader's verdict, without the proxy's faults. */
  const verify = async (id: string) => {
    rules([]);
    return runCli(["-c", repo.configFile, "verify", id]);
  };
  const restoredIntact = async (id: string) => {
    const out = tempDir("faultrestore");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(snapshotTree(data));
  };

  it("bursts of 500, 503 SlowDown and resets mid-part: the backup completes and is intact", async () => {
    rules([
      {
        method: "PUT",
        path: /assets\.tar\.age$/,
        query: /partNumber=1/,
        fault: { kind: "reset-request", afterBytes: 1024 * 1024 },
      },
      {
        method: "PUT",
        path: /assets\.tar\.age$/,
        query: /partNumber=2/,
        fault: { kind: "status", status: 500 },
        times: 2,
      },
      { method: "PUT", path: /manifest\.json\.age$/, fault: { kind: "status", status: 503 }, times: 2 },
      { method: "PUT", path: /complete\.json$/, fault: { kind: "status", status: 502 } },
    ]);
    const b = await backup();
    expect(b.stderr).not.toMatch(/error/);
    expect(b.code).toBe(0);
    expect(faults()).toBe(6);
    const v = await verify(b.id);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${b.id}  OK`);
    await restoredIntact(b.id);
  });

  it("a stalled server fails the backup in bounded time: one line naming the object, exit 1, no complete.json", async () => {
    const before = await completes();
    rules([{ method: "PUT", path: /assets\.tar\.age$/, fault: { kind: "stall" }, times: 1000 }]);
    const b = await backup();
    expect(b.code).toBe(1);
    const errors = b.stderr
      .trim()
      .split("\n")
      .filter((l) => /error/i.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /s3: uploading backups\/\d{8}T\d{6}Z-[0-9a-f]{6}\/assets\.tar\.age: timeout .*gave up after 3 attempts/,
    );
    // 3 attempts × 2 s idle + backoff + start-up: bounded, far from "hung until SIGTERM".
    expect(b.ms).toBeLessThan(30_000);
    const after = await completes();
    expect(after.keys).toEqual(before.keys);
    expect(after.uploads).toBe(0);
  });

  it("a 403 answered before the body was read: exit 1 at once, not after the idle timeout (no socket left behind)", async () => {
    const patient = repo.write((c) => {
      c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer };
      c.repository.s3.timeouts = { connect: "2s", idle: "40s", request: "60s" };
    });
    rules([
      {
        method: "PUT",
        path: /assets\.tar\.age$/,
        query: /partNumber=1/,
        fault: { kind: "status", status: 403, code: "AccessDenied", early: true },
      },
    ]);
    const b = await backup(patient, runProcess); // a real process: its end is what is measured
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/assets\.tar\.age: AccessDenied \(HTTP 403\) — the writer credentials are not allowed/);
    // ~0.4 s here; a half-sent part left on its socket kept the process alive until the 40 s idle timeout.
    // The bound is half that: a loaded machine (start-up of the CLI alone can take seconds) stays under it.
    expect(b.ms).toBeLessThan(20_000);
  });

  it("a lost response to the complete.json PUT: the backup exits 0 and really is complete", async () => {
    rules([{ method: "PUT", path: /complete\.json$/, fault: { kind: "lost-response" } }]);
    const b = await backup();
    expect(b.stderr).not.toMatch(/error/);
    expect(b.code).toBe(0);
    expect(faults()).toBe(1);
    expect((await completes()).keys).toContain(`${prefix}/backups/${b.id}/complete.json`);
    const v = await verify(b.id);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${b.id}  OK`);
  });

  it("a lost response to the last part's CompleteMultipartUpload: exit 0, and intact", async () => {
    rules([{ method: "POST", path: /assets\.tar\.age$/, query: /uploadId/, fault: { kind: "lost-response" } }]);
    const b = await backup();
    expect(b.code).toBe(0);
    expect(faults()).toBe(1);
    await restoredIntact(b.id);
  });

  it("complete.json answered 200 but never stored: the backup never looks complete", async () => {
    rules([{ method: "PUT", path: /complete\.json$/, fault: { kind: "drop-put" } }]);
    const b = await backup();
    // The writer cannot read; without verify_after_write it cannot know. The safe side holds: no complete backup.
    expect(b.code).toBe(0);
    rules([]);
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list", "--all"])).stdout);
    expect(list.find((x: { id: string }) => x.id === b.id)).toMatchObject({ complete: false });
    const v = await runCli(["-c", repo.configFile, "verify", b.id]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/incomplete/);
  });

  it("a data object answered 200 but never stored, without verify_after_write: the reader's verify catches it (exit 3)", async () => {
    rules([{ method: "PUT", path: /manifest\.json\.age$/, fault: { kind: "drop-put" } }]);
    const b = await backup();
    expect(b.code).toBe(0);
    const v = await verify(b.id);
    expect(v.code).toBe(3);
    expect(v.stdout + v.stderr).toMatch(/manifest\.json\.age/);
  });

  it("verify_after_write: writes answered 200 but never stored are found and sent again; the backup is intact", async () => {
    rules([
      { method: "PUT", path: /manifest\.json\.age$/, fault: { kind: "drop-put" } },
      { method: "PUT", path: /complete\.json$/, fault: { kind: "drop-put" } },
    ]);
    const b = await backup(writerVerified);
    expect(b.stderr).not.toMatch(/error/);
    expect(b.code).toBe(0);
    expect(faults()).toBe(2);
    expect(proxy.log.filter((e) => e.method === "HEAD").length).toBeGreaterThanOrEqual(5);
    const v = await verify(b.id);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${b.id}  OK`);
  });

  it("verify_after_write against a server that keeps dropping complete.json: exit 1 saying so, and no complete.json", async () => {
    const before = await completes();
    rules([{ method: "PUT", path: /complete\.json$/, fault: { kind: "drop-put" }, times: 100 }]);
    const b = await backup(writerVerified);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/complete\.json: the server acknowledged the upload but did not store it \(lost write/);
    expect((await completes()).keys).toEqual(before.keys);
  });

  it("restore and verify survive GET bodies cut mid-way (resumed by Range), and the data is intact", async () => {
    rules([]);
    const b = await backup();
    expect(b.code).toBe(0);
    rules([
      { method: "GET", path: /assets\.tar\.age$/, fault: { kind: "truncate", afterBytes: 3 * 1024 * 1024 }, times: 2 },
    ]);
    await restoredIntact(b.id);
    expect(faults()).toBe(2);
    rules([{ method: "GET", path: /assets\.tar\.age$/, fault: { kind: "stall-response", afterBytes: 1024 * 1024 } }]);
    const v = await runCli(["-c", repo.configFile, "verify", b.id]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${b.id}  OK`);
    expect(faults()).toBe(1);
  });

  it("a GET body that keeps breaking: verify fails with a store error naming the object (exit 1), in bounded time", async () => {
    rules([{ method: "GET", path: /assets\.tar\.age$/, fault: { kind: "truncate", afterBytes: 0 }, times: 1000 }]);
    const t0 = Date.now();
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code).toBe(1);
    expect(v.stdout + v.stderr).toMatch(/s3: reading backups\/[^ ]+\/assets\.tar\.age.*gave up after 3 attempts/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("a drill whose report upload stalls still ends in bounded time, says why the report is missing, and keeps its verdict", async () => {
    rules([{ method: "PUT", path: /\/drills\//, fault: { kind: "stall" }, times: 1000 }]);
    const t0 = Date.now();
    const d = await runCli(["-c", repo.configFile, "drill", "latest"]);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(
      /could not store the drill report under drills\/: s3: uploading drills\/[^ ]+\.json: timeout/,
    );
  });
});

import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
} from "@aws-sdk/client-s3";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, runCli as runProcess, tempDir } from "../helpers/cli.js";
// In-process (see test/helpers/run-in-process.ts), but for the dead endpoint: "not a hang" is about the process.
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");

describe.skipIf(!s3)("S3 repository on Ceph RGW with least-privilege roles", () => {
  const data = tempDir("s3data");
  makeSampleTree(data);
  const prefix = `spx-${Math.random().toString(16).slice(2, 8)}`;
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3!, prefix });
  // A backup host's config: writer credentials only.
  const writerOnly = repo.write((c) => (c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer }));
  let id = "";

  beforeAll(async () => {
    const r = await runCli(["-c", writerOnly, "--json", "backup", "now"]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    id = JSON.parse(r.stdout).id;
  });

  it("the writer really cannot list, read, head or delete (the policy holds)", async () => {
    const w = s3Client(s3!.endpoint, s3!.writer);
    const key = `${prefix}/backups/${id}/complete.json`;
    for (const cmd of [
      new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: prefix }),
      new GetObjectCommand({ Bucket: s3!.bucket, Key: key }),
      new HeadObjectCommand({ Bucket: s3!.bucket, Key: key }),
    ]) {
      await expect(w.send(cmd as never)).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    }
    await expect(w.send(new DeleteObjectCommand({ Bucket: s3!.bucket, Key: key }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
    w.destroy();
  });

  it("commands that need the reader role say so when only the writer is configured (exit 2)", async () => {
    const r = await runCli(["-c", writerOnly, "list"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/repository\.s3\.credentials\.reader: required/);
  });

  it("the bucket owner can read what the writer uploaded (bucket-owner-full-control)", async () => {
    const a = s3Client(s3!.endpoint, s3!.admin);
    const res = await a.send(
      new GetObjectCommand({ Bucket: s3!.bucket, Key: `${prefix}/backups/${id}/complete.json` }),
    );
    expect(JSON.parse(await res.Body!.transformToString()).id).toBe(id);
    a.destroy();
  });

  it("the reader lists, verifies and restores it exactly", async () => {
    const list = await runCli(["-c", repo.configFile, "--json", "list"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)[0]).toMatchObject({ id, complete: true, sources: ["assets"] });
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code).toBe(0);
    const out = tempDir("s3restore");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(snapshotTree(data));
  });

  it("a wrong secret is a one-line error naming the role (exit 1)", async () => {
    const bad = repo.write((c) => (c.repository.s3.credentials.writer.secret_access_key = "wrong-secret-value-123"));
    const r = await runCli(["-c", bad, "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /SignatureDoesNotMatch.*the writer secret access key is wrong for its key id; check repository\.s3\.credentials\.writer\.secret_access_key/,
    );
    expect(r.stderr).not.toContain("wrong-secret-value-123");
    expect(r.stderr).not.toMatch(/not allowed|strongbox policy/);
    expect(
      r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.includes("error")).length,
    ).toBeLessThanOrEqual(2);
  });

  it("an unknown key id names the role and the key, not the policy (exit 1)", async () => {
    const bad = repo.write((c) => (c.repository.s3.credentials.writer.access_key_id = "NOSUCHKEY0000000"));
    const r = await runCli(["-c", bad, "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /InvalidAccessKeyId.*the server does not know the writer access key id; check repository\.s3\.credentials\.writer\.access_key_id/,
    );
    expect(r.stderr).not.toMatch(/not allowed|strongbox policy/);
  });

  it("a dead endpoint is a clear error (exit 1), not a hang or a stack trace", async () => {
    const dead = repo.write((c) => {
      c.repository.s3.endpoint = "http://127.0.0.1:9";
      c.repository.s3.retry = { attempts: 3, base_delay: "0.1s", max_delay: "0.2s" };
    });
    const r = await runProcess(["-c", dead, "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unreachable|ECONNREFUSED/);
    expect(r.stderr).toMatch(/gave up after 3 attempts/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a source that fails leaves no object of its own and no open multipart upload; the others are committed without it", async () => {
    const big = tempDir("s3big");
    const { writeFileSync } = await import("node:fs");
    const { randomBytes } = await import("node:crypto");
    writeFileSync(join(big, "a.bin"), randomBytes(1024));
    const cfg = repo.write((c) => {
      c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer };
      c.sources = [
        { name: "ok", type: "files", path: big },
        { name: "missing", type: "files", path: "/nonexistent/x" },
      ];
    });
    const r = await runCli(["-c", cfg, "backup", "now"]);
    expect(r.code).toBe(1);
    const a = s3Client(s3!.endpoint, s3!.admin);
    const listed = await a.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/backups/` }));
    const completes = (listed.Contents ?? []).filter((o) => o.Key!.endsWith("complete.json"));
    // The good backup from beforeAll, and this run's backup of "ok" alone (a failed source no longer stops the others).
    expect(completes).toHaveLength(2);
    expect((listed.Contents ?? []).filter((o) => /\/missing\./.test(o.Key!))).toEqual([]);
    const uploads = await a.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
    expect(uploads.Uploads ?? []).toHaveLength(0);
    a.destroy();
  });
});

describe.skipIf(!s3)("Object Lock (COMPLIANCE retention) on Ceph RGW", () => {
  it("uploads carry the retention (single and multipart), and prune cannot destroy locked data", async () => {
    const { createRoleBucket } = await import("../helpers/s3-fixture.js");
    const { GetObjectRetentionCommand, ListObjectVersionsCommand, DeleteObjectCommand } =
      await import("@aws-sdk/client-s3");
    const { writeFileSync } = await import("node:fs");
    const { randomBytes } = await import("node:crypto");
    const bucket = `strongbox-lock-${Math.random().toString(16).slice(2, 8)}`;
    await createRoleBucket(s3!, bucket, { objectLock: true });
    const data = tempDir("lockdata");
    writeFileSync(join(data, "big.bin"), randomBytes(12 * 1024 * 1024));
    const repo = makeRepo({
      sources: [{ name: "media", type: "files", path: data }],
      s3: { ...s3!, bucket },
      prefix: "locked",
      compression: "none",
    });
    repo.config.repository.s3.object_lock_days = 1;
    repo.config.repository.s3.part_size_mb = 5;
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const ids: string[] = [];
    const nextSecond = secondApart(); // distinct, ordered ids without sleeping
    for (let i = 0; i < 2; i++) {
      const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(b.stderr).not.toMatch(/error/);
      expect(b.code).toBe(0);
      ids.push(JSON.parse(b.stdout).id);
    }
    const admin = s3Client(s3!.endpoint, s3!.admin);
    for (const f of ["media.tar.age", "complete.json"]) {
      const ret = await admin.send(
        new GetObjectRetentionCommand({ Bucket: bucket, Key: `locked/backups/${ids[0]}/${f}` }),
      );
      expect(ret.Retention?.Mode).toBe("COMPLIANCE");
      const until = ret.Retention!.RetainUntilDate!.getTime();
      expect(until).toBeGreaterThan(Date.now() + 23 * 3600_000);
    }
    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code).toBe(0);
    // The older backup is gone from view (delete markers), but its locked versions survive.
    const versions = await admin.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `locked/backups/${ids[0]}/` }),
    );
    const data0 = (versions.Versions ?? []).find((v) => v.Key!.endsWith("media.tar.age"))!;
    expect(data0).toBeDefined();
    await expect(
      admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: data0.Key!, VersionId: data0.VersionId! })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(list.map((b: { id: string }) => b.id)).toEqual([ids[1]]);
    admin.destroy();
  });
});

describe.skipIf(!s3)("doctor", () => {
  it("reports each role's permissions, and warns when a role can do more than it needs", async () => {
    const data = tempDir("doctor");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }], s3: s3! });
    const r = await runCli(["-c", repo.configFile, "--json", "doctor"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const f = Object.fromEntries(
      JSON.parse(r.stdout).findings.map((x: { area: string; status: string; detail: string }) => [
        x.area,
        `${x.status}: ${x.detail}`,
      ]),
    );
    expect(f["role writer"]).toBe("ok: put allowed, list denied, get denied, delete denied");
    expect(f["role reader"]).toBe("ok: list allowed, get allowed, put allowed, delete denied");
    expect(f["role pruner"]).toBe("ok: list allowed, get allowed, delete allowed");
    expect(f["probes"]).toMatch(/removed with the pruner role/);
    expect(f["TLS"]).toMatch(/^ok: .*plain HTTP \(loopback\)/);

    const tooMuch = repo.write(
      (c) =>
        (c.repository.s3.credentials.writer = {
          access_key_id: s3!.admin.accessKeyId,
          secret_access_key: s3!.admin.secretAccessKey,
        }),
    );
    const w = await runCli(["-c", tooMuch, "doctor"]);
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(
      /WARN\s+role writer\s+put allowed, list allowed, get allowed, delete allowed — can do more than it needs/,
    );

    const badSecret = repo.write((c) => (c.repository.s3.credentials.reader.secret_access_key = "not-the-secret-123"));
    const b = await runCli(["-c", badSecret, "doctor"]);
    expect(b.code).toBe(1);
    expect(b.stdout).toMatch(/FAIL\s+role reader\s+.*SignatureDoesNotMatch/);
    expect(b.stdout + b.stderr).not.toContain("not-the-secret-123");
  });
});

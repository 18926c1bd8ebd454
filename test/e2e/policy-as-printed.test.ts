import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");

// The bucket's ONLY policy is exactly what `strongbox policy` prints; nothing hand-written.
describe.skipIf(!s3)("the printed bucket policy, applied as printed on Ceph RGW", () => {
  const bucket = `printed-${Math.random().toString(16).slice(2, 8)}`;
  const data = tempDir("policydata");
  makeSampleTree(data);
  writeFileSync(join(data, "extra.txt"), "x");
  // Incompressible and above the 5 MiB part size: the writer's backup is a multipart upload.
  writeFileSync(join(data, "clip.bin"), randomBytes(6 * 1024 * 1024));
  const base = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3!, prefix: "spx-prod" });
  const full = base.write((c) => {
    c.repository.url = `s3://${bucket}/spx-prod`;
    c.retention = { keep_last: 1 };
    c.repository.s3.part_size_mb = 5;
  });
  const only = (role: string) =>
    base.write((c) => {
      c.repository.url = `s3://${bucket}/spx-prod`;
      c.retention = { keep_last: 1 };
      c.repository.s3.part_size_mb = 5;
      c.repository.s3.credentials = { [role]: c.repository.s3.credentials[role] };
    });
  const ids: string[] = [];

  beforeAll(async () => {
    const admin = s3Client(s3!.endpoint, s3!.admin);
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    const p = await runCli(["-c", full, "policy", "--principal", "arn:aws:iam:::user/ROLE"]);
    expect(p.code).toBe(0);
    const policy = JSON.parse(p.stdout);
    expect(new Set(policy.Statement.flatMap((s: { Principal: { AWS: string[] } }) => s.Principal.AWS))).toEqual(
      new Set(["arn:aws:iam:::user/writer", "arn:aws:iam:::user/reader", "arn:aws:iam:::user/pruner"]),
    );
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: p.stdout }));
    admin.destroy();
    const nextSecond = secondApart(); // distinct, ordered ids without sleeping
    for (let i = 0; i < 2; i++) {
      const b = await runCli(["-c", only("writer"), "--json", "backup", "now"], { env: nextSecond() });
      expect(b.stderr).not.toMatch(/error/);
      expect(b.code).toBe(0);
      ids.push(JSON.parse(b.stdout).id);
    }
  });

  it("policy <role> prints that role's part only and says it must be merged", async () => {
    const r = await runCli(["-c", full, "policy", "reader", "--principal", "arn:aws:iam:::user/ROLE"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/only the reader role's part.*merge/);
    expect(JSON.stringify(JSON.parse(r.stdout))).not.toMatch(/user\/(writer|pruner)/);
  });

  it("the writer cannot list, get or delete", async () => {
    const w = s3Client(s3!.endpoint, s3!.writer);
    const key = `spx-prod/backups/${ids[0]}/complete.json`;
    for (const cmd of [
      new ListObjectsV2Command({ Bucket: bucket, Prefix: "spx-prod/" }),
      new GetObjectCommand({ Bucket: bucket, Key: key }),
      new DeleteObjectCommand({ Bucket: bucket, Key: key }),
    ]) {
      await expect(w.send(cmd as never)).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    }
    w.destroy();
  });

  it("the reader lists, verifies, restores and files a drill report, and cannot delete", async () => {
    const cfg = only("reader");
    const l = await runCli(["-c", cfg, "--json", "list"]);
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout).map((b: { id: string }) => b.id)).toEqual([...ids].reverse());
    const v = await runCli(["-c", cfg, "verify", "latest"]);
    expect(v.stdout).toContain(`${ids[1]}  OK`);
    expect(v.code).toBe(0);
    const out = tempDir("policyrestore");
    const r = await runCli(["-c", cfg, "restore", ids[1], "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(snapshotTree(data));
    const d = await runCli(["-c", cfg, "--json", "drill", "latest"]);
    expect(d.stderr).not.toMatch(/denied|AccessDenied/);
    expect(d.code).toBe(0);
    const rd = s3Client(s3!.endpoint, s3!.reader);
    const drills = await rd.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "spx-prod/drills/" }));
    expect(drills.Contents?.length).toBe(1);
    await expect(
      rd.send(new DeleteObjectCommand({ Bucket: bucket, Key: `spx-prod/backups/${ids[0]}/complete.json` })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    rd.destroy();
  });

  it("doctor passes with every role under the printed policy", async () => {
    const r = await runCli(["-c", full, "doctor"]);
    expect(r.stdout).toMatch(/role writer +put allowed, list denied, get denied, delete denied/);
    expect(r.stdout).toMatch(/role reader +list allowed, get allowed, put allowed, delete denied/);
    expect(r.stdout).toMatch(/role pruner +list allowed, get allowed, delete allowed/);
    expect(r.code).toBe(0);
  });

  it("the pruner prunes (listing multipart uploads included)", async () => {
    const p = await runCli(["-c", only("pruner"), "--json", "prune"]);
    expect(p.stderr).not.toMatch(/error|denied/i);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted).toEqual([ids[0]]);
    expect(res.aborted_uploads).toEqual([]);
  });

  it("the pruner may abort a writer's multipart upload (prune's stale-upload cleanup); nobody may write where their role does not", async () => {
    const w = s3Client(s3!.endpoint, s3!.writer);
    const pr = s3Client(s3!.endpoint, s3!.pruner);
    const rd = s3Client(s3!.endpoint, s3!.reader);
    try {
      const key = `spx-prod/backups/${ids[1]}-x/assets.tar.zst.age`;
      const { UploadId } = await w.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await expect(
        w.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "spx-prod/" })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      const listed = await pr.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "spx-prod/" }));
      expect((listed.Uploads ?? []).map((u) => u.UploadId)).toContain(UploadId);
      await pr.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
      const after = await pr.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "spx-prod/" }));
      expect((after.Uploads ?? []).map((u) => u.UploadId)).not.toContain(UploadId);
      const put = (key: string) => new PutObjectCommand({ Bucket: bucket, Key: key, Body: "forged" });
      await expect(rd.send(put(`spx-prod/backups/${ids[1]}/complete.json.x`))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      await expect(pr.send(put(`spx-prod/backups/${ids[1]}/complete.json.x`))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      await expect(w.send(put("outside-the-prefix.txt"))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    } finally {
      for (const c of [w, pr, rd]) c.destroy();
    }
  });
});

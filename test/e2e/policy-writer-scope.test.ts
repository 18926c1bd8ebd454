// Issue 20: the printed policy limits the writer to what it writes (backups/, and wal/ for point-in-
// time recovery later). Applied as printed on Ceph RGW: a writer key cannot file a drill report or
// put anything outside backups/ and wal/; backups, the reader's drill reports and doctor still work.
// Against the previous policy (writer Put on the whole prefix), doctor warns.
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { s3Client } from "../helpers/s3-fixture.js";

const s3 = inject("s3");

describe.skipIf(!s3)("the printed policy: the writer writes backups/ and wal/ only (Ceph RGW)", () => {
  it("a writer key cannot put a drill report or outside backups/; backups, drills and doctor still work", async () => {
    const bucket = `scope-${Math.random().toString(16).slice(2, 8)}`;
    const data = tempDir("scopedata");
    writeFileSync(join(data, "a.txt"), "a\n");
    const base = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3!, prefix: "spx-prod" });
    const full = base.write((c) => (c.repository.url = `s3://${bucket}/spx-prod`));
    const only = (role: string) =>
      base.write((c) => {
        c.repository.url = `s3://${bucket}/spx-prod`;
        c.repository.s3.credentials = { [role]: c.repository.s3.credentials[role] };
      });
    const admin = s3Client(s3!.endpoint, s3!.admin);
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    const p = await runCli(["-c", full, "policy", "--principal", "arn:aws:iam:::user/ROLE"]);
    expect(p.code).toBe(0);
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: p.stdout }));

    const b = await runCli(["-c", only("writer"), "--json", "backup", "now"]);
    expect(b.stderr).not.toMatch(/denied|error/i);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;

    const w = s3Client(s3!.endpoint, s3!.writer);
    const put = (Key: string) => w.send(new PutObjectCommand({ Bucket: bucket, Key, Body: "{}" }));
    try {
      const forgedDrill = JSON.stringify({
        backup_id: id,
        result: "pass",
        drill_id: "20991231T000000Z-ffffff",
        finished_at: "2099-12-31T00:00:00Z",
      });
      await expect(
        w.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: "spx-prod/drills/20991231T000000Z-ffffff.json",
            Body: forgedDrill,
          }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      for (const key of [
        "spx-prod/elsewhere.json",
        "spx-prod/doctor/probe",
        "spx-prod/backupsx/1",
        "other/backups/x",
        "backups/x",
      ]) {
        await expect(put(key), key).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      }
      await put("spx-prod/wal/000000010000000000000001"); // kept for point-in-time recovery
    } finally {
      w.destroy();
    }

    const l = await runCli(["-c", only("reader"), "--json", "list"]);
    expect(JSON.parse(l.stdout)).toMatchObject([{ id, complete: true, last_drill: null }]);
    const d = await runCli(["-c", only("reader"), "drill", "latest"]);
    expect(d.stderr).not.toMatch(/denied/i);
    expect(d.code).toBe(0);
    const doc = await runCli(["-c", full, "doctor"]);
    expect(doc.stdout).toMatch(/role writer +put allowed, list denied, get denied, delete denied/);
    expect(doc.stdout).not.toMatch(/writer scope/);
    expect(doc.stdout).toMatch(/probes +\d probe object\(s\) removed with the pruner role/);
    expect(doc.code).toBe(0);

    // The previous policy (writer Put anywhere under the prefix): doctor says what a stolen key could do.
    const broad = JSON.parse(p.stdout);
    for (const s of broad.Statement)
      if (s.Sid === "StrongboxWriterPut") s.Resource = [`arn:aws:s3:::${bucket}/spx-prod/*`];
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(broad) }));
    admin.destroy();
    const warn = await runCli(["-c", full, "doctor"]);
    expect(warn.stdout).toMatch(/WARN\s+writer scope\s+the writer can put drill reports/);
    expect(warn.code).toBe(0);
  }, 120_000);
});

// Object Lock for WAL (Ceph RGW): wal push stores a segment with COMPLIANCE retention a day longer than
// object_lock_days (a base's objects are locked from their upload, and the WAL it needs is pushed from the
// base's start on: the day covers the backup's run). prune treats a locked WAL file as it treats a locked
// backup: it is not a failure, and the locked version survives.
import {
  DeleteObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { keys } from "../../src/repository/layout.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import { createRoleBucket, s3Client } from "../helpers/s3-fixture.js";
import { makeDataDir, makeSegment, segName, SYSID } from "../helpers/wal-craft.js";

const s3 = inject("s3");

describe.skipIf(!s3)("Object Lock for WAL (Ceph RGW)", () => {
  it("wal push locks a segment a day longer than object_lock_days; prune cannot destroy it", async () => {
    const bucket = `strongbox-wallock-${Math.random().toString(16).slice(2, 8)}`;
    await createRoleBucket(s3!, bucket, { objectLock: true });
    const files = tempDir("wallock-files");
    writeFileSync(join(files, "x"), "x");
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: files }],
      s3: { ...s3!, bucket },
      prefix: "locked",
    });
    repo.config.repository.s3.object_lock_days = 1;
    repo.config.retention = { keep_last: 1 };
    repo.config.state_dir = tempDir("wallock-state");
    repo.write();
    const data = makeDataDir(tempDir("wallock-pgdata"), SYSID);
    const name = segName(1, 3);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 3 }));
    const push = await runCli(["-c", repo.configFile, "wal", "push", `pg_wal/${name}`], { cwd: data });
    expect(push).toMatchObject({ code: 0, stderr: "" });

    const admin = s3Client(s3!.endpoint, s3!.admin);
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "locked/wal/" }));
    const key = listed.Contents?.map((c) => c.Key!).find((k) => k.includes(`/${name}.`));
    expect(key).toBeDefined();
    const ret = await admin.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key }));
    expect(ret.Retention?.Mode).toBe("COMPLIANCE");
    expect(ret.Retention!.RetainUntilDate!.getTime()).toBeGreaterThan(Date.now() + 47 * 3600_000);

    // A kept base that starts after the segment: prune deletes it from view, its locked version stays.
    await forgeBackup(writerStore(repo), repo.recipient, {
      files: { cluster: files },
      started: new Date(Date.now() - 2000),
      objectKey: (id) => keys.object(id, "cluster.base.tar.age"),
      complete: (c) => {
        c.sources = [
          {
            name: "cluster",
            type: "postgres-cluster",
            wal: { system_identifier: SYSID.toString(), timeline: 1, start_wal: segName(1, 5) },
          },
        ];
      },
    });
    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code, p.stderr).toBe(0);
    const cluster = JSON.parse(p.stdout).wal.clusters[0];
    expect(cluster.deleted + cluster.locked).toBe(1);
    const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    const v = (versions.Versions ?? []).find((x) => x.Key === key)!;
    expect(v).toBeDefined();
    await expect(
      admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: v.VersionId! })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    admin.destroy();
  });
});

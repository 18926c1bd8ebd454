import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { makeDataDir, makeSegment, segName, sha256, SYSID } from "../helpers/wal-craft.js";

const s3 = inject("s3");

describe.skipIf(!s3)("wal push with a writer that can only PutObject, wal fetch with the reader (Ceph RGW)", () => {
  const prefix = `wal-${Math.random().toString(16).slice(2, 8)}`;
  const repo = makeRepo({
    sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_URL}" }],
    s3: s3!,
    prefix,
  });
  // The database host: the writer's keys and the recipients; no reader, no identity.
  const writerOnly = repo.write((c) => {
    c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer };
    delete c.encryption.identity_file;
    c.state_dir = tempDir("walstate");
  });
  const readerOnly = repo.write((c) => (c.repository.s3.credentials = { reader: c.repository.s3.credentials.reader }));
  const data = makeDataDir(tempDir("pgdata-s3"), SYSID);
  const push = (name: string) => runCli(["-c", writerOnly, "wal", "push", `pg_wal/${name}`], { cwd: data });
  const fetch = (name: string, dest: string) => runCli(["-c", readerOnly, "wal", "fetch", name, dest], { cwd: data });
  const stored = async () =>
    (
      await s3Client(s3!.endpoint, s3!.admin).send(
        new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/wal/` }),
      )
    ).Contents?.map((o) => o.Key!.slice(prefix.length + 1)) ?? [];

  it("stores, retries with exit 0, and gives back the same bytes", async () => {
    const name = segName(1, 3);
    const seg = makeSegment({ sysid: SYSID, tli: 1, segno: 3 });
    writeFileSync(join(data, "pg_wal", name), seg);
    expect(await push(name)).toMatchObject({ code: 0, stderr: "" });
    expect(await push(name)).toMatchObject({ code: 0, stderr: "" }); // the retry: 412, the same content
    expect(await stored()).toEqual([`wal/${SYSID}/00000001/${name}.${sha256(seg)}.zst.age`]);
    expect(await fetch(name, "pg_wal/RECOVERYXLOG")).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(data, "pg_wal", "RECOVERYXLOG")).equals(seg)).toBe(true);
  });

  it("a different segment under a stored name lands beside it and never comes back from fetch", async () => {
    const name = segName(1, 4);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 4 }));
    expect((await push(name)).code).toBe(0);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 4 }));
    expect((await push(name)).code).toBe(0);
    expect((await stored()).filter((k) => k.includes(name))).toHaveLength(2);
    const f = await fetch(name, "pg_wal/RECOVERYXLOG-4");
    expect(f.code).toBe(255);
    expect(f.stderr).toMatch(/2 different files are archived under this name, refusing to pick one/);
  });

  it("a file that is not archived exits 1", async () => {
    const f = await fetch(segName(1, 0x50), "pg_wal/RECOVERYXLOG-x");
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/is not archived\)\n$/);
  });
});

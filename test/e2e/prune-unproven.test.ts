// Issue 22 item 22: prune trusts object sizes. A same-size bit flip in the newest backup must not let
// `keep_last: 1` delete the older intact one: prune keeps that predecessor until a newer backup is
// proven intact (a passed drill, or a hash check where the pruner may read the objects).
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startS3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { secondApart } from "../helpers/backup-clock.js";

const s3 = inject("s3");

/** Distinct ids by second, and a strict order for retention, without sleeping (test/helpers/backup-clock.ts). */
const nextSecond = secondApart();

async function backup(repo: TestRepo, args: string[] = [], log?: RegExp): Promise<string> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now", ...args], { env: nextSecond() });
  expect(r.code, r.stderr).toBe(0);
  if (log) expect(r.stderr).toMatch(log);
  return JSON.parse(r.stdout).id as string;
}

function flip(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out[Math.floor(out.length / 2)] ^= 0x01;
  return out;
}

type Unproven = { source: string; kept: string; newest: string; why: string };

describe("prune keeps the last predecessor of a backup it cannot prove intact (file://, the pruner can hash)", () => {
  it("a same-size bit flip in the newest backup: keep_last 1 keeps the older intact backup and says why", async () => {
    const data = tempDir("unproven");
    writeFileSync(join(data, "a.txt"), "x".repeat(5000));
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const old = await backup(repo);
    const newer = await backup(repo);
    const obj = join(repo.dir, "repository/backups", newer, "files.tar.zst.age");
    writeFileSync(obj, flip(readFileSync(obj)));

    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted).toEqual([]);
    expect(res.unproven).toEqual([
      {
        source: "files",
        kept: old,
        newest: newer,
        why: expect.stringMatching(/fails the hash check: .*files\.tar\.zst\.age: SHA-256 mismatch/),
      },
    ] satisfies Unproven[]);
    expect(res.plan.find((r: { id: string }) => r.id === old)).toMatchObject({
      action: "keep",
      reasons: [expect.stringMatching(/not proven intact/)],
    });
    const text = await runCli(["-c", repo.configFile, "prune", "--dry-run"]);
    expect(text.stdout).toContain(`kept ${old} (files): newer backup(s) not proven intact`);
  });

  it("a differential's own objects are intact but its base has a same-size bit flip: the older full is kept", async () => {
    const data = tempDir("unproven-diff");
    writeFileSync(join(data, "a.txt"), "x".repeat(20_000));
    const repo = makeRepo({
      sources: [{ name: "files", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const old = await backup(repo, ["--full"]);
    const base = await backup(repo, ["--full"]);
    writeFileSync(join(data, "b.txt"), "y".repeat(1000));
    const diff = await backup(repo, [], new RegExp(`files: differential on base ${base}`));
    const obj = join(repo.dir, "repository/backups", base, "files.tar.zst.age");
    writeFileSync(obj, flip(readFileSync(obj)));

    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code, p.stdout + p.stderr).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted).toEqual([]);
    expect(res.unproven).toEqual([
      {
        source: "files",
        kept: old,
        newest: diff,
        why: expect.stringMatching(
          new RegExp(`${diff}: its base ${base}: it fails the hash check: .*SHA-256 mismatch`),
        ),
      },
    ] satisfies Unproven[]);
  });
});

describe.skipIf(!s3)("prune with the pruner role on S3", () => {
  it("bit flip: the old backup is kept; once a newer backup's drill passed, it is deleted without reading the objects", async () => {
    const data = tempDir("unproven-s3");
    writeFileSync(join(data, "a.txt"), "y".repeat(5000));
    const prefix = `unproven-${Math.random().toString(16).slice(2, 8)}`;
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }], s3: s3!, prefix });
    repo.config.retention = { keep_last: 1 };
    repo.write();
    // The pruner goes through a (fault-free) proxy whose log shows which objects it read.
    const proxy = await startS3FaultProxy(s3!.endpoint);
    const prunerOnly = repo.write((c) => {
      c.repository.s3.credentials = { pruner: c.repository.s3.credentials.pruner };
      c.repository.s3.endpoint = proxy.endpoint;
    });
    const dataReads = () => proxy.log.filter((e) => e.method === "GET" && /\.tar\.zst\.age$/.test(e.path)).length;
    const old = await backup(repo);
    const newer = await backup(repo);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const Key = `${prefix}/backups/${newer}/files.tar.zst.age`;
    const got = await admin.send(new GetObjectCommand({ Bucket: s3!.bucket, Key }));
    const body = flip(Buffer.from(await got.Body!.transformToByteArray()));
    await admin.send(new PutObjectCommand({ Bucket: s3!.bucket, Key, Body: body, ContentLength: body.length }));

    const p = await runCli(["-c", prunerOnly, "--json", "prune"]);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted).toEqual([]);
    expect(res.unproven).toEqual([
      {
        source: "files",
        kept: old,
        newest: newer,
        why: expect.stringMatching(/fails the hash check: .*SHA-256 mismatch/),
      },
    ] satisfies Unproven[]);
    expect(dataReads()).toBeGreaterThan(0);
    expect(p.stderr).toMatch(new RegExp(`${old}: kept, the newer backup\\(s\\) of files are not proven intact`));

    // A new backup, drilled (with the reader): now the newest is proven, and the old ones go.
    const third = await backup(repo);
    const d = await runCli(["-c", repo.configFile, "drill", third]);
    expect(d.code).toBe(0);
    proxy.log.length = 0;
    const p2 = await runCli(["-c", prunerOnly, "--json", "prune", "--force"]);
    expect(p2.code).toBe(0);
    const res2 = JSON.parse(p2.stdout);
    expect(res2.unproven).toEqual([]);
    expect(res2.deleted.sort()).toEqual([old, newer].sort());
    expect(dataReads()).toBe(0); // the drill was the proof: nothing was hashed
    await proxy.close();
    const left = await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/backups/` }));
    expect(new Set((left.Contents ?? []).map((o) => o.Key!.split("/")[2]))).toEqual(new Set([third]));
    admin.destroy();
  });
});

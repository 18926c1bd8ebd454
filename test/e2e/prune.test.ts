import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
} from "@aws-sdk/client-s3";
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, inject, it } from "vitest";
import { deleteBackup } from "../../src/commands/prune.js";
import type { ObjectInfo, Store } from "../../src/stores/store.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { s3Client } from "../helpers/s3-fixture.js";

const s3 = inject("s3");

/** Makes copies of a real backup under older ids (a file:// repository), as if taken on earlier days. */
function ageBackups(repo: TestRepo, id: string, daysAgo: number[], incomplete: number[] = []): string[] {
  const base = join(repo.dir, "repository/backups");
  const ids: string[] = [];
  const wanted = [...daysAgo.map((d) => ({ d, complete: true })), ...incomplete.map((d) => ({ d, complete: false }))];
  for (const { d, complete } of wanted) {
    const t = new Date(Date.now() - d * 86400_000);
    const newId = `${t
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")}-${Math.floor(Math.random() * 0xffffff)
      .toString(16)
      .padStart(6, "0")}`;
    cpSync(join(base, id), join(base, newId), { recursive: true });
    const completeFile = join(base, newId, "complete.json");
    if (!complete) renameSync(completeFile, join(base, newId, "not-complete.txt"));
    else {
      // A consistent marker for the copy: its id, keys and times (started_at must agree with the id).
      const rec = JSON.parse(readFileSync(completeFile, "utf8").replaceAll(id, newId));
      rec.started_at = new Date(Math.floor(t.getTime() / 1000) * 1000).toISOString();
      rec.finished_at = new Date(Math.floor(t.getTime() / 1000) * 1000 + 500).toISOString();
      writeFileSync(completeFile, JSON.stringify(rec));
      // ... and the store's time for it: prune judges a claimed time by the store's (the file's mtime).
      utimesSync(completeFile, t, t);
    }
    ids.push(newId);
  }
  return ids;
}

describe("prune", () => {
  it("deletes complete.json first", async () => {
    const calls: string[] = [];
    const store = { delete: async (k: string) => void calls.push(k) } as unknown as Store;
    const objs: ObjectInfo[] = ["a.tar.zst.age", "complete.json", "manifest.json.age"].map((f) => ({
      key: `backups/X/${f}`,
      size: 1,
    }));
    expect(await deleteBackup(store, "X", objs)).toBe(3);
    expect(calls[0]).toBe("backups/X/complete.json");
  });

  it("dry-run shows the plan with reasons; prune applies it; old incompletes go, fresh ones stay", async () => {
    const data = tempDir("prunedata");
    writeFileSync(join(data, "a.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    repo.config.retention = { keep_last: 2 };
    repo.write();
    const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const [d1, d2, d3, inc3] = ageBackups(repo, id, [1, 2, 3], [3]);
    // a fresh incomplete backup (still running, as far as prune can tell)
    const fresh = ageBackups(repo, id, [], [0.01])[0];

    // ages come from the ids; the copies' files are new, so make the old incomplete one look idle
    const { utimesSync } = await import("node:fs");
    for (const f of readdirSync(join(repo.dir, "repository/backups", inc3))) {
      utimesSync(
        join(repo.dir, "repository/backups", inc3, f),
        new Date(Date.now() - 3 * 86400_000),
        new Date(Date.now() - 3 * 86400_000),
      );
    }
    const dry = await runCli(["-c", repo.configFile, "--json", "prune", "--dry-run"]);
    expect(dry.code).toBe(0);
    const plan = Object.fromEntries(
      JSON.parse(dry.stdout).plan.map((r: { id: string; action: string; reasons: string[] }) => [
        r.id,
        `${r.action}: ${r.reasons.join("; ")}`,
      ]),
    );
    expect(plan[id]).toBe("keep: last 1/2 of files; newest of files");
    expect(plan[d1]).toBe("keep: last 2/2 of files");
    expect(plan[d2]).toBe("drop: no rule keeps it for any of its sources (files)");
    expect(plan[d3]).toBe("drop: no rule keeps it for any of its sources (files)");
    expect(plan[inc3]).toBe("drop: incomplete, nothing written for over 24 h");
    expect(plan[fresh]).toMatch(/^keep: incomplete, may still be in progress/);
    expect(readdirSync(join(repo.dir, "repository/backups"))).toHaveLength(6);
    const text = await runCli(["-c", repo.configFile, "prune", "--dry-run"]);
    expect(text.stdout).toMatch(/ID\s+AGE\s+ACTION\s+WHY/);

    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).deleted.sort()).toEqual([d2, d3, inc3].sort());
    expect(readdirSync(join(repo.dir, "repository/backups")).sort()).toEqual([id, d1, fresh].sort());
  });

  it("issue 9: one full backup and two `backup now --source rundowns`, keep_last 2: the full (the only backup of db and projects) stays", async () => {
    const dirs = Object.fromEntries(["db", "projects", "rundowns"].map((n) => [n, tempDir(`ps-${n}`)]));
    for (const [n, d] of Object.entries(dirs)) writeFileSync(join(d, `${n}.txt`), n);
    const repo = makeRepo({ sources: Object.entries(dirs).map(([name, path]) => ({ name, type: "files", path })) });
    repo.config.retention = { keep_last: 2 };
    repo.write();
    const nextSecond = secondApart(); // distinct, ordered ids without sleeping
    const backup = async (...args: string[]) => {
      const r = await runCli(["-c", repo.configFile, "--json", "backup", "now", ...args], { env: nextSecond() });
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout).id as string;
    };
    const full = await backup();
    const r1 = await backup("--source", "rundowns");
    const r2 = await backup("--source", "rundowns");
    const dry = await runCli(["-c", repo.configFile, "--json", "prune", "--dry-run"]);
    expect(dry.code).toBe(0);
    const plan = Object.fromEntries(
      JSON.parse(dry.stdout).plan.map((r: { id: string; action: string; reasons: string[] }) => [
        r.id,
        `${r.action}: ${r.reasons.join("; ")}`,
      ]),
    );
    expect(plan[full]).toBe("keep: last 1/2 of db, projects; newest of db, projects");
    expect(plan[r2]).toBe("keep: last 1/2 of rundowns; newest of rundowns");
    expect(plan[r1]).toBe("keep: last 2/2 of rundowns");
    const text = await runCli(["-c", repo.configFile, "prune", "--dry-run"]);
    expect(text.stdout).toMatch(
      new RegExp(`${full}\\s+\\S+\\s+keep\\s+last 1/2 of db, projects; newest of db, projects`),
    );
    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).deleted).toEqual([]);

    // a third rundowns-only backup: the oldest rundowns-only one goes, the full still stays
    const r3 = await backup("--source", "rundowns");
    const p2 = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p2.code).toBe(0);
    expect(JSON.parse(p2.stdout).deleted).toEqual([r1]);
    const left = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout).map(
      (b: { id: string }) => b.id,
    );
    expect(left.sort()).toEqual([full, r2, r3].sort());
    // no empty directory is left for the pruned backup
    expect(existsSync(join(repo.dir, "repository/backups", r1))).toBe(false);
    const restored = tempDir("ps-restore");
    const rs = await runCli(["-c", repo.configFile, "restore", full, "--to-dir", restored]);
    expect(rs.code).toBe(0);
    expect(readFileSync(join(restored, "db", "db.txt"), "utf8")).toBe("db");
  });

  it("refuses to prune without a retention rule (exit 2)", async () => {
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tempDir("x") }] });
    const r = await runCli(["-c", repo.configFile, "prune"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/retention: no keep_\* rule/);
  });
});

describe.skipIf(!s3)("prune on S3 with the pruner role", () => {
  it("deletes what the policy drops, keeps the newest, and leaves young multipart uploads alone", async () => {
    const data = tempDir("s3prune");
    writeFileSync(join(data, "a.txt"), "x");
    const prefix = `prune-${Math.random().toString(16).slice(2, 8)}`;
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }], s3: s3!, prefix });
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const ids: string[] = [];
    const nextSecond = secondApart(); // distinct, ordered ids without sleeping
    for (let i = 0; i < 3; i++)
      ids.push(
        JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() })).stdout).id,
      );
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const young = await admin.send(
      new CreateMultipartUploadCommand({ Bucket: s3!.bucket, Key: `${prefix}/backups/x/young.age` }),
    );
    const prunerOnly = repo.write(
      (c) => (c.repository.s3.credentials = { pruner: c.repository.s3.credentials.pruner }),
    );
    // 2 of 3 backups is more than the default retention.max_delete_share (0.5): --force.
    const p = await runCli(["-c", prunerOnly, "--json", "prune", "--force"]);
    expect(p.stderr).not.toMatch(/error/);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted.sort()).toEqual(ids.slice(0, 2).sort());
    expect(res.aborted_uploads).toEqual([]);
    const left = await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/backups/` }));
    expect(new Set((left.Contents ?? []).map((o) => o.Key!.split("/")[2]))).toEqual(new Set([ids[2]]));
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix }));
    expect(uploads.Uploads?.map((u) => u.UploadId)).toContain(young.UploadId);
    await admin.send(
      new AbortMultipartUploadCommand({
        Bucket: s3!.bucket,
        Key: `${prefix}/backups/x/young.age`,
        UploadId: young.UploadId,
      }),
    );
    // the reader role cannot prune
    const readerOnly = repo.write(
      (c) => (c.repository.s3.credentials = { reader: c.repository.s3.credentials.reader }),
    );
    const r = await runCli(["-c", readerOnly, "prune"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/credentials\.pruner: required/);
    admin.destroy();
    void Readable;
    void existsSync;
  });
});

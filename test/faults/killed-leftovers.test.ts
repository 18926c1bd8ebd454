// Issue 22 item 21 (a, b): what a kill -9 leaves behind, the next run of the same command cleans.
// Each kill happens at a point the test waits for (a temp file exists; a DELETE is in flight), not after a guessed time.
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, runAndKillWhen, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startS3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { secondApart } from "../helpers/backup-clock.js";

const s3 = inject("s3");

const tempFiles = (dir: string): string[] => {
  try {
    return (readdirSync(dir, { recursive: true }) as string[]).filter((p) =>
      p.split("/").pop()!.startsWith(".strongbox-tmp-"),
    );
  } catch {
    return [];
  }
};

describe("a killed copy", () => {
  it("leaves a temp file in the destination; the next copy removes it and completes", async () => {
    const data = tempDir("killcopy");
    writeFileSync(join(data, "big.bin"), randomBytes(48 << 20));
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }], compression: "none" });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const dest = tempDir("killcopy-dest");
    const to = `file://${dest}`;
    const k = await runAndKillWhen(
      ["-c", repo.configFile, "copy", "latest", "--to", to],
      () => tempFiles(dest).length > 0,
    );
    expect(k.killed).toBe(true);
    expect(tempFiles(dest)).toHaveLength(1);

    const c = await runCli(["-c", repo.configFile, "--json", "copy", "latest", "--to", to]);
    expect(c.code).toBe(0);
    expect(tempFiles(dest)).toEqual([]);
    const res = JSON.parse(c.stdout);
    expect(res.leftovers_removed.count).toBe(1);
    expect(res.copied).toHaveLength(1);
  });
});

describe.skipIf(!s3)("a killed prune", () => {
  const nextSecond = secondApart();
  it.each([
    {
      reupload: false,
      what: "leaves a half-deleted backup; the next prune finishes deleting it (not kept 24 h as incomplete)",
    },
    {
      reupload: true,
      what: "leaves a half-deleted backup that is then uploaded to again (a copy re-sending it): the next prune leaves it to the grace",
    },
  ])("$what", async ({ reupload }) => {
    nextSecond.reset();
    const data = tempDir("killprune");
    writeFileSync(join(data, "a.txt"), "z".repeat(10_000));
    const prefix = `killprune-${randomBytes(3).toString("hex")}`;
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }], s3: s3!, prefix });
    repo.config.retention = { keep_last: 1 };
    repo.config.state_dir = tempDir("killprune-state");
    repo.write();
    const backup = async () => {
      const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() }); // distinct ids by second
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout).id as string;
    };
    const old = await backup();
    const newest = await backup();
    const proxy = await startS3FaultProxy(s3!.endpoint);
    const pruner = repo.write((c) => {
      c.repository.s3.credentials = { pruner: c.repository.s3.credentials.pruner };
      c.repository.s3.endpoint = proxy.endpoint;
    });
    // complete.json goes first; the DELETE of the data object then hangs, and prune is killed there.
    proxy.rules([{ method: "DELETE", path: /files\.tar\.zst\.age$/, fault: { kind: "stall" }, times: 100 }]);
    const k = await runAndKillWhen(["-c", pruner, "prune"], () =>
      proxy.log.some((e) => e.method === "DELETE" && e.fault === "stall"),
    );
    expect(k.killed).toBe(true);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const keysOf = async (id: string) =>
      (
        (await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/backups/${id}/` })))
          .Contents ?? []
      ).map((o) => o.Key!.split("/").pop());
    const half = await keysOf(old);
    expect(half).not.toContain("complete.json");
    expect(half).toContain("files.tar.zst.age");

    proxy.rules([]);
    if (reupload) {
      // Stored after the killed prune recorded the id: not the killed prune's to finish.
      await admin.send(
        new PutObjectCommand({
          Bucket: s3!.bucket,
          Key: `${prefix}/backups/${old}/files.tar.zst.age`,
          Body: Buffer.alloc(64),
          ACL: "bucket-owner-full-control",
        }),
      );
      const p = await runCli(["-c", pruner, "--json", "prune"]);
      expect(p.code, p.stderr).toBe(0);
      expect(JSON.parse(p.stdout).finished_deleting).toEqual([]);
      expect(p.stderr).toMatch(
        new RegExp(`${old}: a killed prune had started to delete it, but it has objects stored since`),
      );
      expect(await keysOf(old)).toContain("files.tar.zst.age");
      admin.destroy();
      await proxy.close();
      return;
    }
    const p = await runCli(["-c", pruner, "--json", "prune"]);
    expect(p.code).toBe(0);
    expect(await keysOf(old)).toEqual([]);
    const res = JSON.parse(p.stdout);
    expect(res.finished_deleting).toEqual([old]);
    expect(await keysOf(newest)).toContain("complete.json");
    // The journal is cleared: a third prune has nothing to finish.
    const again = JSON.parse((await runCli(["-c", pruner, "--json", "prune"])).stdout);
    expect(again.finished_deleting).toEqual([]);
    admin.destroy();
    await proxy.close();
  });
});

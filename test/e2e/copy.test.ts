// strongbox copy (3-2-1): complete backups byte for byte to a second repository, checked on the way,
// complete.json last, what is there skipped. file:// → Ceph RGW, and Ceph → a second Ceph bucket.
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { tamper } from "../helpers/forge.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { createRoleBucket, s3Client } from "../helpers/s3-fixture.js";
import { snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");
/** Every backup of this file a second after the last, by its clock: distinct, ordered ids without sleeping. */
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());

async function backup(config: string): Promise<string> {
  const r = await runCli(["-c", config, "--json", "backup", "now"], { env: nextSecond() });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).id;
}

/** A config for the same identity as `like`, on an S3 bucket/prefix, with the given roles. */
function s3Config(like: TestRepo, bucket: string, prefix: string, roles: ("writer" | "reader" | "pruner")[]): string {
  return like.write((c) => {
    c.repository = {
      url: `s3://${bucket}/${prefix}`,
      s3: {
        endpoint: s3!.endpoint,
        region: "us-east-1",
        force_path_style: true,
        credentials: Object.fromEntries(
          roles.map((r) => [r, { access_key_id: s3![r].accessKeyId, secret_access_key: s3![r].secretAccessKey }]),
        ),
      },
    };
  });
}

describe.skipIf(!s3)("strongbox copy", () => {
  it("file:// → Ceph with the writer role only: a differential and its base, verified and restored from the copy; a second run skips both", async () => {
    const data = tempDir("copydata");
    writeFileSync(join(data, "media.bin"), Buffer.alloc(300_000, 7));
    const src = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    src.config.state_dir = join(src.dir, "state");
    src.write();
    const full = await backup(src.configFile);
    writeFileSync(join(data, "note.txt"), "changed\n");
    const diff = await backup(src.configFile);
    const prefix = `copy-${Math.random().toString(16).slice(2, 8)}`;
    const destWriter = s3Config(src, s3!.bucket, prefix, ["writer"]);
    const c = await runCli(["-c", src.configFile, "--json", "copy", "latest", "--to", destWriter]);
    expect(c.stderr).not.toMatch(/"level":"error"/);
    expect(c.code).toBe(0);
    // The base comes first: a differential without its base would not restore.
    expect(JSON.parse(c.stdout).copied.map((x: { id: string }) => x.id)).toEqual([full, diff]);
    const destReader = s3Config(src, s3!.bucket, prefix, ["reader"]);
    const v = await runCli(["-c", destReader, "verify", "all"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim().split("\n").sort()).toEqual([`${diff}  OK`, `${full}  OK`].sort());
    const out = tempDir("copyrestore");
    expect((await runCli(["-c", destReader, "restore", diff, "--to-dir", out])).code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(snapshotTree(data));
    // complete.json is byte for byte the source's.
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const copied = await admin.send(
      new GetObjectCommand({ Bucket: s3!.bucket, Key: `${prefix}/backups/${diff}/complete.json` }),
    );
    expect(
      Buffer.from(await copied.Body!.transformToByteArray()).equals(
        readFileSync(join(src.dir, "repository/backups", diff, "complete.json")),
      ),
    ).toBe(true);
    admin.destroy();
    // Again, with a writer that cannot list: the destination's refusal to overwrite skips them.
    const again = await runCli(["-c", src.configFile, "copy", "all", "--to", destWriter]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${full}  skipped (already in the destination)`);
    expect(again.stdout).toContain(`${diff}  skipped (already in the destination)`);
  });

  it("a source object that does not match complete.json: exit 3, and the destination gets no complete.json for it", async () => {
    const data = tempDir("copybad");
    writeFileSync(join(data, "f.bin"), Buffer.alloc(100_000, 1));
    const src = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const id = await backup(src.configFile);
    tamper(join(src.dir, "repository"), id, "assets.tar.zst.age", (b) => ((b[b.length - 50] ^= 1), b), {
      rehash: false,
    });
    const prefix = `copybad-${Math.random().toString(16).slice(2, 8)}`;
    const r = await runCli(["-c", src.configFile, "copy", id, "--to", s3Config(src, s3!.bucket, prefix, ["writer"])]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/SHA-256 mismatch \(stored object is corrupt\)/);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: `${prefix}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key)).not.toContain(`${prefix}/backups/${id}/complete.json`);
    admin.destroy();
  });

  it("Ceph → a second Ceph bucket; listing the destination skips what is there", async () => {
    const data = tempDir("copys3");
    writeFileSync(join(data, "f.txt"), "hello\n");
    const src = makeRepo({
      sources: [{ name: "assets", type: "files", path: data }],
      s3: s3!,
      prefix: `src-${Math.random().toString(16).slice(2, 8)}`,
    });
    const ids = [await backup(src.configFile)];
    ids.push(await backup(src.configFile));
    const bucket = `strongbox-copy-${Math.random().toString(16).slice(2, 8)}`;
    await createRoleBucket(s3!, bucket);
    const dest = s3Config(src, bucket, "offsite", ["writer", "reader"]);
    const c = await runCli(["-c", src.configFile, "copy", "all", "--to", dest]);
    expect(c.code).toBe(0);
    for (const id of ids) expect(c.stdout).toContain(`${id}  copied`);
    const v = await runCli(["-c", dest, "verify", "all"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim().split("\n").sort()).toEqual(ids.map((id) => `${id}  OK`).sort());
    const again = await runCli(["-c", src.configFile, "--json", "copy", "all", "--to", dest]);
    expect(JSON.parse(again.stdout)).toMatchObject({
      copied: [],
      skipped: ids.map((id) => ({ id, why: "already in the destination" })),
    });
  });
});

// Issue 20, bounded input, through the CLI: bombs a forger can write with the writer key and the
// public recipient finish in seconds within 300 MB, with exit 3 naming the object; the rest of the
// repository stays usable. Figures (seconds, peak RSS) are printed for the record.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createZstdCompress } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, inject, it } from "vitest";
import { keys, newBackupId } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { ageEncrypt, forgeBackup, sha256 } from "../helpers/forge.js";
import { runMeasured } from "../helpers/measure.js";
// Runs whose time and peak RSS are asserted are real processes (runMeasured); the others only check a
// verdict, an exit code and a line, and run in-process (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { s3Client } from "../helpers/s3-fixture.js";
import { archive, fileEntry } from "../helpers/tar-craft.js";

function filesRepo(): { repo: TestRepo; data: string; store: string } {
  const data = tempDir("bounds-data");
  writeFileSync(join(data, "real.txt"), "the real data\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  return { repo, data, store: join(repo.dir, "repository") };
}

async function backup(repo: TestRepo): Promise<string> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).id;
}

const oneFile = () => {
  const body = "forged\n";
  return {
    tar: archive(fileEntry("f.txt", body)),
    entries: [
      {
        path: "f.txt",
        type: "file",
        size: body.length,
        mode: 0o644,
        mtime: "1462140300",
        sha256: sha256(Buffer.from(body)),
      },
    ],
  };
};

/** An id a little newer than now, so that it sorts first (latest, if it were trusted). */
const newerId = () => newBackupId(new Date(Date.now() + 60_000));

const record = (label: string, r: { seconds: number; peakMb: number; code: number }) =>
  console.log(`[bounds] ${label}: ${r.seconds.toFixed(2)} s, peak RSS ${r.peakMb.toFixed(0)} MB, exit ${r.code}`);

describe("complete.json bombs", () => {
  it("a 31M-deep complete.json: list shows it DAMAGED and restore latest uses the real backup, in seconds within 300 MB", async () => {
    const { repo, store } = filesRepo();
    const good = await backup(repo);
    const id = newerId();
    mkdirSync(join(store, "backups", id), { recursive: true });
    writeFileSync(join(store, keys.complete(id)), Buffer.alloc(31_000_000, 0x5b));
    const l = await runMeasured(["-c", repo.configFile, "list"]);
    record("list, 31M-deep complete.json", l);
    expect(l.code).toBe(0);
    expect(l.stdout).toContain(`${id} (DAMAGED)`);
    expect(l.stdout).toMatch(/larger than a commit marker may be/);
    expect(l.stdout).toMatch(new RegExp(`^${good}\\s`, "m"));
    expect(l.seconds).toBeLessThan(10);
    expect(l.peakMb).toBeLessThan(300);
    const to = tempDir("bounds-restore");
    const r = await runMeasured(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", to]);
    record("restore latest, 31M-deep complete.json", r);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: good, ok: true });
    expect(readFileSync(join(to, "assets", "real.txt"), "utf8")).toBe("the real data\n");
    expect(r.seconds).toBeLessThan(15);
    expect(r.peakMb).toBeLessThan(300);
    // within the size cap, nesting is refused before JSON.parse
    const deep = newerId();
    mkdirSync(join(store, "backups", deep), { recursive: true });
    writeFileSync(
      join(store, keys.complete(deep)),
      Buffer.concat([Buffer.from('{"format":"strongbox/1","objects":'), Buffer.alloc(8_000_000, 0x5b)]),
    );
    const v = await runCli(["-c", repo.configFile, "verify", deep]);
    expect(v.stdout).toMatch(
      new RegExp(`^${deep}  FAILED: backups/${deep}/complete.json: nested deeper than 8 levels`),
    );
    expect(v.code).toBe(3);
  }, 120_000);

  it("unknown keys at every level of complete.json are exit 3 naming the key", async () => {
    const { repo, store } = filesRepo();
    const cases: [(c: any) => void, RegExp][] = [
      [(c) => (c.trusted = true), /complete\.json: has an unknown key "trusted"/],
      [(c) => (c.sources[0].path = "/etc"), /complete\.json: sources\[0\] has an unknown key "path"/],
      [(c) => (c.objects[0].mode = 0o4755), /complete\.json: objects\[0\] has an unknown key "mode"/],
    ];
    for (const [complete, why] of cases) {
      const id = await forgeBackup(store, repo.recipient, { files: { assets: oneFile() }, complete });
      const v = await runCli(["-c", repo.configFile, "verify", id]);
      expect(v.stdout).toMatch(why);
      expect(v.code).toBe(3);
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", tempDir("bounds-keys")]);
      expect(r.stderr).toMatch(why);
      expect(r.code).toBe(3);
    }
  }, 120_000);
});

/** 2 GiB of JSON whitespace inside a valid manifest, zstd-compressed (~70 KB), then age-encrypted. */
async function whitespaceManifest(head: Record<string, unknown>): Promise<{ body: Buffer; plainBytes: number }> {
  const text = JSON.stringify(head);
  const space = Buffer.alloc(1024 * 1024, 0x20);
  const parts: Buffer[] = [];
  const chunks = async function* () {
    yield Buffer.from(text.slice(0, -1));
    for (let i = 0; i < 2048; i++) yield space;
    yield Buffer.from("}");
  };
  await pipeline(Readable.from(chunks()), createZstdCompress(), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) parts.push(c);
  });
  return { body: Buffer.concat(parts), plainBytes: text.length + 2048 * space.length };
}

describe("the manifest's decompressed size", () => {
  it("a real backup records manifest_bytes; 2 GiB of whitespace in a small object is exit 3 in seconds, declared or not", async () => {
    const { repo, store } = filesRepo();
    const good = await backup(repo);
    const rec = JSON.parse(readFileSync(join(store, keys.complete(good)), "utf8"));
    const m = rec.objects.find((o: { source?: string }) => o.source === undefined);
    expect(m.manifest_bytes).toBeGreaterThan(100);
    expect((await runCli(["-c", repo.configFile, "verify", good])).code).toBe(0);

    const bombs: [string, (o: Record<string, unknown>, plainBytes: number) => void, RegExp][] = [
      [
        "an older backup (no manifest_bytes)",
        (o) => delete o.manifest_bytes,
        /decompresses to more than a \d+-byte manifest object may hold \(max\(64 MiB, 64 × its size\)\) \(67108864 bytes\)/,
      ],
      [
        "manifest_bytes declares 2 GiB",
        (o, n) => (o.manifest_bytes = n),
        /manifest_bytes \d+ is more than a \d+-byte manifest object can hold/,
      ],
      [
        "manifest_bytes declares 1 MB",
        (o) => (o.manifest_bytes = 1_000_000),
        /decompresses to more than complete\.json declares \(1000000 bytes\)/,
      ],
    ];
    for (const [what, declare, why] of bombs) {
      const id = await forgeBackup(store, repo.recipient, {
        files: { assets: oneFile() },
        complete: (c) => (c.compression = "zstd"),
      });
      const manifest = JSON.parse(readFileSync(join(store, "backups", id, "complete.json"), "utf8"));
      // The forged manifest, as the helper built it, with the whitespace added and compressed.
      const head = {
        format: "strongbox/1",
        id,
        created_at: new Date().toISOString(),
        host: "forger",
        sources: {
          assets: {
            type: "files",
            path: "/forged",
            object: keys.object(id, "assets.tar.zst.age"),
            files: 1,
            bytes: 7,
            entries: oneFile().entries,
            warnings: [],
          },
        },
      };
      const { body, plainBytes } = await whitespaceManifest(head);
      const sealed = await ageEncrypt(body, repo.recipient);
      const mkey = keys.manifest(id, ".zst");
      writeFileSync(join(store, mkey), sealed);
      const obj = manifest.objects.find((o: { source?: string }) => o.source === undefined);
      Object.assign(obj, { key: mkey, size: sealed.length, sha256: sha256(sealed) });
      declare(obj, plainBytes);
      writeFileSync(join(store, "backups", id, "complete.json"), JSON.stringify(manifest, null, 2));
      const v = await runMeasured(["-c", repo.configFile, "verify", id]);
      record(`verify, 2 GiB of whitespace in a ${sealed.length}-byte manifest object, ${what}`, v);
      expect(v.stdout, what).toMatch(why);
      expect(v.stdout, what).toContain(id);
      expect(v.code, what).toBe(3);
      expect(v.seconds, what).toBeLessThan(15);
      expect(v.peakMb, what).toBeLessThan(300);
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", tempDir("bounds-ws")]);
      expect(r.stderr, what).toMatch(why);
      expect(r.code, what).toBe(3);
    }
  }, 300_000);
});

describe("forged manifests are exit 3 naming the object, never exit 1", () => {
  it("an entry with a 2 MiB extra field (an entry-spool line over 1 MiB)", async () => {
    const { repo, store } = filesRepo();
    const id = await forgeBackup(store, repo.recipient, {
      files: { assets: oneFile() },
      manifest: (m) => (m.sources.assets.entries[0].pad = "x".repeat(2 * 1024 * 1024)),
    });
    for (const cmd of [
      ["verify", id],
      ["restore", id, "--to-dir", tempDir("bounds-pad")],
    ]) {
      const r = await runCli(["-c", repo.configFile, ...cmd]);
      expect(r.stdout + r.stderr).toMatch(
        new RegExp(`backups/${id}/manifest\\.json\\.age: sources\\.assets\\.entries\\[0\\] has an unknown key "pad"`),
      );
      expect(r.code).toBe(3);
    }
  }, 60_000);

  it("counts that are not what the entries add up to, and a name that is not UTF-8", async () => {
    const { repo, store } = filesRepo();
    const cases: [(m: any) => void, RegExp][] = [
      [(m) => (m.sources.assets.files = 1000), /sources\.assets\.files is 1000, its entries hold 1 files/],
      [(m) => (m.sources.assets.bytes = 1), /sources\.assets\.bytes is 1, its files add up to 7/],
      [
        (m) => ((m.sources.assets.base = "20200101T000000Z-000000"), (m.sources.assets.stored_files = 5)),
        /base|stored/,
      ],
    ];
    for (const [manifest, why] of cases) {
      const id = await forgeBackup(store, repo.recipient, { files: { assets: oneFile() }, manifest });
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", tempDir("bounds-counts")]);
      expect(r.stderr).toMatch(new RegExp(`backups/${id}/manifest\\.json\\.age: `));
      expect(r.stderr).toMatch(why);
      expect(r.code).toBe(3);
    }
    // Invalid UTF-8 in a name: the manifest's bytes, not its JSON, are forged.
    const id = await forgeBackup(store, repo.recipient, {
      files: { assets: oneFile() },
      manifest: (m) => (m.sources.assets.entries[0].path = "f\u00e9.txt"),
    });
    const rec = JSON.parse(readFileSync(join(store, keys.complete(id)), "utf8"));
    const plain = Buffer.from(
      JSON.stringify({
        format: "strongbox/1",
        id,
        created_at: new Date().toISOString(),
        host: "forger",
        sources: {
          assets: {
            type: "files",
            path: "/forged",
            object: keys.object(id, "assets.tar.zst.age"),
            files: 1,
            bytes: 7,
            entries: [{ ...oneFile().entries[0], path: "f\u00e9.txt" }],
            warnings: [],
          },
        },
      }),
    );
    plain[plain.indexOf(Buffer.from("\u00e9"))] = 0xff;
    const sealed = await ageEncrypt(plain, repo.recipient);
    writeFileSync(join(store, keys.manifest(id)), sealed);
    Object.assign(
      rec.objects.find((o: { source?: string }) => o.source === undefined),
      { size: sealed.length, sha256: sha256(sealed) },
    );
    writeFileSync(join(store, keys.complete(id)), JSON.stringify(rec));
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout).toMatch(
      new RegExp(`backups/${id}/manifest\\.json\\.age: the decrypted manifest is not UTF-8 text`),
    );
    expect(v.code).toBe(3);
  }, 60_000);
});

describe.skipIf(!inject("s3"))("1,000 junk complete.json files (Ceph, reader role)", () => {
  it("list reads every marker (8 at a time, each at most 8 MiB) and shows them DAMAGED, in bounded time and memory", async () => {
    const s3 = inject("s3")!;
    const data = tempDir("junkdata");
    writeFileSync(join(data, "real.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3 });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const good = JSON.parse(b.stdout).id;
    const prefix = new URL(repo.config.repository.url).pathname.slice(1);
    const w = s3Client(s3.endpoint, s3.writer);
    const t0 = Date.now() - 3 * 365 * 86400_000;
    const junk = Array.from({ length: 1000 }, (_, i) => {
      const id = newBackupId(new Date(t0 + i * 3600_000));
      const valid = {
        format: "strongbox/1",
        id,
        started_at: new Date(t0 + i * 3600_000).toISOString().replace(/\.\d+Z$/, ".000Z"),
        finished_at: new Date(t0 + i * 3600_000 + 1000).toISOString(),
        host: "forger",
        tool_version: "0.1.0",
        compression: "zstd",
        sources: [{ name: "assets", type: "files" }],
        objects: [
          { key: keys.object(id, "assets.tar.zst.age"), size: 1, sha256: "0".repeat(64), source: "assets" },
          { key: keys.manifest(id, ".zst"), size: 1, sha256: "0".repeat(64) },
        ],
        warnings: 0,
      };
      const kind = i % 20;
      const body =
        kind < 5
          ? JSON.stringify(valid) // well-formed, objects missing
          : kind < 10
            ? "{ not json"
            : kind < 14
              ? JSON.stringify({ ...valid, extra: "x".repeat(1000) })
              : kind < 18
                ? "[".repeat(100_000)
                : kind < 19 || i % 200 !== 19
                  ? JSON.stringify(valid).replace("{", "{" + " ".repeat(1024 * 1024)) // 1 MiB, within the cap
                  : " ".repeat(9 * 1024 * 1024); // past the cap
      return { id, body };
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < junk.length) {
          const j = junk[next++];
          await w.send(
            new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${keys.complete(j.id)}`, Body: j.body }),
          );
        }
      }),
    );
    w.destroy();
    const l = await runMeasured(["-c", repo.configFile, "--json", "list"]);
    record("list, 1,000 junk complete.json on Ceph", l);
    expect(l.code).toBe(0);
    const rows = JSON.parse(l.stdout);
    expect(rows).toHaveLength(1001);
    expect(rows[0]).toMatchObject({ id: good, complete: true });
    expect(rows.slice(1).every((r: { complete: boolean; damaged?: string }) => !r.complete && r.damaged)).toBe(true);
    expect(rows.filter((r: { damaged?: string }) => /larger than a commit marker/.test(r.damaged ?? ""))).toHaveLength(
      5,
    );
    expect(l.peakMb).toBeLessThan(300);
    expect(l.seconds).toBeLessThan(60);
  }, 300_000);
});

describe("names that are not UTF-8", () => {
  /** A file entry whose name has the byte 0xff where `X` is: no strongbox writer makes one. */
  const badName = (name: string, body: string) => {
    const e = fileEntry(name, body);
    e[e.indexOf("X")] = 0xff;
    e.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of e.subarray(0, 512)) sum += b;
    e.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
    return e;
  };

  it("a file whose name is not UTF-8 is an unreadable path: the source fails, naming it (it used to be a warning, exit 0)", async () => {
    const { repo, data } = filesRepo();
    writeFileSync(Buffer.concat([Buffer.from(`${data}/f`), Buffer.from([0xff]), Buffer.from(".txt")]), "x");
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/f\ufffd\.txt: not backed up: its name is not UTF-8/);
  }, 60_000);

  it("in a forged archive, a name that is not UTF-8 is read as U+FFFD and must still be the manifest's (strict UTF-8) name: else exit 3", async () => {
    const { repo, store } = filesRepo();
    const body = "x\n";
    const id = await forgeBackup(store, repo.recipient, {
      files: {
        assets: {
          tar: archive(badName("fX.txt", body)),
          entries: [
            {
              path: "f.txt",
              type: "file",
              size: body.length,
              mode: 0o644,
              mtime: "1462140300",
              sha256: sha256(Buffer.from(body)),
            },
          ],
        },
      },
    });
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout).toMatch(new RegExp(`^${id}  FAILED`));
    expect(v.code).toBe(3);
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", tempDir("bounds-utf8")]);
    expect(r.code).toBe(3);
  }, 60_000);
});

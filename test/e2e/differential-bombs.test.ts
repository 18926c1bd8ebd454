// Issue 20's bombs against a differential, forged with only the writer's powers and the public
// recipient: a manifest of millions of entries, and thousands of 1 MiB dumpdirs in a small object.
// verify runs under /usr/bin/time: it must end in seconds, within 300 MB of RSS, with exit 3. Once
// the whole manifest was held in memory (10M entries: 259 s, 4.1 GB) and every dumpdir was kept
// before any check (2,500 × 1 MiB: killed at 300 s, 2.6 GB).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createZstdCompress } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createEncryptStream } from "../../src/crypto/age.js";
import { parseRecipient } from "../../src/crypto/age-keys.js";
import { newBackupId } from "../../src/repository/layout.js";
import { BIN, makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { forgeBackup, sha256 } from "../helpers/forge.js";
import { archive, fileEntry, octalSize, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";
import { BLOCK } from "../../src/archive/tar-header.js";

const run = promisify(execFile);
const MTIME = "1462140300";

/** Plaintext chunks → zstd → age → the file `key` of the repository; its size and SHA-256. */
async function store(
  repoDir: string,
  key: string,
  recipient: string,
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  const count = new Transform({
    transform(c: Buffer, _e, cb) {
      hash.update(c);
      size += c.length;
      cb(null, c);
    },
  });
  await pipeline(
    Readable.from(chunks),
    createZstdCompress(),
    createEncryptStream([parseRecipient(recipient)!] as never),
    count,
    createWriteStream(join(repoDir, key)),
  );
  return { size, sha256: hash.digest("hex") };
}

const idAt = (secondsAgo: number) => newBackupId(new Date(Date.now() - secondsAgo * 1000));

/**
 * A base full (one file) and a differential on it, forged; then the differential's data object
 * and/or manifest replaced by streamed ones, and complete.json fixed to match (as a forger can).
 */
async function forgeDifferential(
  repo: TestRepo,
  o: {
    tar?: () => AsyncIterable<Buffer> | Iterable<Buffer>;
    manifestEntries?: () => Iterable<string>;
    manifestFiles?: number;
  },
): Promise<string> {
  const dir = join(repo.dir, "repository");
  const keep = { path: "keep", type: "file", size: 1, mode: 0o644, mtime: MTIME, sha256: sha256(Buffer.from("k")) };
  const baseId = await forgeBackup(dir, repo.recipient, {
    id: idAt(60),
    files: { assets: { tar: archive(fileEntry("keep", "k")), entries: [keep] } },
  });
  const id = await forgeBackup(dir, repo.recipient, {
    id: idAt(30),
    files: {
      assets: {
        tar: archive(paxHeader(paxRecord("GNU.dumpdir", "Nkeep\0\0")), rawHeader({ name: "./", typeflag: "5" })),
        entries: [keep],
      },
    },
    manifest: (m) => Object.assign(m.sources.assets, { base: baseId, stored_files: 0, stored_bytes: 0 }),
    complete: (c) => (c.objects[0].base = baseId),
  });
  const completeFile = join(dir, "backups", id, "complete.json");
  const complete = JSON.parse(readFileSync(completeFile, "utf8"));
  if (o.tar) Object.assign(complete.objects[0], await store(dir, complete.objects[0].key, repo.recipient, o.tar()));
  if (o.manifestEntries) {
    const key = `backups/${id}/manifest.json.zst.age`;
    const object = complete.objects[0].key;
    let plain = 0;
    function* counted(): Generator<string> {
      for (const piece of json()) {
        plain += Buffer.byteLength(piece);
        yield piece;
      }
    }
    function* json(): Generator<string> {
      yield JSON.stringify({
        format: "strongbox/1",
        id,
        created_at: new Date().toISOString(),
        host: "forger",
        sources: {},
      }).slice(0, -2);
      yield `"assets":{"type":"files","path":"/forged","object":${JSON.stringify(object)},"files":${o.manifestFiles ?? 1},"bytes":1,"warnings":[],"base":"${baseId}","stored_files":0,"stored_bytes":0,"entries":[`;
      let batch = "";
      let first = true;
      for (const e of o.manifestEntries!()) {
        batch += (first ? "" : ",") + e;
        first = false;
        if (batch.length > 256 * 1024) {
          yield batch;
          batch = "";
        }
      }
      yield `${batch}]}}}`;
    }
    // The forger declares the manifest's true size, as strongbox writes it (complete.json's manifest_bytes).
    complete.objects[1] = { key, ...(await store(dir, key, repo.recipient, counted())) };
    complete.objects[1].manifest_bytes = plain;
  }
  writeFileSync(completeFile, JSON.stringify(complete, null, 2));
  return id;
}

/** `strongbox verify <id>` under /usr/bin/time: exit code, output, seconds and peak RSS (MB). */
async function timedVerify(
  repo: TestRepo,
  id: string,
  heapMb?: number,
): Promise<{ code: number; out: string; seconds: number; rssMb: number }> {
  const heap = heapMb ? [`--max-old-space-size=${heapMb}`] : [];
  const r = await run(
    "/usr/bin/time",
    ["-f", "TIME %e %M", process.execPath, ...heap, BIN, "-c", repo.configFile, "verify", id],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      maxBuffer: 1 << 24,
    },
  ).then(
    (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr)!;
  return { code: r.code, out: r.stdout + r.stderr, seconds: Number(m[1]), rssMb: Math.round(Number(m[2]) / 1024) };
}

/** `n` manifest entries below "keep" in tree order: 1,000 files a directory. */
function* manyEntries(n: number): Generator<string> {
  yield JSON.stringify({
    path: "keep",
    type: "file",
    size: 1,
    mode: 0o644,
    mtime: MTIME,
    sha256: sha256(Buffer.from("k")),
  });
  for (let i = 0; i < n; i++) {
    const d = `z${String(Math.floor(i / 1000)).padStart(5, "0")}`;
    if (i % 1000 === 0) yield `{"path":"${d}","type":"dir","size":0,"mode":493,"mtime":"${MTIME}"}`;
    yield `{"path":"${d}/f${String(i).padStart(8, "0")}","type":"file","size":0,"mode":420,"mtime":"${MTIME}","sha256":"${"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"}`;
  }
}

/** A differential tar: the root, `count` sibling (or nested) directories each with a dumpdir of ~1 MiB. */
function* dumpdirBomb(count: number, o: { kind: "Y" | "N"; nested: boolean }): Generator<Buffer> {
  // Names n0000000… sorted, as strongbox writes them; just under the 1 MiB an entry's extended headers may hold.
  const names = (child?: string) => {
    let s = child ? `D${child}\0` : "";
    for (let i = 0; s.length < 1024 * 1024 - 2048; i++) s += `${o.kind}n${String(i).padStart(7, "0")}\0`;
    return `${s}\0`;
  };
  const listing = o.nested ? names("d") : names();
  const rootDumpdir = o.nested
    ? "Dd\0Nkeep\0\0"
    : Array.from({ length: count }, (_, i) => `Dd${String(i).padStart(5, "0")}\0`).join("") + "Nkeep\0\0";
  yield Buffer.concat([paxHeader(paxRecord("GNU.dumpdir", rootDumpdir)), rawHeader({ name: "./", typeflag: "5" })]);
  const listed = Buffer.from(paxRecord("GNU.dumpdir", listing));
  let path = "";
  // Each entry is yielded in pieces, the ~1 MiB listing as the same buffer every time: concatenating it
  // per entry copied 2.5 GB three times over (most of this file's CPU).
  for (let i = 0; i < count; i++) {
    path = o.nested ? (path ? `${path}/d` : "d") : `d${String(i).padStart(5, "0")}`;
    const record = Buffer.from(paxRecord("path", `${path}/`));
    const size = record.length + listed.length;
    yield rawHeader({ name: "PaxHeader", typeflag: "x", size: octalSize(size) });
    yield record;
    yield listed;
    yield Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
    yield rawHeader({ name: "x/", typeflag: "5" });
  }
  yield Buffer.alloc(1024);
}

function bombRepo(): TestRepo {
  return makeRepo({ sources: [{ name: "assets", type: "files", path: tempDir("bomb-data") }] });
}

describe("differential bombs end in seconds, within 300 MB, with exit 3", () => {
  it("a differential manifest of many entries: streamed against the archive, memory flat between 200,000 and 1,000,000 entries", async () => {
    const figures: { n: number; seconds: number; rssMb: number }[] = [];
    // STRONGBOX_BOMB_ENTRIES=10000000 runs the audit's size alone (by hand: it takes minutes to forge).
    const sizes = process.env.STRONGBOX_BOMB_ENTRIES
      ? [Number(process.env.STRONGBOX_BOMB_ENTRIES)]
      : [200_000, 1_000_000];
    for (const n of sizes) {
      const repo = bombRepo();
      const id = await forgeDifferential(repo, { manifestEntries: () => manyEntries(n), manifestFiles: n + 1 }); // counts that add up: the pass, not the count check, must refuse it
      // A V8 heap too small to hold the entries (a million would take far more), so that peak RSS measures
      // what verify holds rather than how late the collector ran (that lag grows on a busy machine).
      const v = await timedVerify(repo, id, 64);
      expect(v.code, v.out).toBe(3);
      // The archive holds none of them: the verdict names how many are missing.
      expect(v.out).toMatch(new RegExp(`${n + n / 1000} missing`));
      figures.push({ n, seconds: v.seconds, rssMb: v.rssMb });
    }
    console.log(`[bombs] manifest entries: ${figures.map((f) => `${f.n}: ${f.seconds} s, ${f.rssMb} MB`).join("; ")}`);
    for (const f of figures) expect(f.rssMb).toBeLessThanOrEqual(300);
    // Flat: five times the entries may not cost more than a little more memory.
    if (figures.length === 2) expect(figures[1].rssMb - figures[0].rssMb).toBeLessThan(40);
  }, 1_200_000);

  it.each([
    [
      "2,500 sibling directories whose 1 MiB dumpdirs list vanished files (Y)",
      { kind: "Y" as const, nested: false },
      /lists "n0000000" \(Y\), which the archive does not hold/,
    ],
    [
      "2,500 sibling directories whose 1 MiB dumpdirs list unchanged files (N) nobody holds",
      { kind: "N" as const, nested: false },
      /directory listings \(GNU dumpdirs\) do not match the manifest/,
    ],
    [
      "2,500 nested directories with 1 MiB dumpdirs",
      { kind: "Y" as const, nested: true },
      /open directories' dumpdirs hold more than 33554432 bytes/,
    ],
  ])(
    "%s",
    async (_what, shape, says) => {
      const repo = bombRepo();
      const id = await forgeDifferential(repo, { tar: () => dumpdirBomb(2500, shape) });
      const size = JSON.parse(readFileSync(join(repo.dir, "repository/backups", id, "complete.json"), "utf8"))
        .objects[0].size;
      const v = await timedVerify(repo, id);
      console.log(`[bombs] ${_what}: object ${size} bytes, verify ${v.seconds} s, ${v.rssMb} MB, exit ${v.code}`);
      expect(v.code, v.out).toBe(3);
      expect(v.out).toMatch(says);
      expect(v.out).toMatch(/assets\.tar\.zst\.age/);
      expect(v.seconds).toBeLessThan(20);
      expect(v.rssMb).toBeLessThanOrEqual(300);
    },
    300_000,
  );
});

// A file's data is read into whole pooled 2 MiB blocks (codecs/block-pool.ts) that go to the compressor
// whole; the compressor gives each back once zstd is done with it. With `poison`, a block given back is
// overwritten at once: any read after release would show as wrong bytes in the archive.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { zstdDecompressSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { packTar, type ManifestEntry } from "../../src/archive/tar-pack.js";
import { walkTree } from "../../src/archive/walk.js";
import { BLOCK, blockPool } from "../../src/codecs/block-pool.js";
import { ParallelZstdCompress, slice } from "../../src/codecs/parallel-zstd.js";
import { tempDir } from "../helpers/cli.js";

afterEach(() => {
  blockPool.poison = false;
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const text = (n: number, seed: number) =>
  Buffer.from(
    Array.from({ length: Math.ceil(n / 24) }, (_, i) => `${seed}:${i}:${(i * 7919) % 99991}\n`).join(""),
  ).subarray(0, n);

describe("file data in pooled blocks, through the compressor", () => {
  it("archives every byte exactly, gives every block back, and never reads one after release", async () => {
    blockPool.poison = true;
    const lentBefore = blockPool.lent;
    const src = tempDir("pack-pool");
    mkdirSync(join(src, "d"));
    const files: Record<string, Buffer> = {
      "a-media.bin": randomBytes(3 * BLOCK + 4321), // incompressible: raw frames
      "b-text.txt": text(2 * BLOCK + 77, 1), // compressible: zstd on the thread pool
      "c-exact.bin": randomBytes(2 * BLOCK), // exactly one block
      "d/mid.txt": text(700_000, 2), // larger than a small file, smaller than a block
      "d/small.txt": text(5_000, 3),
    };
    for (const [p, b] of Object.entries(files)) writeFileSync(join(src, p), b);
    const entries: ManifestEntry[] = [];
    const tar = packTar(src, await walkTree(src, { exclude: () => false, warn: () => {} }), {
      warn: () => {},
      onEntry: (e) => entries.push(e),
    });
    const out: Buffer[] = [];
    const take = blockPool.take;
    let taken = 0;
    blockPool.take = () => (taken++, take.call(blockPool));
    try {
      await pipeline(tar, new ParallelZstdCompress(1, 4), async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) out.push(c);
      });
    } finally {
      blockPool.take = take;
    }
    expect(taken).toBeGreaterThanOrEqual(6); // the files' six whole blocks were read into the pool's blocks
    expect(blockPool.lent).toBe(lentBefore); // every block handed out came back

    // The archive, unpacked by GNU tar, holds exactly the files' bytes; the manifest's hashes match.
    const dest = tempDir("pack-pool-out");
    const tarBytes = zstdDecompressSync(Buffer.concat(out));
    expect(spawnSync("tar", ["-x", "-C", dest], { input: tarBytes }).status).toBe(0);
    for (const [p, b] of Object.entries(files)) {
      const x = readFileSync(join(dest, p));
      expect(sha(x), p).toBe(sha(b));
      expect(entries.find((e) => e.path === p)?.sha256, p).toBe(sha(b));
    }
  });

  it("a sample across a seam is copied from just the parts it spans", () => {
    const parts = [Buffer.from("abc"), Buffer.from("defg"), Buffer.from("hi")];
    expect(slice(parts, 1, 2).toString()).toBe("bc");
    expect(slice(parts, 2, 6).toString()).toBe("cdefgh");
    expect(slice(parts, 6, 10).toString()).toBe("ghi"); // past the end: what there is
    expect(slice(parts, 9, 1).length).toBe(0);
  });
});

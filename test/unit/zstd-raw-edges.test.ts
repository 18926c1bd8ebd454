// Edges of the raw-frame fast path (zstd-raw.ts) against zlib's one-shot reading, at every split of the
// input: what the fast path reads does not depend on where the decrypted chunks happen to end.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { zstdDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { rawFrame } from "../../src/codecs/parallel-zstd.js";
import { ZstdFramesDecompress } from "../../src/codecs/zstd-frames.js";
import { MAX_RAW_FRAME } from "../../src/codecs/zstd-raw.js";

async function decompress(chunks: Buffer[]): Promise<Buffer | Error> {
  const out: Buffer[] = [];
  try {
    for await (const c of Readable.from(chunks).pipe(new ZstdFramesDecompress())) out.push(c as Buffer);
    return Buffer.concat(out);
  } catch (err) {
    return err as Error;
  }
}

/** The input cut in two at every offset. */
const splits = (b: Buffer) => Array.from({ length: b.length - 1 }, (_, i) => [b.subarray(0, i + 1), b.subarray(i + 1)]);

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

describe("raw zstd frames: the fast path's edges", () => {
  it("an empty frame whose one block is an RLE block of 0 bytes reads as empty wherever it is cut", async () => {
    // zlib's streaming decoder refused this frame when it came in pieces and read it when whole (its
    // block-size check against a content size of 0): the fast path reads it as the RFC and zstd -d do.
    const empty = Buffer.from([...MAGIC, 0x20, 0, 0x03, 0, 0, 0xe0]);
    expect(zstdDecompressSync(empty).length).toBe(0);
    const stored = Buffer.concat([empty, rawFrame(Buffer.from("after"))]);
    for (const parts of [[stored], ...splits(stored)])
      expect(await decompress(parts), `cut at ${parts[0].length}`).toEqual(Buffer.from("after"));
  });

  it("a content size one more or one less than the blocks hold is refused wherever it is cut", async () => {
    const body = randomBytes(300);
    for (const declared of [299, 301]) {
      const f = Buffer.from(rawFrame(body));
      f.writeUInt32LE(declared, 5); // rawFrame writes a 4-byte content size after the descriptor
      expect(f[4] >> 6, "a 4-byte content size field").toBe(2);
      for (const parts of [[f], ...splits(f)])
        expect(await decompress(parts), `declared ${declared}, cut at ${parts[0].length}`).toBeInstanceOf(Error);
    }
  });

  it("a frame over the fast path's bound still reads as zlib reads it", async () => {
    const big = randomBytes(MAX_RAW_FRAME + 1);
    const over = rawFrame(big);
    const out = await decompress([over.subarray(0, 70_000), over.subarray(70_000)]);
    expect(out instanceof Buffer && out.equals(big)).toBe(true);
  });

  it("a frame whose empty blocks take more bytes than the bound is handed to zlib, which reads it", async () => {
    // A content size of 5, then more empty raw blocks than the bound holds, then the 5 bytes.
    const n = Math.ceil(MAX_RAW_FRAME / 3) + 400;
    const padded = Buffer.alloc(6 + 3 * n + 3 + 5);
    padded.set([...MAGIC, 0x20, 5]);
    padded.writeUIntLE((5 << 3) | 1, 6 + 3 * n, 3); // the last block: raw, 5 bytes
    padded.write("tail!", 6 + 3 * n + 3);
    expect(zstdDecompressSync(padded).toString()).toBe("tail!");
    const chunks = Array.from({ length: Math.ceil(padded.length / 65_536) }, (_, i) =>
      padded.subarray(i * 65_536, (i + 1) * 65_536),
    );
    expect(String(await decompress(chunks))).toBe("tail!");
  });
});

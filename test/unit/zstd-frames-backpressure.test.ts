// A reader slower than zstd decompression (a restore writing to a slow disk) must not stall it where
// zlib's decompressor is ended: before a raw frame that follows compressed ones, and at the stream's
// end. zlib's decompressor, paused by that reader with output still buffered, only ends once it is
// resumed: the decompressor being ended must still be the one a read resumes.
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { rawFrame } from "../../src/codecs/parallel-zstd.js";
import { ZstdFramesDecompress } from "../../src/codecs/zstd-frames.js";

/** Decompresses `stored` into a reader that takes one piece per millisecond; "stalled" if it is not done in 10 s. */
async function slowRead(stored: Buffer): Promise<number | "stalled"> {
  let n = 0;
  const slow = new Writable({
    highWaterMark: 1,
    write(c: Buffer, _e, cb) {
      n += c.length;
      setTimeout(cb, 1);
    },
  });
  const done = pipeline(Readable.from([stored]), new ZstdFramesDecompress(), slow).then(() => n);
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<"stalled">((r) => (timer = setTimeout(() => r("stalled"), 10_000)));
  try {
    return await Promise.race([done, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

describe("zstd decompression under a slow reader", () => {
  // Compressible content: zlib reads these frames (1 MiB output pieces, the last one smaller).
  const sizes = [70_000, (1 << 20) + 10_000, (2 << 20) + 5];

  it.each(sizes)("compressed frames of %i bytes, each followed by a raw frame: all of them comes out", async (size) => {
    const z = zstdCompressSync(Buffer.alloc(size, 7));
    const stored = Buffer.concat([z, rawFrame(randomBytes(1000)), z, rawFrame(randomBytes(200_000))]);
    expect(await slowRead(stored)).toBe(2 * size + 201_000);
  });

  it.each(sizes)("a compressed frame of %i bytes ends the stream: all of it comes out", async (size) => {
    const stored = Buffer.concat([rawFrame(randomBytes(1000)), zstdCompressSync(Buffer.alloc(size, 7))]);
    expect(await slowRead(stored)).toBe(1000 + size);
  });
});

// Frames of raw blocks (what strongbox stores for media) are read without zlib: their bytes are
// handed on as views of the input. Every other frame, and every raw frame that is not well-formed,
// still goes to node:zlib, which reads it or refuses it as before.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { constants, createZstdDecompress, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { rawFrame } from "../../src/codecs/parallel-zstd.js";
import { ZstdFramesDecompress } from "../../src/codecs/zstd-frames.js";
import { rawContent } from "../../src/codecs/zstd-raw.js";

async function pieces(chunks: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new ZstdFramesDecompress())) out.push(c as Buffer);
  return out;
}
const decompress = async (chunks: Buffer[]) => Buffer.concat(await pieces(chunks));

const cut = (b: Buffer, size: number) => {
  const out: Buffer[] = [];
  for (let off = 0; off < b.length; off += size) out.push(b.subarray(off, off + size));
  return out;
};

/** A raw frame with its fields chosen by hand (descriptor, content size bytes, blocks as [type, size, bytes]). */
function frame(fhd: number, fcs: Buffer, blocks: [number, number, Buffer][]): Buffer {
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd]), fcs];
  blocks.forEach(([type, size, body], i) => {
    const h = Buffer.alloc(3);
    h.writeUIntLE((size << 3) | (type << 1) | (i === blocks.length - 1 ? 1 : 0), 0, 3);
    parts.push(h, body);
  });
  return Buffer.concat(parts);
}

describe("raw zstd frames without zlib", () => {
  it("media's raw frames come out as views of the input, not as zlib's copies", async () => {
    const input = randomBytes(2 * 1024 * 1024 + 12345);
    const stored = Buffer.concat([rawFrame(input.subarray(0, 1_000_000)), rawFrame(input.subarray(1_000_000))]);
    const out = await pieces([stored]);
    expect(Buffer.concat(out).equals(input)).toBe(true);
    // Every piece lies in the stored buffer's memory: nothing was copied.
    expect(out.length).toBeGreaterThan(16);
    expect(out.every((p) => p.buffer === stored.buffer)).toBe(true);
  });

  it("reads the same as zlib at every chunking, raw and compressed frames mixed, skippable ones between", async () => {
    const media = randomBytes(700_000);
    const text = Buffer.from("lower-third ".repeat(50_000));
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const stored = Buffer.concat([
      rawFrame(media),
      zstdCompressSync(text),
      rawFrame(media.subarray(0, 1000)),
      skippable,
      rawFrame(Buffer.alloc(0)),
      zstdCompressSync(text, { params: { [constants.ZSTD_c_checksumFlag]: 1 } }),
      rawFrame(media.subarray(5)),
    ]);
    const expected = zstdDecompressSync(stored);
    expect(expected.length).toBe(media.length * 2 + 1000 - 5 + text.length * 2);
    for (const size of [5, 4096, 131_075, 1 << 20, stored.length])
      expect((await decompress(cut(stored, size))).equals(expected), `chunks of ${size}`).toBe(true);
    const small = Buffer.concat([
      rawFrame(media.subarray(0, 3000)),
      zstdCompressSync(text.subarray(0, 3000)),
      skippable,
    ]);
    expect((await decompress(cut(small, 1))).equals(zstdDecompressSync(small)), "byte by byte").toBe(true);
  });

  it("RLE blocks and every size of the content-size field are read as zlib reads them", async () => {
    const body = randomBytes(300);
    const cases = [
      frame(0x20, Buffer.from([200]), [[0, 200, body.subarray(0, 200)]]),
      frame(0x60, Buffer.from([44, 0]), [
        [0, 200, body.subarray(0, 200)],
        [1, 100, Buffer.from([7])],
      ]),
      frame(0xe0, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]), [[1, 256, Buffer.from([9])]]),
    ];
    for (const f of cases) {
      expect(rawContent([f])).not.toBeNull();
      expect((await decompress([f])).equals(zstdDecompressSync(f))).toBe(true);
    }
  });

  it("a raw frame that is not well-formed goes to zlib, which reads or refuses it as before", async () => {
    const body = randomBytes(200_000);
    const bad = [
      frame(0xa0, u32(100), [[0, 99, body.subarray(0, 99)]]), // content size says 100, blocks hold 99
      frame(0xa0, u32(98), [[0, 99, body.subarray(0, 99)]]), // blocks hold more than the content size
      frame(0xa0, u32(140_000), [[0, 140_000, body.subarray(0, 140_000)]]), // a block over 128 KiB
    ];
    for (const f of bad) {
      expect(rawContent([f])).toBeNull();
      // zlib's own streaming verdict, as strongbox drives it (with 1 MiB output pieces it takes a raw block over 128 KiB).
      const viaZlib = await streamed(f).catch((err: Error) => err);
      const ours = await decompress([f]).catch((err: Error) => err);
      if (viaZlib instanceof Error) expect(ours).toBeInstanceOf(Error);
      else expect(ours instanceof Buffer && ours.equals(viaZlib)).toBe(true);
    }
    await expect(decompress([bad[0]])).rejects.toThrow();
  });
});

async function streamed(f: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from([f]).pipe(createZstdDecompress({ chunkSize: 1 << 20 }))) out.push(c as Buffer);
  return Buffer.concat(out);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

// zstd streams of several frames (as `zstd` concatenates them, or a forger writes them) decompress
// whole; node:zlib alone drops the rest of a chunk after a frame ends.
import { Readable } from "node:stream";
import { zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FrameScanner, ZstdFramesDecompress } from "../../src/codecs/zstd-frames.js";
import { mulberry32 } from "../helpers/random.js";

async function decompress(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new ZstdFramesDecompress())) out.push(c as Buffer);
  return Buffer.concat(out);
}

const rand = mulberry32(3);
const data = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 8)));
const a = data(300_000);
const b = data(70_000);
const frames = Buffer.concat([zstdCompressSync(a), zstdCompressSync(b)]);
const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9])]);

describe("zstd frames", () => {
  it("two frames in one chunk, chunked at every size, and byte by byte", async () => {
    expect((await decompress([frames])).equals(Buffer.concat([a, b]))).toBe(true);
    // Byte by byte on a smaller pair (its first frame still has two blocks: more than 128 KiB in):
    // every boundary of every header is crossed, in a third of the time.
    const c = data(140_000);
    const d = data(5_000);
    const small = Buffer.concat([zstdCompressSync(c), zstdCompressSync(d)]);
    for (const [input, plain, size] of [
      [small, Buffer.concat([c, d]), 1],
      [small, Buffer.concat([c, d]), 7],
      [frames, Buffer.concat([a, b]), 4096],
      [frames, Buffer.concat([a, b]), 65536],
    ] as const) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < input.length; off += size) chunks.push(input.subarray(off, off + size));
      expect((await decompress(chunks)).equals(plain), `chunks of ${size}`).toBe(true);
    }
  });

  it("skippable frames are passed over; an empty or truncated stream is corrupt, not a short success", async () => {
    expect((await decompress([skippable, frames])).equals(Buffer.concat([a, b]))).toBe(true);
    await expect(decompress([])).rejects.toThrow(/ends inside a frame/);
    await expect(decompress([frames.subarray(0, frames.length - 10)])).rejects.toThrow(/ends inside a frame|truncated/);
    await expect(decompress([Buffer.from("not zstd at all")])).rejects.toThrow(/not a zstd frame/);
  });

  it("the scanner cuts exactly at frame ends", () => {
    const s = new FrameScanner();
    const first = zstdCompressSync(a).length;
    expect(s.split(frames).map((p) => p.length)).toEqual([first, frames.length - first]);
    expect(s.atBoundary).toBe(true);
  });
});

describe("parallel zstd compression", () => {
  it("writes 2 MiB frames that strongbox's reader and the zstd CLI both read back whole", async () => {
    const { ParallelZstdCompress } = await import("../../src/codecs/parallel-zstd.js");
    const { execFileSync } = await import("node:child_process");
    const input = Buffer.concat([data(5_000_000), Buffer.alloc(4_500_000, 3)]);
    const out: Buffer[] = [];
    const chunks = [];
    for (let off = 0; off < input.length; off += 300_000) chunks.push(input.subarray(off, off + 300_000));
    for await (const c of Readable.from(chunks).pipe(new ParallelZstdCompress(1))) out.push(c as Buffer);
    const compressed = Buffer.concat(out);
    expect(new FrameScanner().split(compressed)).toHaveLength(5);
    expect((await decompress([compressed])).equals(input)).toBe(true);
    expect(execFileSync("zstd", ["-d", "-c", "-q"], { input: compressed, maxBuffer: 1 << 26 }).equals(input)).toBe(
      true,
    );
    const empty: Buffer[] = [];
    for await (const c of Readable.from([]).pipe(new ParallelZstdCompress(1))) empty.push(c as Buffer);
    expect((await decompress([Buffer.concat(empty)])).length).toBe(0);
  });
});

describe("incompressible blocks as raw zstd frames", () => {
  it("a raw frame of any size reads back whole with strongbox's reader, node:zlib and the zstd CLI", async () => {
    const { rawFrame } = await import("../../src/codecs/parallel-zstd.js");
    const { execFileSync } = await import("node:child_process");
    const { randomBytes } = await import("node:crypto");
    const { zstdDecompressSync } = await import("node:zlib");
    for (const n of [0, 1, 131_071, 131_072, 131_073, 4 * 1024 * 1024, 3_999_999]) {
      const input = randomBytes(n);
      const frame = rawFrame(input);
      expect(frame.length).toBe(9 + Math.max(1, Math.ceil(n / 131_072)) * 3 + n);
      expect(zstdDecompressSync(frame).equals(input)).toBe(true);
      expect((await decompress([frame])).equals(input)).toBe(true);
      expect(execFileSync("zstd", ["-d", "-c", "-q"], { input: frame, maxBuffer: 1 << 26 }).equals(input)).toBe(true);
    }
  });

  it("random data is stored raw, compressible data is compressed, and a mix of both reads back in order", async () => {
    const { ParallelZstdCompress } = await import("../../src/codecs/parallel-zstd.js");
    const { randomBytes } = await import("node:crypto");
    const { execFileSync } = await import("node:child_process");
    const media = randomBytes(9 * 1024 * 1024);
    const json = Buffer.from(
      JSON.stringify(
        Array.from({ length: 120_000 }, (_, i) => ({ id: i, template: "lower-third", name: `Name ${i}` })),
      ),
    );
    const squeeze = async (input: Buffer) => {
      const out: Buffer[] = [];
      const chunks = [];
      for (let off = 0; off < input.length; off += 1 << 20) chunks.push(input.subarray(off, off + (1 << 20)));
      for await (const c of Readable.from(chunks).pipe(new ParallelZstdCompress(1))) out.push(c as Buffer);
      return Buffer.concat(out);
    };
    const m = await squeeze(media);
    expect(m.length).toBeGreaterThan(media.length); // raw: only frame and block headers added
    expect(m.length).toBeLessThan(media.length + 1024);
    const j = await squeeze(json);
    expect(j.length).toBeLessThan(json.length / 4);
    const mixed = Buffer.concat([json.subarray(0, 3_000_000), media, json]);
    const x = await squeeze(mixed);
    expect(x.length).toBeLessThan(mixed.length - 3_000_000);
    expect((await decompress([x])).equals(mixed)).toBe(true);
    expect(execFileSync("zstd", ["-d", "-c", "-q"], { input: x, maxBuffer: 1 << 27 }).equals(mixed)).toBe(true);
  });
});

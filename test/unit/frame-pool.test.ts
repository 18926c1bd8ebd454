// Raw frames (incompressible blocks, codecs/parallel-zstd.ts rawFrame) are sealed by the crypto
// worker and come back with its answer, to be filled again (codecs/block-pool.ts, FramePool). With
// `poison`, a frame is overwritten the moment it comes back, and every byte must still decrypt
// exactly. Reuse while something still reads a frame cannot happen by construction (the transfer to
// the worker detaches every view here); a pool that hands one frame out twice shows as a detached
// buffer or wrong bytes, and a worker that keeps its frames as no reuse. The worker runs from dist/
// (src/worker-file.ts), so `npm test` runs this file, after the build, not `npm run test:unit`.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { zstdDecompressSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { BLOCK, FramePool, framePool, RAW_FRAME } from "../../src/codecs/block-pool.js";
import { ParallelZstdCompress, rawFrame } from "../../src/codecs/parallel-zstd.js";
import { createDecryptStream } from "../../src/crypto/age.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { createSealStream } from "../../src/crypto/object-streams.js";
import { StreamPool } from "../../src/crypto/stream-pool.js";

afterEach(() => {
  framePool.poison = false;
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function sealThrough(data: Buffer, pool: StreamPool, recipient: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let o = 0; o < data.length; o += BLOCK) pieces.push(Buffer.from(data.subarray(o, o + BLOCK)));
  const out: Buffer[] = [];
  // As a backup stores an object: compressor, then the seal stream that hands buffers over uncopied.
  await pipeline(
    Readable.from(pieces),
    new ParallelZstdCompress(1, 2),
    createSealStream([recipient], pool, { handOver: true }),
    async (s: AsyncIterable<Buffer>) => {
      for await (const c of s) out.push(c);
    },
  );
  return Buffer.concat(out);
}

async function decrypt(enc: Buffer, identity: ReturnType<typeof generateIdentity>["identity"]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([enc]), createDecryptStream([identity]), async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) out.push(c);
  });
  return Buffer.concat(out);
}

describe("raw frames come back from the crypto worker to be filled again", () => {
  it("a whole block's frame is a buffer that owns its memory, so that it can be handed over", () => {
    const f = rawFrame(randomBytes(BLOCK));
    expect(f.length).toBe(RAW_FRAME);
    expect(f.byteOffset).toBe(0);
    expect(f.buffer.byteLength).toBe(RAW_FRAME);
    expect(rawFrame(randomBytes(BLOCK - 1)).length).toBe(RAW_FRAME - 1); // a shorter one is its own size
  });

  it("adopts only frames of its size, up to its bound; poison overwrites at once", () => {
    const pool = new FramePool(2);
    pool.poison = true;
    pool.adopt(new ArrayBuffer(RAW_FRAME - 1));
    expect(pool.take().buffer.byteLength).toBe(RAW_FRAME); // a fresh one: the odd size was not kept
    expect(pool.reused).toBe(0);
    const a = new ArrayBuffer(RAW_FRAME);
    new Uint8Array(a).fill(1);
    pool.adopt(a);
    pool.adopt(new ArrayBuffer(RAW_FRAME));
    pool.adopt(new ArrayBuffer(RAW_FRAME)); // past the bound of 2: left to the collector
    expect(pool.adopted).toBe(2);
    const x = pool.take();
    const y = pool.take();
    expect(pool.reused).toBe(2);
    expect([x.buffer, y.buffer]).toContain(a);
    expect(new Uint8Array(a).every((v) => v === 0xa5)).toBe(true);
    pool.take();
    expect(pool.reused).toBe(2); // the third was not kept
  });

  it("through a worker: frames are reused, and every byte decrypts exactly", async () => {
    const id = generateIdentity();
    const pool = new StreamPool();
    expect(pool.threaded).toBe(true);
    framePool.poison = true;
    const before = framePool.reused;
    const adopted = framePool.adopted;
    const data = randomBytes(16 * BLOCK + 12345);
    const enc = await sealThrough(data, pool, id.recipient);
    // 16 whole blocks, at most a handful in flight at once: most frames were ones that came back.
    expect(framePool.reused - before).toBeGreaterThanOrEqual(8);
    expect(framePool.adopted - adopted).toBeGreaterThanOrEqual(16); // every whole block's frame came back
    const plain = await decrypt(enc, id.identity);
    expect(sha(zstdDecompressSync(plain))).toBe(sha(data));
  });

  it("inline (no worker): nothing comes back, and the bytes are the same", async () => {
    const id = generateIdentity();
    const before = framePool.adopted;
    const data = randomBytes(6 * BLOCK);
    const enc = await sealThrough(data, new StreamPool({ inline: true }), id.recipient);
    expect(framePool.adopted).toBe(before);
    expect(sha(zstdDecompressSync(await decrypt(enc, id.identity)))).toBe(sha(data));
  });
});

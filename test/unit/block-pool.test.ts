import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { zstdDecompressSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { BLOCK, BlockPool, blockPool } from "../../src/codecs/block-pool.js";
import { ParallelZstdCompress } from "../../src/codecs/parallel-zstd.js";

afterEach(() => {
  blockPool.poison = false;
});

/** Compressible text: what a database dump looks like. */
function rows(n: number, seed: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, length = 0; length < n; i++) {
    lines.push(`${seed}\t${i}\t${(i * 7919) % 100_003}\tfiller\n`);
    length += lines[i].length;
  }
  return Buffer.from(lines.join("")).subarray(0, n);
}

/** `data` as whole pooled blocks (as a source fills them), the rest as one ordinary chunk. */
function asPooledBlocks(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (; off + BLOCK <= data.length; off += BLOCK) {
    const b = blockPool.take();
    data.copy(b, 0, off, off + BLOCK);
    out.push(b);
  }
  if (off < data.length) out.push(Buffer.from(data.subarray(off)));
  return out;
}

async function squeeze(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new ParallelZstdCompress(1, 4))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe("pooled blocks with one owner at a time", () => {
  it("a block comes back to be filled again; giving one back twice, or a stranger, is refused", () => {
    const pool = new BlockPool(2);
    const a = pool.take();
    expect(a.length).toBe(BLOCK);
    expect(pool.owns(a)).toBe(true);
    expect(pool.owns(a.subarray(0, 10))).toBe(false); // only the whole block, never a view of it
    pool.give(a);
    expect(pool.owns(a)).toBe(false);
    expect(() => pool.give(a)).toThrow(/twice/);
    expect(() => pool.give(Buffer.alloc(BLOCK))).toThrow(/not the pool's/);
    expect(pool.take()).toBe(a);
    expect(pool.lent).toBe(1);
  });

  it("poison overwrites a block as soon as it is given back", () => {
    const pool = new BlockPool();
    pool.poison = true;
    const a = pool.take().fill(1);
    pool.give(a);
    expect(a.every((x) => x === 0xa5)).toBe(true);
  });

  it("the compressor reads no block after giving it back: whole pooled blocks, gathered pipe chunks, raw and compressed", async () => {
    blockPool.poison = true; // a read after release would see 0xa5 bytes instead of the data
    const lentBefore = blockPool.lent;
    const text = rows(5 * BLOCK + 12_345, 1);
    const media = randomBytes(3 * BLOCK);
    // Whole pooled blocks (compressed, and raw when incompressible), then 64 KiB chunks that are gathered into pooled blocks.
    const pooled = asPooledBlocks(Buffer.concat([text, media]).subarray(0, 8 * BLOCK));
    const tail = rows(3 * BLOCK + 999, 2);
    const chunks = [...pooled];
    for (let off = 0; off < tail.length; off += 65_536) chunks.push(tail.subarray(off, off + 65_536));
    const expected = Buffer.concat([Buffer.concat([text, media]).subarray(0, 8 * BLOCK), tail]);
    const compressed = await squeeze(chunks);
    expect(zstdDecompressSync(compressed).equals(expected)).toBe(true);
    expect(blockPool.lent).toBe(lentBefore); // every block handed out came back
  });
});

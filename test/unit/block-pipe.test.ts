import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BLOCK, blockPool } from "../../src/codecs/block-pool.js";
import { spawnDataStream } from "../../src/sources/postgres/child-stream.js";

/** `n` bytes of "x" from a shell pipeline. */
const produce = (n: number) => `head -c ${n} /dev/zero | tr "\\0" x`;

async function drain(stream: AsyncIterable<Buffer>): Promise<{ chunks: Buffer[]; sha: string; n: number }> {
  const chunks: Buffer[] = [];
  const h = createHash("sha256");
  let n = 0;
  for await (const c of stream) {
    chunks.push(c);
    h.update(c);
    n += c.length;
  }
  return { chunks, sha: h.digest("hex"), n };
}

describe("a tool's stdout read into pooled blocks", () => {
  it("arrives as whole 2 MiB pooled blocks (not 64 KiB reads), byte for byte, the last one partial", async () => {
    const size = 3 * BLOCK + 777;
    const got = await drain(spawnDataStream("sh", "/bin/sh", ["-c", produce(size)], {}));
    expect(got.n).toBe(size);
    expect(got.sha).toBe(createHash("sha256").update(Buffer.alloc(size, "x")).digest("hex"));
    expect(got.chunks.map((c) => c.length)).toEqual([BLOCK, BLOCK, BLOCK, 777]);
    // The whole blocks are the pool's: whoever holds them last gives them back.
    expect(got.chunks.slice(0, 3).every((c) => blockPool.owns(c))).toBe(true);
    for (const c of got.chunks.slice(0, 3)) blockPool.give(c);
  });

  it("a failing tool, a missing tool and a destroyed stream still fail or end, never hang", async () => {
    await expect(drain(spawnDataStream("sh", "/bin/sh", ["-c", "printf partial; exit 3"], {}))).rejects.toThrow(
      /sh exited with code 3/,
    );
    await expect(drain(spawnDataStream("nothere", "/nonexistent/tool", [], {}))).rejects.toThrow(/nothere/);
    const s = spawnDataStream("sh", "/bin/sh", ["-c", "head -c 100000000 /dev/zero"], {});
    const closed = new Promise((resolve) => s.once("close", resolve));
    s.once("data", () => s.destroy());
    await closed;
    expect(s.destroyed).toBe(true);
  });
});

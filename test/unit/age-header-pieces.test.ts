// issue 22 items 8 and 9: a header's verdict never depends on how its bytes arrive; createSealStream
// leaves the writer's buffers alone unless told to hand them over.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { createDecryptStream, createEncryptStream } from "../../src/crypto/age.js";
import { generateIdentity, generatePqIdentity, parseIdentities } from "../../src/crypto/age-keys.js";
import { createOpenStream, createSealStream } from "../../src/crypto/object-streams.js";
import { StreamPool } from "../../src/crypto/stream-pool.js";

async function collect(src: Readable, t: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(src, t, async function (s: AsyncIterable<Buffer | string>) {
    for await (const c of s) chunks.push(c as Buffer);
  });
  return Buffer.concat(chunks);
}

function pieces(data: Buffer, size: number): Readable {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += size) out.push(Buffer.from(data.subarray(o, o + size)));
  return Readable.from(out);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const headerLength = (enc: Buffer) => enc.indexOf("\n", enc.indexOf("\n---")) + 1;

describe("age headers near 64 KiB: the verdict does not depend on the piece size", async () => {
  const ids = await Promise.all(Array.from({ length: 43 }, () => generatePqIdentity()));
  const identity = parseIdentities(ids[0].text);
  const data = randomBytes(100_000);
  // Written without config check's bound, as an old or a forged object could be.
  const fits = await collect(Readable.from([data]), createEncryptStream(ids.slice(0, 42).map((i) => i.recipient)));
  const over = await collect(Readable.from([data]), createEncryptStream(ids.map((i) => i.recipient)));
  const pool = new StreamPool();
  const SIZES = [1, 4099, 16 * 1024, 1 << 20];

  it("the files are on both sides of the bound", () => {
    expect(headerLength(fits)).toBeLessThanOrEqual(64 * 1024);
    expect(headerLength(over)).toBeGreaterThan(64 * 1024);
  });

  for (const size of SIZES) {
    it(`${size}-byte pieces: 42 hybrid recipients open, 43 are refused (decrypt stream and stored-object stream)`, async () => {
      expect((await collect(pieces(fits, size), createDecryptStream(identity))).equals(data)).toBe(true);
      await expect(collect(pieces(over, size), createDecryptStream(identity))).rejects.toThrow(
        /no header end within 64 KiB/,
      );
      const open = (enc: Buffer) =>
        createOpenStream({ key: "backups/x/a.age", size: enc.length, sha256: sha(enc) }, identity, undefined, pool);
      expect((await collect(pieces(fits, size), open(fits))).equals(data)).toBe(true);
      await expect(collect(pieces(over, size), open(over))).rejects.toThrow(/no header end within 64 KiB/);
    }, 60_000);
  }
});

describe("createSealStream and the writer's buffers", () => {
  const id = generateIdentity();
  for (const mode of ["worker thread", "inline"]) {
    it(`${mode}: a written buffer is intact after the stream ended (copied, not transferred)`, async () => {
      const pool = new StreamPool({ inline: mode === "inline" });
      const mine = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a); // owns its ArrayBuffer: the case that used to be handed over
      const before = sha(mine);
      const sealed = createSealStream([id.recipient], pool);
      const enc = await collect(Readable.from([mine]), sealed);
      expect(mine.length).toBe(3 * 1024 * 1024 + 7);
      expect(sha(mine)).toBe(before);
      expect((await collect(Readable.from([enc]), createDecryptStream(parseIdentities(id.text)))).equals(mine)).toBe(
        true,
      );
    });
  }

  it("handOver: true transfers such a buffer to the worker, as documented (the backup pipeline's choice)", async () => {
    const pool = new StreamPool();
    const mine = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a);
    const copy = Buffer.from(mine);
    const enc = await collect(Readable.from([mine]), createSealStream([id.recipient], pool, { handOver: true }));
    expect(mine.length).toBe(0);
    expect((await collect(Readable.from([enc]), createDecryptStream(parseIdentities(id.text)))).equals(copy)).toBe(
      true,
    );
  });
});

import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { createDecryptStream } from "../../src/crypto/age.js";
import { generateIdentity, parseIdentities } from "../../src/crypto/age-keys.js";
import { CHUNK, sealChunk } from "../../src/crypto/age-stream.js";
import { createOpenStream, createSealStream } from "../../src/crypto/object-streams.js";
import { heldHashes, runJob } from "../../src/crypto/stream-jobs.js";
import { StreamPool } from "../../src/crypto/stream-pool.js";
import { StrongboxError } from "../../src/errors.js";
import { tempDir } from "../helpers/cli.js";

const hasAge = spawnSync("sh", ["-c", "command -v age"]).status === 0;
const required = process.env.CI === "true";

async function collect(src: Readable, t: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(src, t, async function (s: AsyncIterable<Buffer | string>) {
    for await (const c of s) chunks.push(c as Buffer);
  });
  return Buffer.concat(chunks);
}

/** `data` in pieces of `size` bytes, each a copy (as a stream would deliver them). */
function pieces(data: Buffer, size: number): Readable {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += size) out.push(Buffer.from(data.subarray(o, o + size)));
  return Readable.from(out.length ? out : [Buffer.alloc(0)]);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const md5 = (b: Buffer) => createHash("md5").update(b).digest();
const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536 + 5, 2_500_001];

describe.each([
  { mode: "worker thread", pool: new StreamPool() },
  { mode: "two worker threads", pool: new StreamPool({ threads: 2 }) },
  { mode: "inline", pool: new StreamPool({ inline: true }) },
])("sealing and opening stored objects ($mode)", ({ mode, pool }) => {
  const id = generateIdentity();
  const dir = tempDir("object-streams");
  writeFileSync(join(dir, "id.txt"), id.text, { mode: 0o600 });

  it("runs where it says it runs", () => {
    expect(pool.threaded).toBe(mode !== "inline");
  });

  it.each(SIZES)(
    "%i bytes: the age CLI and the in-thread decrypter read it, size and SHA-256 are of the stored bytes",
    async (size) => {
      const data = randomBytes(size);
      const sealed = createSealStream([id.recipient], pool);
      const enc = await collect(pieces(data, 300_000), sealed);
      expect(sealed.stored).toEqual({ bytes: enc.length, sha256: sha(enc) });
      expect((await collect(Readable.from([enc]), createDecryptStream([id.identity]))).equals(data)).toBe(true);
      if (hasAge || required) {
        writeFileSync(join(dir, "s.age"), enc);
        expect(
          execFileSync("age", ["-d", "-i", join(dir, "id.txt"), join(dir, "s.age")], { maxBuffer: 1 << 26 }).equals(
            data,
          ),
        ).toBe(true);
      }
      for (const cut of [7, 65_552, 1 << 20]) {
        const out = await collect(
          pieces(enc, cut),
          createOpenStream({ key: "k", size: enc.length, sha256: sha(enc) }, [id.identity], undefined, pool),
        );
        expect(out.equals(data)).toBe(true);
      }
    },
  );

  it.each([
    { size: 0, part: 5_000 },
    { size: 2_500_001, part: 300_007 }, // parts end inside jobs and inside chunks
    { size: 2_500_000, part: "half" as const }, // the stored bytes are exactly two parts
    { size: 2_500_000, part: "whole" as const }, // exactly one
  ])(
    "md5Parts: the MD5 of every part of the stored bytes, header included, there when its bytes are read, and nothing past the last ($size bytes, parts: $part)",
    async ({ size, part: p }) => {
      const data = randomBytes(size);
      // A fixed-size header (one X25519 recipient): the stored size is known from a first seal.
      const length = (await collect(pieces(data, 300_000), createSealStream([id.recipient], pool))).length;
      const part = p === "half" ? length / 2 : p === "whole" ? length : p;
      expect(Number.isInteger(part)).toBe(true);
      const s = createSealStream([id.recipient], pool, { md5Parts: part });
      let read = 0;
      const early: number[] = [];
      const chunks: Buffer[] = [];
      await pipeline(pieces(data, 300_000), s, async function (out: AsyncIterable<Buffer>) {
        for await (const c of out) {
          chunks.push(c);
          read += c.length;
          // Every part whose last byte has now been read has its digest already.
          for (let i = 0; i < Math.floor(read / part); i++) if (!s.partMd5!.get(i)) early.push(i);
        }
      });
      const enc = Buffer.concat(chunks);
      expect(early).toEqual([]);
      expect(enc.length).toBe(length);
      const parts = Math.ceil(enc.length / part);
      expect(s.partMd5?.size).toBe(part);
      for (let i = 0; i < parts; i++) expect(s.partMd5!.get(i)).toEqual(md5(enc.subarray(i * part, (i + 1) * part)));
      expect(s.partMd5!.get(parts)).toBeUndefined();
      expect(createSealStream([id.recipient], pool).partMd5).toBeUndefined();
    },
  );

  async function sealed(size: number): Promise<Buffer> {
    return collect(pieces(randomBytes(size), 1 << 20), createSealStream([id.recipient], pool));
  }
  const open = (enc: Buffer, rec: { size: number; sha256: string }, ids = [id.identity]) =>
    collect(pieces(enc, 100_000), createOpenStream({ key: "backups/x/a.tar.zst.age", ...rec }, ids, undefined, pool));

  it("a byte flipped in the last chunk fails authentication even when complete.json was re-hashed to match", async () => {
    const enc = await sealed(3 * 65536 + 100);
    enc[enc.length - 20] ^= 1;
    const err = await open(enc, { size: enc.length, sha256: sha(enc) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StrongboxError);
    expect((err as StrongboxError).code).toBe("VERIFY");
    expect((err as Error).message).toMatch(/^age: final chunk failed authentication/);
  });

  it("a byte flipped in the middle is found, by age authentication or by the SHA-256, whichever comes first", async () => {
    const enc = await sealed(2_000_000);
    const good = sha(enc);
    enc[1_000_000] ^= 1;
    const err = await open(enc, { size: enc.length, sha256: good }).catch((e: unknown) => e);
    expect((err as StrongboxError).code).toBe("VERIFY");
    expect((err as Error).message).toMatch(/^age: chunk failed authentication|SHA-256 mismatch/);
    // With complete.json re-hashed to match, only age authentication can find it.
    await expect(open(enc, { size: enc.length, sha256: sha(enc) })).rejects.toThrow(
      /^age: chunk failed authentication/,
    );
  });

  it("an object cut short, or longer than recorded, names the key and complete.json", async () => {
    const enc = await sealed(500_000);
    await expect(open(enc.subarray(0, enc.length - 1000), { size: enc.length, sha256: sha(enc) })).rejects.toThrow(
      /a\.tar\.zst\.age: \d+ bytes, complete\.json says \d+ \(truncated\)/,
    );
    await expect(open(Buffer.concat([enc, Buffer.alloc(10)]), { size: enc.length, sha256: sha(enc) })).rejects.toThrow(
      /larger than recorded in complete\.json/,
    );
    await expect(open(enc.subarray(0, 50), { size: enc.length, sha256: sha(enc) })).rejects.toThrow(/truncated/);
  });

  it("a byte flipped in the last chunk, complete.json as written: the SHA-256 mismatch is reported, before age's words", async () => {
    const enc = await sealed(3 * 65536 + 100);
    const good = sha(enc);
    enc[enc.length - 20] ^= 1;
    await expect(open(enc, { size: enc.length, sha256: good })).rejects.toThrow(
      /SHA-256 mismatch \(stored object is corrupt\)/,
    );
  });

  it("intact bytes with a different recorded SHA-256 fail the SHA-256 check", async () => {
    const enc = await sealed(100_000);
    await expect(open(enc, { size: enc.length, sha256: "0".repeat(64) })).rejects.toThrow(
      /SHA-256 mismatch \(stored object is corrupt\)/,
    );
  });

  it("the wrong identity is a CRYPTO error, not a VERIFY one", async () => {
    const enc = await sealed(1000);
    const err = await open(enc, { size: enc.length, sha256: sha(enc) }, parseIdentities(generateIdentity().text)).catch(
      (e: unknown) => e,
    );
    expect((err as StrongboxError).code).toBe("CRYPTO");
    expect((err as Error).message).toMatch(/no identity matches/);
  });

  it("many objects at once keep their bytes apart", async () => {
    const datas = [1, 2, 3, 4, 5, 6].map((i) => randomBytes(i * 150_001));
    const encs = await Promise.all(
      datas.map((d) => collect(pieces(d, 64_000), createSealStream([id.recipient], pool))),
    );
    const outs = await Promise.all(encs.map((e) => open(e, { size: e.length, sha256: sha(e) })));
    outs.forEach((o, i) => expect(o.equals(datas[i])).toBe(true));
  });
});

describe("stored-bytes hashes kept where the jobs run", () => {
  it("a seal or open torn down half-way leaves no hash behind (inline, where the map can be seen)", async () => {
    const pool = new StreamPool({ inline: true });
    const id = generateIdentity();
    const data = randomBytes(3 << 20);
    const enc = await collect(pieces(data, 1 << 20), createSealStream([id.recipient], pool));
    expect(heldHashes()).toBe(0);
    const cases = [
      { make: () => createSealStream([id.recipient], pool), src: data },
      {
        make: () => createOpenStream({ key: "k", size: enc.length, sha256: sha(enc) }, [id.identity], undefined, pool),
        src: enc,
      },
    ];
    for (const { make, src } of cases) {
      const t = make();
      t.on("data", () => {});
      t.on("error", () => {}); // the "stop" below
      const done = new Promise((r) => t.on("close", r));
      t.write(src.subarray(0, 1 << 20));
      t.write(src.subarray(1 << 20, 2 << 20));
      await new Promise((r) => setTimeout(r, 50)); // its first jobs ran
      t.destroy(new Error("stop"));
      await done;
      await new Promise((r) => setImmediate(r)); // the forget job runs on the next turn
      await new Promise((r) => setImmediate(r));
      expect(heldHashes()).toBe(0);
    }
  });
});

describe("stored-bytes hashes: the hash never comes from part of an object", () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("a crypto worker replaced between two jobs of one seal fails the seal; it never records a digest of part of the object", async () => {
    const pool = new StreamPool();
    const slots = (
      pool as unknown as {
        slots: ({ worker: { terminate(): Promise<number> }; pending: Map<number, unknown> } | undefined)[];
      }
    ).slots;
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setTimeout(r, 5));
    };
    const id = generateIdentity();
    const s = createSealStream([id.recipient], pool);
    s.on("data", () => {});
    const ended = new Promise<void>((resolve, reject) => {
      s.on("end", () => resolve());
      s.on("error", reject);
    });
    s.write(randomBytes(2 << 20));
    // Conditions, not durations (a loaded machine answers late): the first job has answered, the worker is idle.
    await until(() => slots[0] !== undefined && slots[0].pending.size === 0);
    await slots[0]!.worker.terminate(); // a crash, an OOM
    // The pool drops the slot on the worker's exit event; the next job then starts a new worker.
    await until(() => slots[0] === undefined);
    s.end(randomBytes(2 << 20));
    await expect(ended).rejects.toThrow(/running SHA-256 of this object was lost/);
  });

  it("an open torn down while its header is being opened sends nothing and leaves no hash", async () => {
    const pool = new StreamPool({ inline: true });
    const id = generateIdentity();
    const enc = await collect(Readable.from([randomBytes(3 << 20)]), createSealStream([id.recipient], pool));
    expect(heldHashes()).toBe(0);
    const t = createOpenStream({ key: "k", size: enc.length, sha256: sha(enc) }, [id.identity], undefined, pool);
    t.on("data", () => {});
    t.on("error", () => {});
    t.write(enc); // gather: openHeader is awaited
    t.destroy(new Error("consumer gave up"));
    await sleep(100);
    expect(heldHashes()).toBe(0);
  });

  it("an open job hands its chunks back as they are, each owning its memory, so each transfers uncopied", () => {
    const key = randomBytes(32);
    const plain = [randomBytes(CHUNK), randomBytes(CHUNK)];
    const r = runJob({
      op: "open",
      seq: 1,
      key,
      counter: 0,
      bufs: [Buffer.concat(plain.map((p, i) => sealChunk(key, i, false, p)))],
      last: false,
    });
    expect(r.failure).toBeUndefined();
    expect(Array.isArray(r.out)).toBe(true);
    const pieces = r.out as Uint8Array[];
    expect(pieces.map((p) => Buffer.from(p))).toEqual(plain);
    for (const p of pieces) expect([p.byteOffset, p.byteLength]).toEqual([0, p.buffer.byteLength]);
    expect(new Set(pieces.map((p) => p.buffer)).size).toBe(pieces.length);
  });

  it("an internal error on a job drops the object's hash", () => {
    const before = heldHashes();
    expect(() =>
      runJob({
        op: "open",
        seq: 1,
        key: new Uint8Array(3),
        counter: 0,
        bufs: [new Uint8Array(100)],
        last: true,
        hash: { id: 987654, prefix: new Uint8Array(10) },
      }),
    ).toThrow();
    expect(heldHashes()).toBe(before);
  });
});

describe("the crypto worker", () => {
  it("does not keep a finished process alive", () => {
    const script = `
      const { createSealStream } = await import(${JSON.stringify(new URL("../../dist/crypto/object-streams.js", import.meta.url).href)});
      const { Readable } = await import("node:stream");
      const s = createSealStream([${JSON.stringify(generateIdentity().recipient)}]);
      let n = 0;
      for await (const c of Readable.from([Buffer.alloc(3 << 20)]).pipe(s)) n += c.length;
      console.log(n, s.stored.bytes);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const [n, bytes] = r.stdout.trim().split(" ").map(Number);
    expect(n).toBe(bytes);
    expect(n).toBeGreaterThan(3 << 20);
  });
});

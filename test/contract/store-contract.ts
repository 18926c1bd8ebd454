// The contract every Store implementation passes (local directory and S3 alike).
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { NotFoundError, StrongboxError } from "../../src/errors.js";
import type { Store } from "../../src/stores/store.js";

export interface StoreHarness {
  store: Store;
  /** Multipart uploads still open under the store (S3); 0 for stores that have none. */
  openUploads(): Promise<number>;
  /** A size that makes put split the body into several parts (S3), to exercise that path. */
  largeSize: number;
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function chunked(data: Buffer, size = 64 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      this.push(off < data.length ? data.subarray(off, (off += size)) : null);
    },
  });
}

/** A body that yields some bytes and then fails, like a source dying mid-backup. */
function failingBody(after: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= after) return void this.destroy(new Error("source died"));
      const n = Math.min(256 * 1024, after - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

async function keysUnder(store: Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

export function storeContract(name: string, harness: () => StoreHarness, skip = false): void {
  describe.skipIf(skip)(`Store contract: ${name}`, () => {
    const run = randomBytes(4).toString("hex");
    const k = (s: string) => `contract-${run}/${s}`;

    it("round-trips a small object and reports its size", async () => {
      const { store } = harness();
      const data = Buffer.from("hello strongbox\n");
      const info = await store.put(k("small/a.bin"), Readable.from([data]));
      expect(info.size).toBe(data.length);
      expect(await readAll(await store.get(k("small/a.bin")))).toEqual(data);
    });

    it("round-trips an empty object", async () => {
      const { store } = harness();
      await store.put(k("empty"), Readable.from([]));
      expect((await readAll(await store.get(k("empty")))).length).toBe(0);
    });

    it("round-trips a large object byte for byte (multipart where the store has it)", async () => {
      const { store, largeSize } = harness();
      const data = randomBytes(largeSize);
      const info = await store.put(k("large.bin"), chunked(data));
      expect(info.size).toBe(data.length);
      const back = await readAll(await store.get(k("large.bin")));
      expect(back.length).toBe(data.length);
      expect(back.equals(data)).toBe(true);
    });

    it("a body's own part MD5s: used where the store uploads in parts of that size (a wrong one is refused), ignored elsewhere", async () => {
      const { store, largeSize, openUploads } = harness();
      const data = randomBytes(largeSize);
      const size = store.partSize ?? 5 * 1024 * 1024;
      const md5s = Array.from({ length: Math.ceil(data.length / size) }, (_, i) =>
        createHash("md5")
          .update(data.subarray(i * size, (i + 1) * size))
          .digest(),
      );
      await store.put(k("md5/right.bin"), chunked(data), { partMd5: { size, get: (i) => md5s[i] } });
      expect((await readAll(await store.get(k("md5/right.bin")))).equals(data)).toBe(true);
      const wrong = { size, get: (i: number) => (i === 1 ? md5s[0] : md5s[i]) };
      const put = store.put(k("md5/wrong.bin"), chunked(data), { partMd5: wrong });
      if (store.partSize === undefined) {
        await put;
        expect((await readAll(await store.get(k("md5/wrong.bin")))).equals(data)).toBe(true);
      } else {
        await expect(put).rejects.toThrow(/md5\/wrong\.bin/);
        await expect(store.get(k("md5/wrong.bin"))).rejects.toBeInstanceOf(NotFoundError);
        expect(await openUploads()).toBe(0);
        // Digests cut at another size than the store's parts are not used: the store hashes its own.
        await store.put(k("md5/other-size.bin"), chunked(data), { partMd5: { size: size + 1, get: () => md5s[0] } });
        expect((await readAll(await store.get(k("md5/other-size.bin")))).equals(data)).toBe(true);
        // A digest that is missing is taken from the part as spooled.
        await store.put(k("md5/missing.bin"), chunked(data), {
          partMd5: { size, get: (i) => (i === 1 ? undefined : md5s[i]) },
        });
        expect((await readAll(await store.get(k("md5/missing.bin")))).equals(data)).toBe(true);
        // An object of one part (a single PUT) uses its digest too.
        const one = data.subarray(0, 1000);
        const put1 = store.put(k("md5/one-wrong.bin"), chunked(one), { partMd5: { size, get: () => md5s[0] } });
        await expect(put1).rejects.toThrow(/md5\/one-wrong\.bin/);
        const right = createHash("md5").update(one).digest();
        await store.put(k("md5/one.bin"), chunked(one), {
          partMd5: { size, get: (i) => (i === 0 ? right : undefined) },
        });
        expect((await readAll(await store.get(k("md5/one.bin")))).equals(one)).toBe(true);
      }
    });

    it("get of a missing key is a NotFoundError", async () => {
      const { store } = harness();
      await expect(store.get(k("nope"))).rejects.toBeInstanceOf(NotFoundError);
    });

    it("lists keys under a prefix only, with sizes", async () => {
      const { store } = harness();
      await store.put(k("list/x/1"), Readable.from([Buffer.alloc(3)]));
      await store.put(k("list/x/2"), Readable.from([Buffer.alloc(5)]));
      await store.put(k("list/y/1"), Readable.from([Buffer.alloc(7)]));
      const under: Record<string, number> = {};
      for await (const o of store.list(k("list/x/"))) under[o.key] = o.size;
      expect(under).toEqual({ [k("list/x/1")]: 3, [k("list/x/2")]: 5 });
      expect(await keysUnder(store, k("list/"))).toHaveLength(3);
    });

    it("never overwrites an existing key", async () => {
      const { store } = harness();
      await store.put(k("once"), Readable.from([Buffer.from("first")]));
      await expect(store.put(k("once"), Readable.from([Buffer.from("second")]))).rejects.toBeInstanceOf(StrongboxError);
      expect((await readAll(await store.get(k("once")))).toString()).toBe("first");
    });

    it("a body that errors leaves no object and no open upload", async () => {
      const h = harness();
      const before = await h.openUploads();
      await expect(h.store.put(k("broken-small"), failingBody(1024))).rejects.toThrow(/source died/);
      await expect(h.store.put(k("broken-large"), failingBody(h.largeSize))).rejects.toThrow(/source died/);
      await expect(h.store.get(k("broken-small"))).rejects.toBeInstanceOf(NotFoundError);
      await expect(h.store.get(k("broken-large"))).rejects.toBeInstanceOf(NotFoundError);
      expect(await keysUnder(h.store, k("broken"))).toEqual([]);
      expect(await h.openUploads()).toBe(before);
    });

    it("an aborted put leaves no object", async () => {
      const h = harness();
      const ac = new AbortController();
      let sent = 0;
      const body = new Readable({
        read() {
          sent += 1;
          if (sent === 20) ac.abort(new Error("stop"));
          this.push(randomBytes(256 * 1024));
        },
      });
      await expect(h.store.put(k("aborted"), body, { signal: ac.signal })).rejects.toThrow();
      await expect(h.store.get(k("aborted"))).rejects.toBeInstanceOf(NotFoundError);
      expect(await h.openUploads()).toBe(0);
    });

    it("delete removes an object and is idempotent", async () => {
      const { store } = harness();
      await store.put(k("del"), Readable.from([Buffer.from("x")]));
      await store.delete(k("del"));
      await store.delete(k("del"));
      await expect(store.get(k("del"))).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}

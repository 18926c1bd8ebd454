// A Store that holds its objects in memory: for tests of what reads a repository (listing, trust,
// retention) without a disk or a server. It keeps the Store contract (test/contract/store-contract.ts,
// run on it by test/stores/memory.test.ts): put never overwrites and leaves nothing when its body fails
// or its signal aborts; get of a missing key is a NotFoundError; delete is idempotent.
import { Readable } from "node:stream";
import { NotFoundError, StrongboxError } from "../../src/errors.js";
import type { ObjectInfo, PutOptions, Store } from "../../src/stores/store.js";

export interface MemoryObject {
  body: Buffer;
  /** When the "server" stored it: what a listing reports as lastModified (the store's own clock). */
  at: Date;
}

export class MemoryStore implements Store {
  readonly description: string;
  /** Every object by key. Tests may set entries directly to forge what a writer could have stored. */
  readonly objects = new Map<string, MemoryObject>();
  /** The store's clock, read when a put completes. */
  now: () => Date;

  constructor(o: { description?: string; now?: () => Date } = {}) {
    this.description = o.description ?? "memory://test";
    this.now = o.now ?? (() => new Date());
  }

  async put(key: string, body: Readable, o: PutOptions = {}): Promise<ObjectInfo> {
    if (this.objects.has(key)) throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) {
        if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
      }
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
    } finally {
      body.destroy();
    }
    // Checked again: another put of the same key may have finished while this body streamed.
    if (this.objects.has(key)) throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
    const stored = { body: Buffer.concat(chunks), at: this.now() };
    this.objects.set(key, stored);
    return { key, size: stored.body.length, lastModified: stored.at };
  }

  async get(key: string, o: { signal?: AbortSignal } = {}): Promise<Readable> {
    o.signal?.throwIfAborted();
    const stored = this.objects.get(key);
    if (!stored) throw new NotFoundError(key);
    return Readable.from([stored.body]);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) {
      const stored = this.objects.get(key);
      if (stored) yield { key, size: stored.body.length, lastModified: stored.at };
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}

import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { storeStream } from "../../src/engine/backup.js";
import type { Store } from "../../src/stores/store.js";

describe("storeStream with a signal aborted before it starts", () => {
  it("stores nothing, tears the source down and says interrupted", async () => {
    const puts: string[] = [];
    const store = { put: async (key: string) => void puts.push(key) } as unknown as Store;
    let destroyed = false;
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
      },
      destroy(err, cb) {
        destroyed = true;
        cb(err);
      },
    });
    const ac = new AbortController();
    ac.abort();
    await expect(
      storeStream(store, "backups/x/db.pgdump.zst.age", [source, new PassThrough()], ac.signal),
    ).rejects.toThrow(/interrupted/);
    expect(puts).toEqual([]);
    expect(destroyed).toBe(true);
  });
});

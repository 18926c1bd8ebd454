// The in-memory store of test/helpers/memory-store.ts keeps the same contract as the real stores, so a
// test that reads a repository through it judges what a real repository would give.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { storeContract } from "../contract/store-contract.js";
import { MemoryStore } from "../helpers/memory-store.js";

const store = new MemoryStore();
storeContract("MemoryStore", () => ({ store, openUploads: async () => 0, largeSize: 2 * 1024 * 1024 })); // no multipart here: a few MiB exercise the streaming path

describe("MemoryStore specifics", () => {
  it("dates each object by the store's clock when its put completes, and lists it with that time", async () => {
    let now = new Date("2026-12-05T03:00:00Z");
    const dated = new MemoryStore({ now: () => now });
    await dated.put("backups/a/complete.json", Readable.from([Buffer.from("{}")]));
    now = new Date("2026-12-05T04:00:00Z");
    await dated.put("backups/b/complete.json", Readable.from([Buffer.from("{}")]));
    const listed = [];
    for await (const o of dated.list("backups/")) listed.push(o);
    expect(listed).toEqual([
      { key: "backups/a/complete.json", size: 2, lastModified: new Date("2026-12-05T03:00:00Z") },
      { key: "backups/b/complete.json", size: 2, lastModified: new Date("2026-12-05T04:00:00Z") },
    ]);
  });

  it("get with an aborted signal is refused", async () => {
    await store.put("abort-get", Readable.from([Buffer.from("x")]));
    const ac = new AbortController();
    ac.abort(new Error("stopped"));
    await expect(store.get("abort-get", { signal: ac.signal })).rejects.toThrow(/stopped/);
  });
});

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { storeContract } from "../contract/store-contract.js";
import { tempDir } from "../helpers/cli.js";

const root = tempDir("local");
const store = new LocalDirStore(root);
storeContract("LocalDirStore", () => ({ store, openUploads: async () => 0, largeSize: 12 * 1024 * 1024 }));

describe("LocalDirStore specifics", () => {
  it("leaves no temporary file behind after a failed put", async () => {
    const body = new Readable({
      read() {
        this.destroy(new Error("boom"));
      },
    });
    await expect(store.put("tmpcheck/a", body)).rejects.toThrow(/boom/);
    const left = readdirSync(join(root, "tmpcheck"));
    expect(left).toEqual([]);
  });

  it("writes objects readable only by the owner", async () => {
    await store.put("mode/a", Readable.from([Buffer.from("x")]));
    const { statSync } = await import("node:fs");
    expect(statSync(join(root, "mode/a")).mode & 0o777).toBe(0o600);
  });

  it("refuses keys that would escape the root", async () => {
    await expect(store.put("../escape", Readable.from([Buffer.from("x")]))).rejects.toThrow(/invalid object key/);
  });
});

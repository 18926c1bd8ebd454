import { chownSync, mkdirSync, promises as fsp, readdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
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
    expect(readdirSync(join(root, "tmpcheck"))).toEqual([]);
    expect(readdirSync(join(root, ".strongbox-tmp"))).toEqual([]);
  });

  it("writes objects readable only by the owner", async () => {
    await store.put("mode/a", Readable.from([Buffer.from("x")]));
    const { statSync } = await import("node:fs");
    expect(statSync(join(root, "mode/a")).mode & 0o777).toBe(0o600);
  });

  it("refuses keys that would escape the root", async () => {
    await expect(store.put("../escape", Readable.from([Buffer.from("x")]))).rejects.toThrow(/invalid object key/);
  });

  it("writes an object under .strongbox-tmp/ first, where neither list nor a sweep sees a running writer's file", async () => {
    const r = tempDir("local-tmpdir");
    const s = new LocalDirStore(r);
    const put = heldPut(s, "backups/b1/files.tar");
    await vi.waitFor(() => expect(readdirSync(join(r, ".strongbox-tmp"))).toHaveLength(1));
    expect(readdirSync(join(r, "backups/b1"))).toEqual([]); // nothing beside the object while it is written
    expect(await collect(s.list(""))).toEqual([]);
    expect(await s.leftovers({ remove: true, everywhere: true })).toEqual({ count: 0, bytes: 0 }); // its writer runs
    put.release();
    await put.done;
    expect(readdirSync(join(r, ".strongbox-tmp"))).toEqual([]);
    expect((await collect(s.list(""))).map((o) => o.key)).toEqual(["backups/b1/files.tar"]);
  });

  it("writes beside the object when .strongbox-tmp is not its own real directory (a symlink; another user's)", async () => {
    const uid = process.getuid!();
    for (const kind of ["symlink", ...(uid === 0 ? ["another user's"] : [])]) {
      const r = tempDir("local-foreign-tmp");
      const elsewhere = tempDir("local-elsewhere");
      if (kind === "symlink") symlinkSync(elsewhere, join(r, ".strongbox-tmp"));
      else {
        mkdirSync(join(r, ".strongbox-tmp"), { mode: 0o700 });
        chownSync(join(r, ".strongbox-tmp"), 65534, 65534); // nobody: as if `wal push` ran first as postgres
      }
      const s = new LocalDirStore(r);
      const put = heldPut(s, "wal/1/seg");
      await vi.waitFor(() => expect(readdirSync(join(r, "wal/1")), kind).toHaveLength(1));
      expect(readdirSync(join(r, "wal/1"))[0], kind).toMatch(/^\.strongbox-tmp-/);
      expect(readdirSync(elsewhere), kind).toEqual([]); // nothing written through a symlink
      put.release();
      await put.done;
      expect(readdirSync(join(r, "wal/1")), kind).toEqual(["seg"]);
      expect(await s.leftovers({ remove: true, everywhere: true }), kind).toEqual({ count: 0, bytes: 0 });
    }
  });

  it("sweeps only .strongbox-tmp/ unless asked to look everywhere (older builds' temp files, empty backup dirs)", async () => {
    const r = tempDir("local-sweep");
    const s = new LocalDirStore(r);
    for (let i = 0; i < 40; i++) await s.put(`wal/1/00000001/seg${i}`, Readable.from([Buffer.from("w")]));
    await s.put("backups/b1/manifest.json", Readable.from([Buffer.from("{}")]));
    const old = new Date(Date.now() - 3 * 86400_000);
    /** A killed writer's temp file, of another host (a shared mount), old enough to be an orphan. */
    const orphan = (dir: string, bytes: number) => {
      mkdirSync(join(r, dir), { recursive: true });
      const f = join(r, dir, ".strongbox-tmp-0badc0de-4242-00");
      writeFileSync(f, Buffer.alloc(bytes));
      utimesSync(f, old, old);
    };
    orphan(".strongbox-tmp", 100);
    orphan("backups/b1", 7); // where builds before the temp directory wrote it
    mkdirSync(join(r, "backups/b2"));
    utimesSync(join(r, "backups/b2"), old, old); // a killed backup's empty directory

    const readdir = vi.spyOn(fsp, "readdir");
    try {
      expect(await s.leftovers({ remove: false })).toEqual({ count: 1, bytes: 100 });
      expect(readdir).toHaveBeenCalledTimes(1); // the temp directory alone, however big the repository
      readdir.mockClear();
      expect(await s.leftovers({ remove: false, everywhere: true })).toEqual({ count: 2, bytes: 107 });
      expect(readdir.mock.calls.length).toBeGreaterThan(5);
    } finally {
      readdir.mockRestore();
    }
    expect(await s.leftovers({ remove: true })).toEqual({ count: 1, bytes: 100 });
    expect(readdirSync(join(r, "backups"))).toEqual(["b1", "b2"]);
    expect(await s.leftovers({ remove: true, everywhere: true })).toEqual({ count: 1, bytes: 7 });
    expect(readdirSync(join(r, "backups"))).toEqual(["b1"]);
    expect(readdirSync(join(r, "backups/b1"))).toEqual(["manifest.json"]);
    expect(await collect(s.list("wal/"))).toHaveLength(40);
  });
});

/** A put whose body stops after its first bytes until `release()`: its temp file can be looked at. */
function heldPut(s: LocalDirStore, key: string) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const body = Readable.from(
    (async function* () {
      yield Buffer.from("first part");
      await held;
      yield Buffer.from(", second part");
    })(),
  );
  return { done: s.put(key, body), release };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

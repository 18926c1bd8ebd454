import { randomBytes } from "node:crypto";
import { constants, createReadStream, promises as fsp } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import { NotFoundError, StrongboxError, wrapError } from "../errors.js";
import { markErrors, type ObjectInfo, type Store } from "./store.js";

const TMP_MARK = ".strongbox-tmp-";
const WRITE_BATCH = 1024 * 1024;

function checkKey(key: string): void {
  if (!key || key.startsWith("/") || key.split("/").some((p) => p === ".." || p === "." || p === "")) {
    throw new StrongboxError("STORE", `invalid object key: ${key}`);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A repository in a local directory (or a mounted network share). An object is written to a
 * temporary name, fsynced, then hard-linked to its final name (which fails if it exists), so a
 * crash never leaves a half-written object under its final name and nothing is overwritten.
 */
export class LocalDirStore implements Store {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `file://${root}`;
  }

  async put(key: string, body: Readable, o: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    checkKey(key);
    const final = join(this.root, key);
    const tmp = join(dirname(final), `${TMP_MARK}${randomBytes(6).toString("hex")}`);
    let bodyError: unknown;
    try {
      await fsp.mkdir(dirname(final), { recursive: true });
      const fh = await fsp.open(tmp, "wx", 0o600);
      let size = 0;
      try {
        // Batch small chunks into ~1 MiB writev calls: one thread-pool round trip each.
        let batch: Buffer[] = [];
        let batched = 0;
        for await (const chunk of markErrors(body, (e) => (bodyError = e))) {
          if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
          size += chunk.length;
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH) {
            await fh.writev(batch);
            batch = [];
            batched = 0;
          }
        }
        if (batch.length) await fh.writev(batch);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await fsp.link(tmp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
        throw err;
      }
      await fsp.unlink(tmp);
      await fsyncDir(dirname(final));
      return { key, size };
    } catch (err) {
      body.destroy();
      await fsp.unlink(tmp).catch(() => {});
      if (err === bodyError) throw err; // the source failed, not the store
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") throw new StrongboxError("STORE", `${this.description}: no space left on device writing ${key}`, { cause: err });
      throw wrapError(err, "STORE", `${this.description}: writing ${key}`);
    }
  }

  async get(key: string): Promise<Readable> {
    checkKey(key);
    const path = join(this.root, key);
    try {
      const fh = await fsp.open(path, "r");
      return fh.createReadStream({ highWaterMark: 1024 * 1024 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(key);
      throw wrapError(err, "STORE", `${this.description}: reading ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const start = join(this.root, prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "");
    const walk = async function* (this: LocalDirStore, dir: string): AsyncGenerator<ObjectInfo> {
      let names;
      try {
        names = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        throw wrapError(err, "STORE", `${this.description}: listing`);
      }
      for (const d of names) {
        const abs = join(dir, d.name);
        const key = relative(this.root, abs).split(sep).join("/");
        if (d.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk.call(this, abs);
        } else if (d.isFile() && !d.name.startsWith(TMP_MARK) && key.startsWith(prefix)) {
          const st = await fsp.stat(abs).catch(() => null);
          if (st) yield { key, size: st.size, lastModified: st.mtime };
        }
      }
    };
    yield* walk.call(this, start);
  }

  async abortStaleUploads(before: Date): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const d of entries) {
        const abs = join(dir, d.name);
        if (d.isDirectory()) await walk(abs);
        else if (d.name.startsWith(TMP_MARK)) {
          const st = await fsp.stat(abs).catch(() => null);
          if (st && st.mtime < before) {
            await fsp.unlink(abs).catch(() => {});
            out.push(relative(this.root, abs).split(sep).join("/"));
          }
        }
      }
    };
    await walk(this.root);
    return out;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await fsp.unlink(join(this.root, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw wrapError(err, "STORE", `${this.description}: deleting ${key}`);
    }
    // Tidy empty directories up to the root.
    let dir = dirname(join(this.root, key));
    while (dir.startsWith(this.root) && dir !== this.root) {
      try {
        await fsp.rmdir(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }
}

import { constants, promises as fsp } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import { NotFoundError, StrongboxError, wrapError } from "../errors.js";
import { describeSystemError, isSystemError } from "../system-error.js";
import { isOrphan, tempName } from "../temp-names.js";
import { markErrors, type ObjectInfo, type PutOptions, type Store } from "./store.js";

const TMP_MARK = ".strongbox-tmp-";
/**
 * Where put() writes an object before it links it to its name: one directory, so that finding what a
 * killed run left reads this directory only, not the whole repository (which grows with every backup
 * and every WAL segment). Earlier builds wrote their temp files beside their objects, and so does a
 * put that may not use this directory (see ownTempDir): the everywhere sweep (prune, `list --all`)
 * finds those.
 */
const TMP_DIR = ".strongbox-tmp";
const WRITE_BATCH = 1024 * 1024;
const SYNC_EVERY = 32 * 1024 * 1024;
/** An empty backup directory younger than this may be one a running backup just created. */
const EMPTY_DIR_AGE_MS = 3600_000;

function checkKey(key: string): void {
  if (!key || key.startsWith("/") || key.split("/").some((p) => p === ".." || p === "." || p === "")) {
    throw new StrongboxError("STORE", `invalid object key: ${key}`);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
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

  /**
   * `.strongbox-tmp/` when this process may write there and link from there to `finalDir`: a real
   * directory (not a symlink), its own user's (a repository shared by two users, e.g. `wal push` as
   * postgres and backups as strongbox, never locks one out), on `finalDir`'s filesystem (a link
   * cannot cross one). Else undefined: the temp file goes beside its object, as earlier builds did,
   * where only the everywhere sweep (prune) finds a killed run's.
   */
  private async ownTempDir(finalDir?: string): Promise<string | undefined> {
    const dir = join(this.root, TMP_DIR);
    if (finalDir) await fsp.mkdir(dir, { mode: 0o700 }).catch(() => {});
    const [t, f] = await Promise.all([
      fsp.lstat(dir).catch(() => null),
      finalDir ? fsp.stat(finalDir).catch(() => null) : null,
    ]);
    const uid = process.getuid?.();
    if (!t?.isDirectory() || (uid !== undefined && t.uid !== uid)) return undefined;
    if (finalDir && t.dev !== f?.dev) return undefined;
    return dir;
  }

  async put(key: string, body: Readable, o: PutOptions = {}): Promise<ObjectInfo> {
    checkKey(key);
    const final = join(this.root, key);
    let tmp = join(dirname(final), tempName(TMP_MARK));
    let bodyError: unknown;
    try {
      await fsp.mkdir(dirname(final), { recursive: true });
      const own = await this.ownTempDir(dirname(final));
      if (own) tmp = join(own, basename(tmp));
      const fh = await fsp.open(tmp, "wx", 0o600);
      let size = 0;
      try {
        // Batch small chunks into ~1 MiB writev calls: one thread-pool round trip each.
        let batch: Buffer[] = [];
        let batched = 0;
        // The disk writes back while the rest is produced (fdatasync every SYNC_EVERY bytes, one at a
        // time), so the final fsync does not wait for the whole object.
        let unsynced = 0;
        let syncing: Promise<void> | undefined;
        let syncError: unknown;
        const write = async (parts: Buffer[], n: number) => {
          await fh.writev(parts);
          unsynced += n;
          if (unsynced >= SYNC_EVERY && !syncing) {
            unsynced = 0;
            syncing = fh.datasync().then(
              () => void (syncing = undefined),
              (err) => void ((syncError ??= err), (syncing = undefined)),
            );
          }
        };
        for await (const chunk of markErrors(body, (e) => (bodyError = e))) {
          if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
          size += chunk.length;
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH) {
            await write(batch, batched);
            batch = [];
            batched = 0;
          }
        }
        if (batch.length) await write(batch, batched);
        await syncing;
        if (syncError) throw syncError;
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await fsp.link(tmp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST")
          throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
        throw err;
      }
      await fsp.unlink(tmp);
      await fsyncDir(dirname(final));
      return { key, size };
    } catch (err) {
      body.destroy();
      await fsp.unlink(tmp).catch(() => {});
      if (err === bodyError) throw err; // the source failed, not the store
      // "disk full (ENOSPC) writing /repo/backups/<id>/<object>": the object's name, not its temporary file's.
      if (isSystemError(err))
        throw new StrongboxError(
          "STORE",
          describeSystemError(err, err.path && err.path !== tmp ? {} : { path: final, doing: "writing" }),
          { cause: err },
        );
      throw wrapError(err, "STORE", `${this.description}: writing ${key}`);
    }
  }

  /** A local repository is readable by its writer: the file is there with these bytes, or not. */
  async confirmStored(key: string, body: Buffer): Promise<boolean | undefined> {
    checkKey(key);
    try {
      return (await fsp.readFile(join(this.root, key))).equals(body);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      return undefined;
    }
  }

  /** A local repository is readable by every role. */
  async has(key: string): Promise<boolean> {
    checkKey(key);
    return fsp.access(join(this.root, key)).then(
      () => true,
      () => false,
    );
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
          if (key === TMP_DIR) continue;
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk.call(this, abs);
        } else if (d.isFile() && !d.name.startsWith(TMP_MARK) && key.startsWith(prefix)) {
          const st = await fsp.stat(abs).catch(() => null);
          if (st) yield { key, size: st.size, lastModified: st.mtime };
        }
      }
    };
    yield* walk.call(this, start);
  }

  /**
   * Temp files of writers that are gone (or started before `before`) in the temp directory; with
   * `everywhere`, also those beside objects (older versions) and empty backup directories, which walks
   * the whole repository.
   */
  private async sweep(o: {
    remove: boolean;
    before?: Date;
    everywhere?: boolean;
  }): Promise<{ paths: string[]; bytes: number }> {
    const out = { paths: [] as string[], bytes: 0 };
    const now = Date.now();
    const tmpDir = join(this.root, TMP_DIR);
    const own = await this.ownTempDir();
    const walk = async (dir: string, depth: number, deep: boolean): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const d of entries) {
        const abs = join(dir, d.name);
        if (d.isDirectory()) {
          if (deep && abs !== tmpDir) await walk(abs, depth + 1, deep);
        } else if (d.isFile() && d.name.startsWith(TMP_MARK)) {
          const st = await fsp.stat(abs).catch(() => null);
          if (!st || !(isOrphan(d.name, TMP_MARK, st.mtime, now) || (o.before && st.mtime < o.before))) continue;
          if (
            o.remove &&
            (await fsp.unlink(abs).then(
              () => false,
              () => true,
            ))
          )
            continue;
          out.paths.push(relative(this.root, abs).split(sep).join("/"));
          out.bytes += st.size;
        }
      }
      // backups/<id>/ left empty by a kill before its first object, or by a prune of an older version
      if (o.remove && deep && depth === 2 && relative(this.root, dir).startsWith("backups")) {
        const st = await fsp.stat(dir).catch(() => null);
        if (st && now - st.mtime.getTime() > EMPTY_DIR_AGE_MS) await fsp.rmdir(dir).catch(() => {});
      }
    };
    if (own) await walk(own, 1, false);
    if (o.everywhere) await walk(this.root, 0, true);
    return out;
  }

  async abortStaleUploads(before: Date): Promise<string[]> {
    return (await this.sweep({ remove: true, before, everywhere: true })).paths;
  }

  async leftovers(o: { remove: boolean; everywhere?: boolean }): Promise<{ count: number; bytes: number }> {
    const r = await this.sweep(o);
    return { count: r.paths.length, bytes: r.bytes };
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await fsp.unlink(join(this.root, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw wrapError(err, "STORE", `${this.description}: deleting ${key}`);
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

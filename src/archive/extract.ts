import { createHash } from "node:crypto";
import { closeSync, constants, createReadStream, fchmodSync, fchownSync, futimesSync, lstatSync, openSync, promises as fsp, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import { ArchiveNames } from "./archive-names.js";
import type { TarEntry } from "./tar-header.js";
import { readTar, type EntrySink } from "./tar-read.js";
import { walkTree } from "./walk.js";

export interface ExtractedFile {
  path: string;
  type: TarEntry["type"];
  size: number;
  sha256?: string;
}

export interface ExtractOptions {
  /** Called for every entry once its content is written, with the hash of what was written. */
  onEntry?: (e: ExtractedFile) => void;
  onBytes?: (n: number) => void;
  warn: (msg: string) => void;
  /** Restore owners (only possible as root). */
  chown?: boolean;
  /** Keep setuid/setgid bits; by default they are stripped, since a forged archive could plant a setuid root binary. */
  keepSetuid?: boolean;
  /** Differentials: false leaves an entry out (its bytes are still read, never written). */
  filter?: (e: TarEntry) => boolean;
  /** Differentials: false once a file is written (e.g. its hash is not the manifest's) removes it again. */
  keep?: (f: ExtractedFile) => boolean;
  /** Differentials: each directory's GNU dumpdir ("" is the source's root, the archive's "./"). */
  onDumpdir?: (dir: string, dumpdir: string) => void;
}

/** The "./" entry a differential starts with: the source's root, never created, only its dumpdir read. */
function isRootEntry(e: TarEntry): boolean {
  return e.type === "dir" && e.path.split("/").every((p) => p === "" || p === ".");
}

/** Routes an entry's dumpdir; true for the root entry, with which nothing else is done. */
function handled(e: TarEntry, rel: string | undefined, o: Pick<ExtractOptions, "onDumpdir">): boolean {
  if (e.type === "dir" && e.dumpdir !== undefined) o.onDumpdir?.(rel ?? "", e.dumpdir);
  return rel === undefined;
}

/** setuid and setgid; the sticky bit stays (it only limits who may delete). */
const SUID_SGID = 0o6000;

/** Errors that say the restore target, not the archive, is at fault: those stay exit 1. */
const TARGET_ERRORS = new Set(["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE", "ENFILE", "EBUSY"]);

/** A low-level failure while restoring one entry, as an error that names the entry. */
function entryError(err: unknown, rel: string): StrongboxError {
  if (err instanceof StrongboxError) return err;
  const e = err as NodeJS.ErrnoException;
  const what = `${quoteName(rel)}: ${e?.code ?? "error"}: ${String(e?.message ?? err).split("\n")[0]}`;
  return TARGET_ERRORS.has(e?.code ?? "")
    ? new StrongboxError("SOURCE", `cannot write the restore target at ${what}`, { cause: err })
    : new StrongboxError("VERIFY", `archive entry ${what}`, { cause: err });
}

const SMALL_FILE = 256 * 1024;

/** PAX mtimes are decimal seconds ("1700000000.123456789"); utimes takes seconds as a number. */
function toSeconds(mtime: string): number {
  return Number(mtime);
}

/** Small files are collected whole and written with synchronous calls (see tar-pack.ts for why). */
function smallFileSink(rel: string, abs: string, e: TarEntry, chown: boolean, o: ExtractOptions): EntrySink {
  const chunks: Buffer[] = [];
  return {
    write(chunk) {
      chunks.push(chunk);
    },
    end() {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        let off = 0;
        while (off < body.length) off += writeSync(fd, body, off, body.length - off);
        if (chown) {
          try {
            fchownSync(fd, e.uid, e.gid);
          } catch {
            // not permitted: keep the restoring user's ownership
          }
        }
        fchmodSync(fd, e.mode);
        const t = toSeconds(e.mtime);
        futimesSync(fd, t, t);
      } finally {
        closeSync(fd);
      }
      o.onBytes?.(body.length);
      const f: ExtractedFile = { path: rel, type: "file", size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
      if (o.keep && !o.keep(f)) unlinkSync(abs);
      else o.onEntry?.(f);
    },
  };
}

/** Every failure while writing an entry's body names the entry. */
function guardSink(sink: EntrySink, rel: string): EntrySink {
  return {
    async write(chunk) {
      try {
        await sink.write(chunk);
      } catch (err) {
        throw entryError(err, rel);
      }
    },
    async end() {
      try {
        await sink.end();
      } catch (err) {
        throw entryError(err, rel);
      }
    },
  };
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;


/**
 * Extracts a tar stream into `root` and never writes outside it: unsafe names are refused, and no
 * entry is ever written through a symlink (every parent directory is checked, including ones
 * that existed before). Files are created with O_EXCL|O_NOFOLLOW; an existing file is replaced
 * only by unlinking it first, never by writing through it.
 */
export async function extractTar(source: AsyncIterable<Buffer>, root: string, o: ExtractOptions): Promise<void> {
  const safeDirs = new Set<string>([""]);
  const dirTimes: { rel: string; abs: string; mode: number; mtime: number }[] = [];
  const names = new ArchiveNames();
  const chown = o.chown ?? isRoot;

  /** Makes `rel` and its missing parents, outermost first; a loop, so any depth is fine. */
  async function ensureDir(rel: string): Promise<void> {
    const chain: string[] = [];
    for (let d = rel; !safeDirs.has(d); d = d.includes("/") ? dirname(d) : "") chain.push(d);
    for (const dir of chain.reverse()) {
      const abs = join(root, dir);
      try {
        const st = await fsp.lstat(abs);
        if (st.isSymbolicLink()) throw new StrongboxError("VERIFY", `refusing to restore through a symlink: ${quoteName(dir)}`);
        if (!st.isDirectory()) throw new StrongboxError("SOURCE", `cannot restore: ${quoteName(dir)} exists and is not a directory`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        await fsp.mkdir(abs, { mode: 0o700 });
      }
      safeDirs.add(dir);
    }
  }

  function clearSlot(rel: string, abs: string): void {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) throw new StrongboxError("SOURCE", `cannot restore ${rel}: a directory is in the way`);
    unlinkSync(abs);
  }

  await readTar(
    source,
    async (entry): Promise<EntrySink | null> => {
      const rel = isRootEntry(entry) ? undefined : names.admit(entry.path, entry.type);
      if (handled(entry, rel, o) || rel === undefined) return null;
      if (o.filter && !o.filter({ ...entry, path: rel })) return null;
      const e = o.keepSetuid ? entry : { ...entry, mode: entry.mode & ~SUID_SGID };
      if (e.mode !== entry.mode) o.warn(`${quoteName(rel)}: setuid/setgid bits not restored (mode ${entry.mode.toString(8)}; --keep-setuid keeps them)`);
      try {
        const sink = await restoreEntry(rel, e);
        return sink && guardSink(sink, rel);
      } catch (err) {
        throw entryError(err, rel);
      }
    },
  );
  // Directories last, deepest first: writing their contents changed their mtimes.
  for (const d of dirTimes.reverse()) {
    try {
      await fsp.chmod(d.abs, d.mode);
      await fsp.utimes(d.abs, d.mtime, d.mtime);
    } catch (err) {
      throw entryError(err, d.rel);
    }
  }

  async function restoreEntry(rel: string, e: TarEntry): Promise<EntrySink | null> {
    const parent = rel.includes("/") ? dirname(rel) : "";
    await ensureDir(parent);
    const abs = join(root, rel);
    const mtime = toSeconds(e.mtime);
    if (e.type === "dir") {
      await ensureDir(rel);
      dirTimes.push({ rel, abs, mode: e.mode, mtime });
      if (chown) await fsp.lchown(abs, e.uid, e.gid).catch(() => {});
      o.onEntry?.({ path: rel, type: "dir", size: 0 });
      return null;
    }
    clearSlot(rel, abs);
    if (e.type === "symlink") {
      if (!e.linkname) throw new StrongboxError("VERIFY", "symlink with an empty target");
      if (e.linkname.includes("\0")) throw new StrongboxError("VERIFY", "symlink target with a NUL byte");
      await fsp.symlink(e.linkname, abs);
      if (chown) await fsp.lchown(abs, e.uid, e.gid).catch(() => {});
      await fsp.lutimes(abs, mtime, mtime).catch(() => {});
      o.onEntry?.({ path: rel, type: "symlink", size: 0 });
      return null;
    }
    if (e.size <= SMALL_FILE) return smallFileSink(rel, abs, e, chown, o);
    const fh = await fsp.open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const hash = createHash("sha256");
    let written = 0;
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async () => {
      if (batch.length) await fh.writev(batch);
      batch = [];
      batched = 0;
    };
    return {
      async write(chunk) {
        hash.update(chunk);
        written += chunk.length;
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= 1024 * 1024) await flush();
        o.onBytes?.(chunk.length);
      },
      async end() {
        try {
          await flush();
          if (chown) await fh.chown(e.uid, e.gid).catch(() => {});
          await fh.chmod(e.mode);
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        const f: ExtractedFile = { path: rel, type: "file", size: written, sha256: hash.digest("hex") };
        if (o.keep && !o.keep(f)) await fsp.unlink(abs);
        else o.onEntry?.(f);
      },
    };
  }
}

/** Reads a tar stream without writing anything, reporting each entry with the hash of its content. */
export async function scanTar(source: AsyncIterable<Buffer>, o: Omit<ExtractOptions, "chown">): Promise<void> {
  const names = new ArchiveNames();
  await readTar(
    source,
    async (e) => {
      const rel = isRootEntry(e) ? undefined : names.admit(e.path, e.type);
      if (handled(e, rel, o) || rel === undefined) return null;
      if (o.filter && !o.filter({ ...e, path: rel })) return null;
      if (e.type !== "file") {
        o.onEntry?.({ path: rel, type: e.type, size: 0 });
        return null;
      }
      const hash = createHash("sha256");
      let size = 0;
      return {
        write(chunk) {
          hash.update(chunk);
          size += chunk.length;
          o.onBytes?.(chunk.length);
        },
        end() {
          const f: ExtractedFile = { path: rel, type: "file", size, sha256: hash.digest("hex") };
          if (!o.keep || o.keep(f)) o.onEntry?.(f);
        },
      };
    },
  );
}

/** Hashes a directory tree as it is on disk, for comparing a restored tree with its manifest. */
export async function scanDirectory(root: string): Promise<ExtractedFile[]> {
  const out: ExtractedFile[] = [];
  for (const e of await walkTree(root, { exclude: () => false, warn: () => {} })) {
    if (e.type !== "file") {
      out.push({ path: e.path, type: e.type, size: 0 });
      continue;
    }
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(join(root, e.path), { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    out.push({ path: e.path, type: "file", size, sha256: hash.digest("hex") });
  }
  return out;
}

import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lstatSync,
  openSync,
  promises as fsp,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { describeError, StrongboxError } from "../errors.js";
import { describeSystemError } from "../system-error.js";
import { quoteName, quoteShort } from "../terminal-safe.js";
import type { TarEntry } from "./tar-header.js";
import type { EntrySink } from "./tar-read.js";
import { nullSink, readTree, type ExtractedFile, type TreeSink } from "./tree-pass.js";
import { walkTree } from "./walk.js";

export type { ExtractedFile } from "./tree-pass.js";

export interface ExtractOptions {
  /** Called for every entry once its content is written, with the hash of what was written. */
  onEntry?: (e: ExtractedFile) => void;
  onBytes?: (n: number) => void;
  warn: (msg: string) => void;
  /** Restore owners (only possible as root). */
  chown?: boolean;
  /** Keep setuid/setgid bits; by default they are stripped, since a forged archive could plant a setuid root binary. */
  keepSetuid?: boolean;
}

/** setuid and setgid; the sticky bit stays (it only limits who may delete). */
const SUID_SGID = 0o6000;

/** Errors that say the restore target, not the archive, is at fault: those stay exit 1. */
const TARGET_ERRORS = new Set(["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE", "ENFILE", "EBUSY"]);

/**
 * A low-level failure while restoring one entry, as an error that names the entry; a fault of the
 * target says what was done to which path on disk (`abs`, when the error itself names none).
 */
function entryError(err: unknown, rel: string, abs?: string): StrongboxError {
  if (err instanceof StrongboxError) return err;
  const e = err as NodeJS.ErrnoException;
  // The archive's names are bounded (archive-names.ts: 4,096 bytes, 255 a component), so a name too
  // long here is the target's: its own path and the entry's together pass the kernel's limit.
  if (e?.code === "ENAMETOOLONG")
    return new StrongboxError(
      "SOURCE",
      `cannot write the restore target at ${quoteShort(rel)}: the path on disk is too long (ENAMETOOLONG); restore into a directory with a shorter path`,
      { cause: err },
    );
  return TARGET_ERRORS.has(e?.code ?? "")
    ? new StrongboxError(
        "SOURCE",
        `cannot write the restore target at ${quoteName(rel)}: ${describeSystemError(e, e.path || !abs ? {} : { path: abs })}`,
        { cause: err },
      )
    : new StrongboxError("VERIFY", `archive entry ${quoteName(rel)}: ${describeError(err)}`, { cause: err });
}

const SMALL_FILE = 256 * 1024;

/**
 * PAX mtimes are decimal seconds with up to nine digits ("1700000000.123456789"). Node sets times
 * only from seconds as a double (utimes, futimes, lutimes: no nanosecond or bigint form, see
 * nodejs/node#50859; libuv truncates the double to a timespec), so the nearest double, which
 * Number() gives, is as close as a restore can get: between 2^30 and 2^31 s (2004 to 2038) doubles
 * are 2^-22 s (238 ns) apart, so a restored mtime is within 120 ns of the recorded one; from 2038
 * to 2106, within 240 ns. The archive keeps all nine digits (GNU tar restores them exactly).
 */
export function toSeconds(mtime: string): FsTime {
  const t = Number(mtime);
  // Node sets a negative number of seconds as "now" (fs's toUnixTimestamp); the same value as a
  // string it sets as it is. So a time before 1970 goes as its decimal text.
  return t < 0 ? mtime : t;
}

/** Seconds as utimes takes them: a number, or decimal text (before 1970). */
export type FsTime = number | string;

/** Small files are collected whole and written with synchronous calls (see tar-pack.ts for why). */
function smallFileSink(abs: string, e: TarEntry, chown: boolean): EntrySink {
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
    },
  };
}

/** Every failure while writing an entry's body names the entry (and its path on disk). */
function guardSink(sink: EntrySink, rel: string, abs: string): EntrySink {
  return {
    async write(chunk) {
      try {
        await sink.write(chunk);
      } catch (err) {
        throw entryError(err, rel, abs);
      }
    },
    async end() {
      try {
        await sink.end();
      } catch (err) {
        throw entryError(err, rel, abs);
      }
    },
  };
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * The sink that writes a tree into `root` and never outside it: no entry is ever written through a
 * symlink (every parent directory is checked, including ones that existed before). Files are
 * created with O_EXCL|O_NOFOLLOW; an existing file is replaced only by unlinking it first, never by
 * writing through it. Every check of the archive is made before (tree-pass.ts): this only writes.
 */
export function diskSink(root: string, o: Pick<ExtractOptions, "warn" | "chown" | "keepSetuid">): TreeSink {
  const safeDirs = new Set<string>([""]);
  /** Directories' modes and times, set at the end; the root (its mtime only: its mode is the restore target's) comes first, so is set last. */
  const dirTimes: { rel: string; abs: string; mode?: number; mtime: FsTime }[] = [];
  const chown = o.chown ?? isRoot;

  /** Makes `rel` and its missing parents, outermost first; a loop, so any depth is fine. */
  async function ensureDir(rel: string): Promise<void> {
    const chain: string[] = [];
    for (let d = rel; !safeDirs.has(d); d = d.includes("/") ? dirname(d) : "") chain.push(d);
    for (const dir of chain.reverse()) {
      const abs = join(root, dir);
      try {
        const st = await fsp.lstat(abs);
        if (st.isSymbolicLink())
          throw new StrongboxError("VERIFY", `refusing to restore through a symlink: ${quoteName(dir)}`);
        if (!st.isDirectory())
          throw new StrongboxError("SOURCE", `cannot restore: ${quoteName(dir)} exists and is not a directory`);
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

  /** Every failure names the entry. */
  async function guarded<T>(rel: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw entryError(err, rel, join(root, rel));
    }
  }

  function stripped(rel: string, entry: TarEntry): TarEntry {
    const e = o.keepSetuid ? entry : { ...entry, mode: entry.mode & ~SUID_SGID };
    if (e.mode !== entry.mode)
      o.warn(
        `${quoteName(rel)}: setuid/setgid bits not restored (mode ${entry.mode.toString(8)}; --keep-setuid keeps them)`,
      );
    return e;
  }

  /** The entry's parent (made if missing), its path on disk and mtime. */
  async function slot(rel: string, e: TarEntry): Promise<{ abs: string; mtime: FsTime }> {
    await ensureDir(rel.includes("/") ? dirname(rel) : "");
    return { abs: join(root, rel), mtime: toSeconds(e.mtime) };
  }

  return {
    root: async (e) => {
      dirTimes.push({ rel: ".", abs: root, mtime: toSeconds(e.mtime) });
    },
    dir: (rel, entry) =>
      guarded(rel, async () => {
        const e = stripped(rel, entry);
        const { abs, mtime } = await slot(rel, e);
        await ensureDir(rel);
        dirTimes.push({ rel, abs, mode: e.mode, mtime });
        if (chown) await fsp.lchown(abs, e.uid, e.gid).catch(() => {});
      }),
    symlink: (rel, e) =>
      guarded(rel, async () => {
        const { abs, mtime } = await slot(rel, e);
        clearSlot(rel, abs);
        await fsp.symlink(e.linkname!, abs);
        if (chown) await fsp.lchown(abs, e.uid, e.gid).catch(() => {});
        await fsp.lutimes(abs, mtime, mtime).catch(() => {});
      }),
    file: (rel, entry) =>
      guarded(rel, async () => {
        const e = stripped(rel, entry);
        const { abs, mtime } = await slot(rel, e);
        clearSlot(rel, abs);
        if (e.size <= SMALL_FILE) return guardSink(smallFileSink(abs, e, chown), rel, abs);
        const fh = await fsp.open(
          abs,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        let batch: Buffer[] = [];
        let batched = 0;
        const flush = async () => {
          if (batch.length) await fh.writev(batch);
          batch = [];
          batched = 0;
        };
        return guardSink(
          {
            async write(chunk) {
              batch.push(chunk);
              batched += chunk.length;
              if (batched >= 1024 * 1024) await flush();
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
            },
          },
          rel,
          abs,
        );
      }),
    async finish() {
      // Directories last, deepest first: writing their contents changed their mtimes.
      for (const d of dirTimes.reverse()) {
        try {
          if (d.mode !== undefined) await fsp.chmod(d.abs, d.mode);
          await fsp.utimes(d.abs, d.mtime, d.mtime);
        } catch (err) {
          throw entryError(err, d.rel, d.abs);
        }
      }
    },
  };
}

/** Extracts a tar stream (a full, no manifest) into `root`: the shared pass with the disk sink. */
export async function extractTar(source: AsyncIterable<Buffer>, root: string, o: ExtractOptions): Promise<void> {
  await readTree({ archive: source, sink: diskSink(root, o), onEntry: o.onEntry, onBytes: o.onBytes });
}

/** Reads a tar stream without writing anything: the same pass with the null sink. */
export async function scanTar(
  source: AsyncIterable<Buffer>,
  o: Omit<ExtractOptions, "chown" | "keepSetuid">,
): Promise<void> {
  await readTree({ archive: source, sink: nullSink, onEntry: o.onEntry, onBytes: o.onBytes });
}

/** Hashes a directory tree as it is on disk, for comparing a restored tree with its manifest. */
export async function scanDirectory(root: string): Promise<ExtractedFile[]> {
  const out: ExtractedFile[] = [];
  for (const e of await walkTree(root, { exclude: () => false, warn: () => {} })) {
    if (e.type !== "file") {
      out.push({ path: e.path, type: e.type, size: 0, ...(e.type === "symlink" ? { target: e.linkname } : {}) });
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

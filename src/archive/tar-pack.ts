import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarEntry } from "./tar-header.js";
import { mtimeString, type WalkEntry } from "./walk.js";

export interface ManifestEntry {
  path: string;
  type: "file" | "dir" | "symlink";
  size: number;
  mode: number;
  mtime: string;
  sha256?: string;
  target?: string;
}

/** What a differential compares besides size and mtime: a file rewritten in place changes its ctime. */
export interface FileIdentity {
  ino: string;
  ctime: string;
}

const identity = (st: { ino: bigint; ctimeNs: bigint }): FileIdentity => ({ ino: String(st.ino), ctime: String(st.ctimeNs) });

/** A differential (GNU incremental) archive: directories carry dumpdirs, unchanged files are left out. */
export interface DifferentialPack {
  /** The source's root directory, written first as "./" with the root's dumpdir. */
  root: TarEntry;
  dumpdirs: Map<string, string>;
  unchanged: Map<string, ManifestEntry>;
}

const READ_SIZE = 1024 * 1024;
const SMALL_FILE = 256 * 1024;
/** Headers and small files leave in pieces of at least this size: one stream write per file costs more than the file. */
const OUT_BATCH = 512 * 1024;

/** Gathers small pieces of the archive; a piece of OUT_BATCH or more passes without a copy. */
class OutBatch {
  private parts: Buffer[] = [];
  private length = 0;
  add(b: Buffer): Buffer[] {
    if (b.length >= OUT_BATCH) return [...this.take(), b];
    this.parts.push(b);
    this.length += b.length;
    return this.length >= OUT_BATCH ? this.take() : [];
  }
  take(): Buffer[] {
    if (!this.length) return [];
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return [out];
  }
}

const cannotOpen = (path: string, code: string | undefined) =>
  code === "ENOENT" ? `${path}: vanished before it could be read` : `${path}: cannot open (${code}), not backed up`;
const replaced = (path: string) => `${path}: replaced by something else while backing up, not backed up`;

/**
 * Reads a small file whole (header + padded body) with synchronous calls.
 * undefined: skipped (reported); null: no longer small, let the streaming path handle it.
 */
function readSmallFile(root: string, e: WalkEntry, warn: (m: string) => void): { header: Buffer; body: Buffer; entry: ManifestEntry; stat: FileIdentity } | null | undefined {
  let fd: number;
  try {
    fd = openSync(join(root, e.path), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    warn(cannotOpen(e.path, code));
    return undefined;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) {
      warn(replaced(e.path));
      return undefined;
    }
    const size = Number(st.size);
    if (size > SMALL_FILE) return null;
    const padded = size + paddingFor(size).length;
    const body = Buffer.alloc(padded);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, body, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done < size) warn(`${e.path}: shrank while being read; archived zero-padded to ${size} bytes`);
    else if (readSync(fd, Buffer.alloc(1), 0, 1, size) > 0) warn(`${e.path}: changed while being read; the archived copy may be inconsistent`);
    const mtime = mtimeString(st);
    const mode = Number(st.mode & 0o7777n);
    const entry: ManifestEntry = { path: e.path, type: "file", size, mode, mtime, sha256: createHash("sha256").update(body.subarray(0, size)).digest("hex") };
    return { header: encodeHeader({ ...e, size, mtime, mode }), body, entry, stat: identity(st) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams a tar of the listed entries. Each file is read once: its bytes go to the archive and
 * to its SHA-256 together. A file that shrinks, grows or changes while being read is archived at
 * the size its header announced (zero-padded if it shrank) and reported through `warn`, so the
 * archive itself is never malformed. A file that vanished is left out and reported.
 */
export function packTar(
  root: string,
  entries: Iterable<WalkEntry>,
  o: {
    warn: (msg: string) => void;
    /** Every entry of the tree, in order; `stat` is the identity of the file as it was read. */
    onEntry: (e: ManifestEntry, stat?: FileIdentity) => void;
    onBytes?: (n: number) => void;
    diff?: DifferentialPack;
  },
): Readable {
  const diff = o.diff;
  async function* generate(): AsyncGenerator<Buffer> {
    const out = new OutBatch();
    if (diff) yield* out.add(encodeHeader({ ...diff.root, path: ".", type: "dir", size: 0, dumpdir: diff.dumpdirs.get("") }));
    for (const e of entries) {
      const same = diff?.unchanged.get(e.path);
      if (same) {
        o.onEntry(same);
        continue;
      }
      if (e.type !== "file") {
        yield* out.add(encodeHeader(e.type === "dir" && diff ? { ...e, dumpdir: diff.dumpdirs.get(e.path) ?? "\0" } : e));
        const stat = e.type === "symlink" && e.ino !== undefined && e.ctime !== undefined ? { ino: e.ino, ctime: e.ctime } : undefined;
        o.onEntry({ path: e.path, type: e.type, size: 0, mode: e.mode, mtime: e.mtime, ...(e.linkname !== undefined ? { target: e.linkname } : {}) }, stat);
        continue;
      }
      if (e.size <= SMALL_FILE) {
        // Small files are read with synchronous calls: on 20,000 files the thread-pool round
        // trips of async open/fstat/read/close cost more than the reads themselves.
        const small = readSmallFile(root, e, o.warn);
        if (small === undefined) continue;
        if (small !== null) {
          yield* out.add(small.header);
          if (small.body.length) yield* out.add(small.body);
          o.onBytes?.(small.entry.size);
          o.onEntry(small.entry, small.stat);
          continue;
        }
      }
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(join(root, e.path), constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        o.warn(cannotOpen(e.path, code));
        continue;
      }
      try {
        const st = await fh.stat({ bigint: true });
        if (!st.isFile()) {
          o.warn(replaced(e.path));
          continue;
        }
        const size = Number(st.size);
        const mtime = mtimeString(st);
        const entry = { ...e, size, mtime, mode: Number(st.mode & 0o7777n) };
        yield* out.add(encodeHeader(entry));
        const hash = createHash("sha256");
        let done = 0;
        while (done < size) {
          const want = Math.min(READ_SIZE, size - done);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, done);
          if (bytesRead === 0) {
            o.warn(`${e.path}: shrank while being read; archived zero-padded to ${size} bytes`);
            const zeros = Buffer.alloc(size - done);
            hash.update(zeros);
            yield* out.add(zeros);
            done = size;
            break;
          }
          const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
          hash.update(chunk);
          done += bytesRead;
          o.onBytes?.(bytesRead);
          yield* out.add(chunk);
        }
        const after = await fh.stat({ bigint: true });
        if (after.size !== st.size || after.mtimeNs !== st.mtimeNs) o.warn(`${e.path}: changed while being read; the archived copy may be inconsistent`);
        const padding = paddingFor(size);
        if (padding.length) yield* out.add(padding);
        o.onEntry({ path: e.path, type: "file", size, mode: entry.mode, mtime, sha256: hash.digest("hex") }, identity(st));
      } finally {
        await fh.close();
      }
    }
    yield* out.add(END_OF_ARCHIVE);
    yield* out.take();
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: 4 * READ_SIZE });
}

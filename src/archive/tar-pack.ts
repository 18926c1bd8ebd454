import { createHash, hash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync } from "node:fs";
import { BLOCK, blockPool } from "../codecs/block-pool.js";
import { Readable } from "node:stream";
import {
  blocksFor,
  encodeHeader,
  END_OF_ARCHIVE,
  paddingFor,
  planHeader,
  writeHeader,
  type TarEntry,
} from "./tar-header.js";
import {
  dirPrefix,
  mtimeInRange,
  mtimeString,
  outOfRange,
  replaced,
  vanished,
  type WalkEntry,
  type Warn,
} from "./walk.js";

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

const identity = (st: { ino: bigint; ctimeNs: bigint }): FileIdentity => ({
  ino: String(st.ino),
  ctime: String(st.ctimeNs),
});

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
/** The batch's buffer: room for a small file past OUT_BATCH, so most slabs leave without a copy. */
const SLAB = OUT_BATCH + 320 * 1024;

/**
 * Gathers small pieces of the archive into slabs of at least OUT_BATCH bytes; a piece of OUT_BATCH
 * or more passes without a copy. Small files and headers are written straight into the slab
 * (`room`, then `commit`), so a file costs no buffer of its own. A slab once sent is never written again.
 */
class OutBatch {
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;
  add(b: Buffer): Buffer[] {
    if (b.length >= OUT_BATCH) return [...this.take(), b];
    const out = this.room(b.length);
    b.copy(this.slab, this.used);
    this.used += b.length;
    return this.used >= OUT_BATCH ? [...out, ...this.take()] : out;
  }
  /** Makes room for n bytes at `at()` (sending the slab if it is too full); `commit` then counts them. */
  room(n: number): Buffer[] {
    if (this.used + n <= this.slab.length) return [];
    const out = this.take();
    if (n > this.slab.length) this.slab = Buffer.allocUnsafe(n);
    return out;
  }
  get buffer(): Buffer {
    return this.slab;
  }
  at(): number {
    return this.used;
  }
  commit(n: number): Buffer[] {
    this.used += n;
    return this.used >= OUT_BATCH ? this.take() : [];
  }
  take(): Buffer[] {
    if (!this.used) return [];
    const out = this.slab.subarray(0, this.used);
    this.slab = Buffer.allocUnsafe(SLAB);
    this.used = 0;
    return [out];
  }
}

const cannotOpen = (path: string, code: string | undefined) =>
  code === "ENOENT" ? vanished(path) : `${path}: cannot open (${code}), not backed up`;
/**
 * A file that could not be opened: vanished (ENOENT, a deletion: no data lost), replaced by a symlink
 * since it was listed (ELOOP, from O_NOFOLLOW: reported as replaced, as a directory or FIFO is), or unreadable.
 */
function warnOpen(warn: Warn, path: string, code: string | undefined): void {
  if (code === "ELOOP") warn(replaced(path), { kind: "changed", path });
  else warn(cannotOpen(path, code), code === "ENOENT" ? undefined : { kind: "unreadable", path });
}

/** An opened file that is no longer a regular file, or whose mtime a backup cannot hold: reported, left out. */
function notArchivable(st: { isFile(): boolean; mtimeNs: bigint }, path: string, warn: Warn): boolean {
  if (!st.isFile()) warn(replaced(path), { kind: "changed", path });
  else if (!mtimeInRange(st)) warn(outOfRange(path), { kind: "unreadable", path });
  else return false;
  return true;
}

/**
 * How a listed file is opened: never through a symlink in its last component (a directory on its
 * path swapped for a symlink since the walk is followed, as in any reader of a live tree), and
 * without waiting: a FIFO put in its place
 * since it was listed would block open() until a writer came (O_NONBLOCK has no effect on a regular
 * file; fstat then sees the FIFO and it is reported as replaced).
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const shrank = (path: string, size: number) =>
  `${path}: shrank while being read; archived zero-padded to ${size} bytes`;
const changedWhileRead = (path: string) => `${path}: changed while being read; the archived copy may be inconsistent`;

/**
 * Archives a small file whole (header + padded body, straight into the batch) with synchronous calls.
 * undefined: skipped (reported); null: no longer small, let the streaming path handle it.
 */
function packSmallFile(
  abs: string,
  e: WalkEntry,
  out: OutBatch,
  warn: Warn,
): { pieces: Buffer[]; entry: ManifestEntry; stat: FileIdentity } | null | undefined {
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch (err) {
    warnOpen(warn, e.path, (err as NodeJS.ErrnoException).code);
    return undefined;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (notArchivable(st, e.path, warn)) return undefined;
    const size = Number(st.size);
    if (size > SMALL_FILE) return null;
    const mtime = mtimeString(st);
    const mode = Number(st.mode & 0o7777n);
    const plan = planHeader({ ...e, size, mtime, mode });
    const padded = blocksFor(size);
    // One byte more than the file: a read that fills it means the file grew since fstat.
    const pieces = out.room(plan.length + padded + 1);
    const buf = out.buffer;
    const at = out.at();
    writeHeader(buf, at, plan);
    const body = at + plan.length;
    // One read, as a rule: a regular file's read returns less than asked only at its end, so
    // `size` bytes back means the file ends where fstat said; `size + 1` means it grew.
    let done = 0;
    for (;;) {
      const n = readSync(fd, buf, body + done, size + 1 - done, done);
      done += n;
      if (n === 0 || done >= size) break;
    }
    if (done < size) warn(shrank(e.path, size), { kind: "changed", path: e.path });
    else if (done > size) warn(changedWhileRead(e.path), { kind: "changed", path: e.path });
    buf.fill(0, body + Math.min(done, size), body + padded);
    const entry: ManifestEntry = {
      path: e.path,
      type: "file",
      size,
      mode,
      mtime,
      sha256: hash("sha256", buf.subarray(body, body + size), "hex"),
    };
    pieces.push(...out.commit(plan.length + padded));
    return { pieces, entry, stat: identity(st) };
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
    warn: Warn;
    /** Called once every entry is archived, before the archive's end: a throw fails the archive (nothing is stored). */
    beforeEnd?: () => void;
    /** Every entry of the tree, in order; `stat` is the identity of the file as it was read. */
    onEntry: (e: ManifestEntry, stat?: FileIdentity) => void;
    onBytes?: (n: number) => void;
    diff?: DifferentialPack;
    /** A full: the source's root directory, written first as "./" so that a restore can set its mtime (a differential has diff.root). */
    root?: TarEntry;
  },
): Readable {
  const diff = o.diff;
  const prefix = dirPrefix(root);
  // Pieces are yielded one by one, never with `yield*` over an array: destroying the stream with an
  // error (a full disk downstream) throws into this generator, and an array's iterator has no
  // throw(), so the error would become "The iterator does not provide a 'throw' method".
  async function* generate(): AsyncGenerator<Buffer> {
    const out = new OutBatch();
    const root = diff?.root ?? o.root;
    if (root)
      for (const piece of out.add(
        encodeHeader({ ...root, path: ".", type: "dir", size: 0, ...(diff ? { dumpdir: diff.dumpdirs.get("") } : {}) }),
      ))
        yield piece;
    for (const e of entries) {
      const same = diff?.unchanged.get(e.path);
      if (same) {
        o.onEntry(same);
        continue;
      }
      if (e.type !== "file") {
        for (const piece of out.add(
          encodeHeader(e.type === "dir" && diff ? { ...e, dumpdir: diff.dumpdirs.get(e.path) ?? "\0" } : e),
        ))
          yield piece;
        const stat =
          e.type === "symlink" && e.ino !== undefined && e.ctime !== undefined
            ? { ino: e.ino, ctime: e.ctime }
            : undefined;
        o.onEntry(
          {
            path: e.path,
            type: e.type,
            size: 0,
            mode: e.mode,
            mtime: e.mtime,
            ...(e.linkname !== undefined ? { target: e.linkname } : {}),
          },
          stat,
        );
        continue;
      }
      if (e.size <= SMALL_FILE) {
        // Small files are read with synchronous calls: on 20,000 files the thread-pool round
        // trips of async open/fstat/read/close cost more than the reads themselves.
        const small = packSmallFile(prefix + e.path, e, out, o.warn);
        if (small === undefined) continue;
        if (small !== null) {
          for (const piece of small.pieces) yield piece;
          o.onBytes?.(small.entry.size);
          o.onEntry(small.entry, small.stat);
          continue;
        }
      }
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(prefix + e.path, OPEN_FLAGS);
      } catch (err) {
        warnOpen(o.warn, e.path, (err as NodeJS.ErrnoException).code);
        continue;
      }
      try {
        const st = await fh.stat({ bigint: true });
        if (notArchivable(st, e.path, o.warn)) continue;
        const size = Number(st.size);
        const mtime = mtimeString(st);
        const entry = { ...e, size, mtime, mode: Number(st.mode & 0o7777n) };
        for (const piece of out.add(encodeHeader(entry))) yield piece;
        const hash = createHash("sha256");
        let done = 0;
        let shrunk = false;
        while (done < size) {
          // A whole pooled block where the file still has one (handed on whole: the compressor gives
          // it back when zstd is done with it); otherwise a buffer of its own.
          const pooled = size - done >= BLOCK;
          const want = pooled ? BLOCK : Math.min(READ_SIZE, size - done);
          let buf = pooled ? blockPool.take() : Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, done).catch((err: unknown) => {
            if (pooled) blockPool.give(buf);
            throw err;
          });
          if (pooled && bytesRead < want) {
            // Shorter than a block (the file shrank): its bytes in a buffer of their own, the block back.
            const own = Buffer.from(buf.subarray(0, bytesRead));
            blockPool.give(buf);
            buf = own;
          }
          if (bytesRead === 0) {
            o.warn(shrank(e.path, size), { kind: "changed", path: e.path });
            shrunk = true;
            const zeros = Buffer.alloc(size - done);
            hash.update(zeros);
            for (const piece of out.add(zeros)) yield piece;
            done = size;
            break;
          }
          const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          hash.update(chunk);
          done += bytesRead;
          o.onBytes?.(bytesRead);
          for (const piece of out.add(chunk)) yield piece;
        }
        const after = await fh.stat({ bigint: true });
        // Reported once: a file that shrank was already reported as changed.
        if ((after.size !== st.size || after.mtimeNs !== st.mtimeNs) && !shrunk)
          o.warn(changedWhileRead(e.path), { kind: "changed", path: e.path });
        const padding = paddingFor(size);
        if (padding.length) for (const piece of out.add(padding)) yield piece;
        o.onEntry(
          { path: e.path, type: "file", size, mode: entry.mode, mtime, sha256: hash.digest("hex") },
          identity(st),
        );
      } finally {
        await fh.close();
      }
    }
    o.beforeEnd?.();
    for (const piece of out.add(END_OF_ARCHIVE)) yield piece;
    for (const piece of out.take()) yield piece;
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: 4 * READ_SIZE });
}

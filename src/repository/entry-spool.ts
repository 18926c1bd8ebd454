import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StrongboxError } from "../errors.js";

/** Lines are gathered into blocks of this size before they are kept or written. */
const BLOCK = 256 * 1024;
/**
 * The longest line (in UTF-16 units; at most 3 bytes each in UTF-8) a spool takes: 256 KiB, far
 * below the 1 MiB read buffer, so a line always fits there. A real entry is a few hundred bytes
 * (a path and a link target of at most 4,096 characters each: < 50 KB even fully escaped).
 */
export const MAX_LINE_CHARS = Math.floor((256 * 1024) / 3);
/** Up to this much stays in memory (about 40,000 manifest entries); beyond it, a temporary file. */
const MEMORY_LIMIT = 8 * 1024 * 1024;

const closer = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
});

/**
 * A list of records (a source's manifest entries, in tree order) written once and then read in
 * order, any number of times, as JSON lines. Small lists stay in memory; a large one (a tree of
 * millions of files) goes to a temporary file that is unlinked at once, so its space is freed
 * when the process ends however it ends, and memory stays bounded whatever the tree's size.
 */
export class EntrySpool<T> {
  length = 0;
  /** The block being filled: lines go straight into it, so no string outlives its record. */
  private current = Buffer.allocUnsafe(BLOCK);
  private used = 0;
  private blocks: Buffer[] = [];
  private fd: number | undefined;
  private fileBytes = 0;
  private memoryBytes = 0;

  constructor(private readonly memoryLimit = MEMORY_LIMIT) {}

  push(record: T): void {
    const line = `${JSON.stringify(record)}\n`;
    if (line.length > MAX_LINE_CHARS)
      throw new Error(`an entry of ${line.length} characters, more than an entry may hold (${MAX_LINE_CHARS})`);
    if (this.used + line.length * 3 > this.current.length) {
      this.cut();
      if (line.length * 3 > this.current.length) this.current = Buffer.allocUnsafe(line.length * 3);
    }
    this.used += this.current.write(line, this.used, "utf8");
    this.length++;
  }

  /** Every record, in the order pushed. */
  *[Symbol.iterator](): Generator<T> {
    for (const block of this.rawBlocks()) {
      let start = 0;
      for (let nl = block.indexOf(10); nl >= 0; nl = block.indexOf(10, start)) {
        yield JSON.parse(block.toString("utf8", start, nl)) as T;
        start = nl + 1;
      }
    }
  }

  toArray(): T[] {
    return [...this];
  }

  /** The records as the elements of a JSON array, comma-separated, without the brackets. */
  *jsonElements(): Generator<Buffer> {
    let held: Buffer | undefined;
    for (const block of this.rawBlocks()) {
      const out = Buffer.from(block);
      for (let nl = out.indexOf(10); nl >= 0; nl = out.indexOf(10, nl + 1)) out[nl] = 0x2c;
      if (held) yield held;
      held = out;
    }
    if (held) yield held.subarray(0, held.length - 1);
  }

  /** Frees the temporary file, if any. Reading afterwards is an error. */
  close(): void {
    if (this.fd === undefined) return;
    closer.unregister(this);
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Whole lines, in blocks (a line never straddles two); from a file, each block reuses one buffer. */
  private *rawBlocks(): Generator<Buffer> {
    this.cut();
    if (this.fd === -1) throw new Error("entry spool read after close");
    if (this.fd === undefined) {
      yield* this.blocks;
      return;
    }
    const buf = Buffer.allocUnsafe(BLOCK * 4);
    let pos = 0;
    let carry = 0;
    while (pos < this.fileBytes) {
      const n = readSync(this.fd, buf, carry, Math.min(buf.length - carry, this.fileBytes - pos), pos);
      if (n === 0) throw new Error("entry spool file shrank");
      pos += n;
      const end = carry + n;
      const last = buf.lastIndexOf(10, end - 1);
      if (last < 0) throw new Error("entry spool line longer than its read buffer");
      // Lines are far shorter than the buffer, so a full buffer always holds a newline. The view
      // is only good until the next block: readers copy what they keep (jsonElements does).
      yield buf.subarray(0, last + 1);
      buf.copy(buf, 0, last + 1, end);
      carry = end - last - 1;
    }
  }

  private cut(): void {
    if (!this.used) return;
    if (this.fd === undefined && this.memoryBytes + this.used > this.memoryLimit) this.toFile();
    if (this.fd !== undefined) {
      // Written at once: the block is filled again, so a large tree makes no garbage here.
      this.write(this.current.subarray(0, this.used));
      this.used = 0;
      return;
    }
    this.blocks.push(this.current.subarray(0, this.used));
    this.memoryBytes += this.used;
    this.current = Buffer.allocUnsafe(BLOCK);
    this.used = 0;
  }

  private toFile(): void {
    // A local failure (TMPDIR missing or not writable) is this host's, never the repository's.
    const local = (err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      return new StrongboxError(
        "SOURCE",
        `cannot keep the file list of a large tree in ${tmpdir()} (${e.code ?? e.message}): set TMPDIR to a writable directory with room`,
      );
    };
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), "strongbox-entries-"));
    } catch (err) {
      throw local(err);
    }
    const file = join(dir, "entries.jsonl");
    try {
      this.fd = openSync(file, "wx+", 0o600);
    } catch (err) {
      throw local(err);
    } finally {
      try {
        unlinkSync(file);
      } catch {
        // never created
      }
      rmdirSync(dir);
    }
    closer.register(this, this.fd, this);
    const held = this.blocks;
    this.blocks = [];
    this.memoryBytes = 0;
    for (const b of held) this.write(b);
  }

  private write(block: Buffer): void {
    try {
      for (let off = 0; off < block.length;)
        off += writeSync(this.fd!, block, off, block.length - off, this.fileBytes + off);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new StrongboxError(
        "SOURCE",
        `cannot write the file list of a large tree to ${tmpdir()} (${e.code ?? e.message}): set TMPDIR to a directory with room`,
      );
    }
    this.fileBytes += block.length;
  }
}

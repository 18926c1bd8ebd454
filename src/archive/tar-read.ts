import { ByteQueue } from "../byte-queue.js";
import { StrongboxError } from "../errors.js";
import { quoteShort } from "../terminal-safe.js";
import {
  BLOCK,
  blocksFor,
  decodeHeader,
  isZeroBlock,
  paxInteger,
  parsePax,
  paxTime,
  type EntryType,
  type TarEntry,
} from "./tar-header.js";

/** Reads exact byte counts from an async stream of Buffers, copying each byte at most once more. */
class ByteReader {
  private readonly q = new ByteQueue();
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.q.length < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.q.push(r.value);
    }
    return this.q.length >= n;
  }

  async exact(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return this.q.length === 0 ? null : this.truncated();
    return this.q.take(n);
  }

  /** Up to `max` bytes, at least one; for streaming file bodies without buffering them. */
  async some(max: number): Promise<Buffer> {
    if (!(await this.fill(1))) this.truncated();
    return this.q.takeSome(max);
  }

  /** Reads the stream to its end; true if anything but zero bytes follows. */
  async rest(): Promise<boolean> {
    let trailing = this.q.drainNonZero();
    for (;;) {
      const r = await this.it.next();
      if (r.done) return trailing;
      if (!isZeroBlock(r.value)) trailing = true;
    }
  }

  private truncated(): never {
    throw new StrongboxError("VERIFY", "tar: archive is truncated");
  }
}

export interface EntrySink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Linux's PATH_MAX: a symlink's target, with its NUL, fits in it. */
const MAX_LINK_BYTES = 4096;
const TYPES: Record<string, EntryType> = { "0": "file", "\0": "file", "7": "file", "5": "dir", "2": "symlink" };
const FOREIGN: Record<string, string> = { "1": "hard link", "3": "character device", "4": "block device", "6": "FIFO" };

/** Extended headers (PAX, GNU long names) of one entry may add up to this much; real ones are tiny. */
export const MAX_EXTENDED_BYTES = 1024 * 1024;

/**
 * Parses a tar stream entry by entry; `onEntry` returns a sink for a file's body (or null to skip it).
 * The stream is read to its very end. Every header is hostile input: a corrupt or truncated
 * archive, an archive without its end marker, data after it, an entry of a type strongbox never
 * writes (hard links, devices, FIFOs), and oversized extended headers are all VERIFY errors that
 * name the entry.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: (e: TarEntry) => Promise<EntrySink | null>,
): Promise<void> {
  const t = new TarReader(source);
  for (let entry = await t.next(); entry; entry = await t.next()) {
    const sink = await onEntry(entry);
    if (!sink) continue;
    for await (const chunk of t.body()) await sink.write(chunk);
    await sink.end();
  }
}

/**
 * The same parser as a pull iterator, so that two archives (a differential and its base full) can
 * be read side by side and merged: `next()` gives the next entry (skipping whatever of the last
 * entry's body was not read), or null after the end-of-archive marker and a check that nothing
 * but zeros follows it.
 */
export class TarReader {
  private readonly r: ByteReader;
  private pax: Record<string, string> = {};
  private gnuLongName: string | undefined;
  private gnuLongLink: string | undefined;
  private extended = 0;
  private entries = 0;
  /** Body bytes of the current entry not read yet, and its padding. */
  private left = 0;
  private padding = 0;
  private ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.r = new ByteReader(source[Symbol.asyncIterator]());
  }

  /** The current entry's body, in pieces of at most 1 MiB; read at most once. */
  async *body(): AsyncGenerator<Buffer> {
    while (this.left > 0) {
      const chunk = await this.r.some(Math.min(this.left, 1024 * 1024));
      this.left -= chunk.length;
      yield chunk;
    }
  }

  async next(): Promise<TarEntry | null> {
    if (this.ended) return null;
    while (this.left > 0) this.left -= (await this.r.some(Math.min(this.left, 1024 * 1024))).length;
    if (this.padding && !(await this.r.exact(this.padding)))
      throw new StrongboxError("VERIFY", "tar: archive is truncated");
    this.padding = 0;
    const r = this.r;
    for (;;) {
      const block = await r.exact(BLOCK);
      if (!block) throw new StrongboxError("VERIFY", "tar: archive ends without its end-of-archive marker (truncated)");
      if (isZeroBlock(block)) {
        const second = await r.exact(BLOCK);
        if (!second || !isZeroBlock(second)) throw new StrongboxError("VERIFY", "tar: corrupt end-of-archive marker");
        if (await r.rest()) throw new StrongboxError("VERIFY", "tar: unexpected data after the end of the archive");
        this.ended = true;
        return null;
      }
      const entries = this.entries;
      const at = () => `tar: entry ${entries + 1}`;
      let h;
      try {
        h = decodeHeader(block);
      } catch (err) {
        throw new StrongboxError(
          "VERIFY",
          `${at()}${entries ? " (after the last good entry)" : ""}: ${(err as Error).message.replace(/^tar: /, "")}`,
        );
      }
      if (h.typeflag === "x" || h.typeflag === "g" || h.typeflag === "L" || h.typeflag === "K") {
        this.extended += h.size;
        if (this.extended > MAX_EXTENDED_BYTES)
          throw new StrongboxError("VERIFY", `${at()}: extended headers larger than ${MAX_EXTENDED_BYTES} bytes`);
        const body = await r.exact(blocksFor(h.size));
        if (!body) throw new StrongboxError("VERIFY", "tar: archive is truncated");
        const data = body.subarray(0, h.size);
        if (h.typeflag === "x") parsePax(data, this.pax);
        else if (h.typeflag === "L") this.gnuLongName = data.toString("utf8").replace(/\0+$/, "");
        else if (h.typeflag === "K") this.gnuLongLink = data.toString("utf8").replace(/\0+$/, "");
        // 'g' (global PAX) headers are read and ignored: strongbox never writes them.
        continue;
      }
      const pax = this.pax;
      const name = pax.path ?? this.gnuLongName ?? h.name;
      const where = `${at()} ${quoteShort(name)}`;
      let entry: TarEntry;
      const type = TYPES[h.typeflag];
      try {
        if (!type)
          throw new StrongboxError(
            "VERIFY",
            `is a ${FOREIGN[h.typeflag] ?? `tar entry of type ${JSON.stringify(h.typeflag)}`}, which strongbox never writes; refusing the archive`,
          );
        const size = pax.size !== undefined ? paxInteger(pax.size, "size") : h.size;
        if (type !== "file" && size !== 0) throw new StrongboxError("VERIFY", `a ${type} with a body of ${size} bytes`);
        const linkname = pax.linkpath ?? this.gnuLongLink ?? h.linkname;
        if (type === "symlink" && !linkname) throw new StrongboxError("VERIFY", "a symlink with an empty target");
        // No symlink can hold one (the kernel would cut the target there): a forged target, refused by restore and verify alike.
        if (type === "symlink" && linkname.includes("\0"))
          throw new StrongboxError("VERIFY", "a symlink target with a NUL byte");
        // Nor one of 4,096 bytes or more (Linux's PATH_MAX, with its NUL): symlink() would refuse it.
        if (type === "symlink" && Buffer.byteLength(linkname) >= MAX_LINK_BYTES)
          throw new StrongboxError(
            "VERIFY",
            `a symlink target of ${Buffer.byteLength(linkname)} bytes (at most ${MAX_LINK_BYTES - 1})`,
          );
        entry = {
          path: name.replace(/\/+$/, ""),
          type,
          size,
          mode: h.mode,
          uid: pax.uid !== undefined ? paxInteger(pax.uid, "uid") : h.uid,
          gid: pax.gid !== undefined ? paxInteger(pax.gid, "gid") : h.gid,
          mtime: pax.mtime !== undefined ? paxTime(pax.mtime) : h.mtime,
          ...(type === "symlink" ? { linkname } : {}),
          ...(type === "dir" && pax["GNU.dumpdir"] !== undefined ? { dumpdir: pax["GNU.dumpdir"] } : {}),
        };
      } catch (err) {
        throw new StrongboxError(
          "VERIFY",
          `${where}: ${(err as Error).message.replace(/^tar: (corrupt header )?/, "")}`,
        );
      }
      this.pax = {};
      this.gnuLongName = this.gnuLongLink = undefined;
      this.extended = 0;
      this.entries++;
      this.left = entry.size;
      this.padding = blocksFor(entry.size) - entry.size;
      return entry;
    }
  }
}

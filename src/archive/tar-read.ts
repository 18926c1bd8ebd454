import { ByteQueue } from "../byte-queue.js";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import { BLOCK, blocksFor, decodeHeader, isZeroBlock, paxInteger, parsePax, paxTime, type EntryType, type TarEntry } from "./tar-header.js";

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
export async function readTar(source: AsyncIterable<Buffer>, onEntry: (e: TarEntry) => Promise<EntrySink | null>): Promise<void> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let gnuLongName: string | undefined;
  let gnuLongLink: string | undefined;
  let extended = 0;
  let entries = 0;
  for (;;) {
    const block = await r.exact(BLOCK);
    if (!block) throw new StrongboxError("VERIFY", "tar: archive ends without its end-of-archive marker (truncated)");
    if (isZeroBlock(block)) {
      const second = await r.exact(BLOCK);
      if (!second || !isZeroBlock(second)) throw new StrongboxError("VERIFY", "tar: corrupt end-of-archive marker");
      if (await r.rest()) throw new StrongboxError("VERIFY", "tar: unexpected data after the end of the archive");
      return;
    }
    const at = () => `tar: entry ${entries + 1}`;
    let h;
    try {
      h = decodeHeader(block);
    } catch (err) {
      throw new StrongboxError("VERIFY", `${at()}${entries ? " (after the last good entry)" : ""}: ${(err as Error).message.replace(/^tar: /, "")}`);
    }
    if (h.typeflag === "x" || h.typeflag === "g" || h.typeflag === "L" || h.typeflag === "K") {
      extended += h.size;
      if (extended > MAX_EXTENDED_BYTES) throw new StrongboxError("VERIFY", `${at()}: extended headers larger than ${MAX_EXTENDED_BYTES} bytes`);
      const body = await r.exact(blocksFor(h.size));
      if (!body) throw new StrongboxError("VERIFY", "tar: archive is truncated");
      const data = body.subarray(0, h.size);
      if (h.typeflag === "x") parsePax(data, pax);
      else if (h.typeflag === "L") gnuLongName = data.toString("utf8").replace(/\0+$/, "");
      else if (h.typeflag === "K") gnuLongLink = data.toString("utf8").replace(/\0+$/, "");
      // 'g' (global PAX) headers are read and ignored: strongbox never writes them.
      continue;
    }
    const name = pax.path ?? gnuLongName ?? h.name;
    const where = `${at()} ${quoteName(name)}`;
    let entry: TarEntry;
    const type = TYPES[h.typeflag];
    try {
      if (!type) throw new StrongboxError("VERIFY", `is a ${FOREIGN[h.typeflag] ?? `tar entry of type ${JSON.stringify(h.typeflag)}`}, which strongbox never writes; refusing the archive`);
      const size = pax.size !== undefined ? paxInteger(pax.size, "size") : h.size;
      if (type !== "file" && size !== 0) throw new StrongboxError("VERIFY", `a ${type} with a body of ${size} bytes`);
      const linkname = pax.linkpath ?? gnuLongLink ?? h.linkname;
      if (type === "symlink" && !linkname) throw new StrongboxError("VERIFY", "a symlink with an empty target");
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
      throw new StrongboxError("VERIFY", `${where}: ${(err as Error).message.replace(/^tar: (corrupt header )?/, "")}`);
    }
    pax = {};
    gnuLongName = gnuLongLink = undefined;
    extended = 0;
    entries++;
    const sink = await onEntry(entry);
    let left = entry.size;
    while (left > 0) {
      const chunk = await r.some(Math.min(left, 1024 * 1024));
      left -= chunk.length;
      if (sink) await sink.write(chunk);
    }
    if (sink) await sink.end();
    const padding = blocksFor(entry.size) - entry.size;
    if (padding && !(await r.exact(padding))) throw new StrongboxError("VERIFY", "tar: archive is truncated");
  }
}

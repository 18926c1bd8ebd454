import { StrongboxError } from "../errors.js";
import { BLOCK, blocksFor, decodeHeader, isZeroBlock, parsePax, type EntryType, type TarEntry } from "./tar-header.js";

/** Reads exact byte counts from an async stream of Buffers. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    return this.buf.length >= n;
  }

  async exact(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return this.buf.length === 0 ? null : this.truncated();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Up to `max` bytes, at least one; for streaming file bodies without buffering them. */
  async some(max: number): Promise<Buffer> {
    if (!(await this.fill(1))) this.truncated();
    const n = Math.min(max, this.buf.length);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async rest(): Promise<boolean> {
    if (this.buf.length && !isZeroBlock(this.buf)) return true;
    for (;;) {
      const r = await this.it.next();
      if (r.done) return false;
      if (!isZeroBlock(r.value)) return true;
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

/**
 * Parses a tar stream entry by entry; `onEntry` returns a sink for a file's body (or null to skip it).
 * Fails on a corrupt header, a truncated archive, or an archive without its end marker.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: (e: TarEntry) => Promise<EntrySink | null>,
  onUnsupported: (name: string, typeflag: string) => void,
): Promise<void> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let gnuLongName: string | undefined;
  let gnuLongLink: string | undefined;
  for (;;) {
    const block = await r.exact(BLOCK);
    if (!block) throw new StrongboxError("VERIFY", "tar: archive ends without its end-of-archive marker (truncated)");
    if (isZeroBlock(block)) {
      const second = await r.exact(BLOCK);
      if (!second || !isZeroBlock(second)) throw new StrongboxError("VERIFY", "tar: corrupt end-of-archive marker");
      if (await r.rest()) throw new StrongboxError("VERIFY", "tar: unexpected data after the end of the archive");
      return;
    }
    const h = decodeHeader(block);
    if (h.typeflag === "x" || h.typeflag === "g" || h.typeflag === "L" || h.typeflag === "K") {
      if (h.size > 16 * 1024 * 1024) throw new StrongboxError("VERIFY", "tar: extended header too large");
      const body = await r.exact(blocksFor(h.size));
      if (!body) throw new StrongboxError("VERIFY", "tar: archive is truncated");
      const data = body.subarray(0, h.size);
      if (h.typeflag === "x") pax = { ...pax, ...parsePax(data) };
      else if (h.typeflag === "L") gnuLongName = data.toString("utf8").replace(/\0+$/, "");
      else if (h.typeflag === "K") gnuLongLink = data.toString("utf8").replace(/\0+$/, "");
      continue;
    }
    const size = pax.size !== undefined ? Number(pax.size) : h.size;
    const name = pax.path ?? gnuLongName ?? h.name;
    const linkname = pax.linkpath ?? gnuLongLink ?? h.linkname;
    const type = TYPES[h.typeflag];
    const entry: TarEntry = {
      path: name.replace(/\/+$/, ""),
      type: type ?? "file",
      size: type === "file" ? size : 0,
      mode: h.mode,
      uid: pax.uid !== undefined ? Number(pax.uid) : h.uid,
      gid: pax.gid !== undefined ? Number(pax.gid) : h.gid,
      mtime: pax.mtime ?? h.mtime,
      ...(type === "symlink" ? { linkname } : {}),
    };
    pax = {};
    gnuLongName = gnuLongLink = undefined;
    let sink: EntrySink | null = null;
    if (type) sink = await onEntry(entry);
    else onUnsupported(name, h.typeflag);
    // Bodies of non-file entries (hard links, devices) are skipped; their size is still consumed.
    let left = type && type !== "file" ? 0 : size;
    if (!type) left = size;
    while (left > 0) {
      const chunk = await r.some(Math.min(left, 1024 * 1024));
      left -= chunk.length;
      if (sink) await sink.write(chunk);
    }
    if (sink) await sink.end();
    const padding = blocksFor(size) - size;
    if (padding && (!type || type === "file") && !(await r.exact(padding))) throw new StrongboxError("VERIFY", "tar: archive is truncated");
  }
}

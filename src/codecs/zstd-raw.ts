// The fast path of zstd decompression for what strongbox stores raw (media: blocks that do not
// compress, see parallel-zstd.ts rawFrame): a frame of raw and RLE blocks holds its content as it
// is, so its output is the blocks' bytes, handed on as views of the input (no copy, no trip through
// zlib's thread pool, no new 1 MiB output buffer each time). Only a frame proved well-formed here
// takes this path; any other frame (compressed blocks, a checksum, a dictionary, no content size,
// sizes that do not add up) goes to node:zlib whole, which reads it or refuses it as before.

const MAX_BLOCK = 128 * 1024;
/** A frame is held until its end before it is judged: at most this much content (strongbox writes 2 MiB). */
export const MAX_RAW_FRAME = 8 * 1024 * 1024;
/** Header bytes read to judge a frame: magic, descriptor, window byte, dictionary id (≤ 4), content size (≤ 8). */
const MAX_HEADER = 18;

/** The first `n` bytes of the pieces (fewer if they hold fewer), copied: headers only. */
export function head(pieces: Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (const p of pieces) {
    if (have >= n) break;
    out.push(p.subarray(0, n - have));
    have += Math.min(p.length, n - have);
  }
  return Buffer.concat(out);
}

/**
 * Whether a frame starting with `h` may take the fast path, judged from its header alone: a zstd
 * frame (not skippable) with a single segment, its content size given and at most MAX_RAW_FRAME,
 * no checksum, no dictionary. Returns the header's length and the content size, "zlib" when the
 * frame is not one for the fast path, or undefined while `h` is too short to tell.
 */
export function rawCandidate(h: Buffer): { headerLength: number; contentSize: number } | "zlib" | undefined {
  if (h.length < 5) return undefined;
  if (h.readUInt32LE(0) !== 0xfd2fb528) return "zlib";
  const fhd = h[4];
  const single = (fhd & 0x20) !== 0;
  const checksum = (fhd & 0x04) !== 0;
  const dictionary = fhd & 0x03;
  const fcsFlag = fhd >> 6;
  if (!single || checksum || dictionary || fhd & 0x08) return "zlib";
  const fcsBytes = [1, 2, 4, 8][fcsFlag];
  const headerLength = 5 + fcsBytes;
  if (h.length < headerLength) return undefined;
  const contentSize =
    fcsBytes === 1
      ? h[5]
      : fcsBytes === 2
        ? h.readUInt16LE(5) + 256
        : fcsBytes === 4
          ? h.readUInt32LE(5)
          : Number(h.readBigUInt64LE(5));
  if (contentSize > MAX_RAW_FRAME) return "zlib";
  return { headerLength, contentSize };
}

/** Reads the pieces of one whole frame as a sequence of bytes, handing out views where it can. */
class Cursor {
  private i = 0;
  private off = 0;
  constructor(private readonly pieces: Buffer[]) {}

  skip(n: number): void {
    this.views(n);
  }

  /** The next `n` bytes as views of the pieces (more than one where they span a seam), or null past the end. */
  views(n: number): Buffer[] | null {
    const out: Buffer[] = [];
    while (n > 0) {
      const p = this.pieces[this.i];
      if (!p) return null;
      const k = Math.min(n, p.length - this.off);
      if (k > 0) out.push(p.subarray(this.off, this.off + k));
      this.off += k;
      n -= k;
      if (this.off === p.length) {
        this.i++;
        this.off = 0;
      }
    }
    return out;
  }

  get atEnd(): boolean {
    while (this.pieces[this.i] && this.off === this.pieces[this.i].length) {
      this.i++;
      this.off = 0;
    }
    return this.i >= this.pieces.length;
  }
}

/**
 * The content of one whole frame (its pieces, in order, nothing after its end) if it is made of raw
 * and RLE blocks only, each at most 128 KiB, the last one flagged at the frame's very end, adding up
 * to the content size its header gives; else null (the frame goes to zlib). Raw content comes back
 * as views of the pieces.
 */
export function rawContent(pieces: Buffer[]): Buffer[] | null {
  const c = rawCandidate(head(pieces, MAX_HEADER));
  if (!c || c === "zlib") return null;
  const cur = new Cursor(pieces);
  cur.skip(c.headerLength);
  const out: Buffer[] = [];
  let size = 0;
  for (;;) {
    const bh = cur.views(3);
    if (!bh) return null;
    const h3 = Buffer.concat(bh);
    const h = h3[0] | (h3[1] << 8) | (h3[2] << 16);
    const last = (h & 1) === 1;
    const type = (h >> 1) & 3;
    const n = h >>> 3;
    if (n > MAX_BLOCK || (type !== 0 && type !== 1)) return null;
    size += n;
    if (size > c.contentSize) return null;
    if (type === 0) {
      const v = cur.views(n);
      if (!v) return null;
      for (const x of v) out.push(x);
    } else {
      const b = cur.views(1);
      if (!b) return null;
      if (n) out.push(Buffer.alloc(n, b[0][0]));
    }
    if (last) return size === c.contentSize && cur.atEnd ? out : null;
  }
}

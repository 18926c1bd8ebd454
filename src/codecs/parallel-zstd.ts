import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";
import { BLOCK, blockPool, framePool, RAW_BLOCK, RAW_FRAME, rawFrameSize } from "./block-pool.js";

// Blocks of BLOCK (2 MiB): against 4 MiB, a 600 MB media backup went 3.2 -> 2.7 s and a database + media
// backup peaked at ~280 MB RSS instead of ~298 (less in flight, less garbage between collections).
/** The samples that decide whether a block is worth compressing. */
const SAMPLE = 16 * 1024;
const SAMPLES = 4;

/** `len` bytes at `offset` of the parts: a view of one part, or (across a seam) a copy of just those bytes. */
export function slice(parts: Buffer[], offset: number, len: number): Buffer {
  let i = 0;
  while (i < parts.length && offset >= parts[i].length) offset -= parts[i++].length;
  if (i === parts.length) return Buffer.alloc(0);
  if (offset + len <= parts[i].length) return parts[i].subarray(offset, offset + len);
  // Across a seam (a tar header before every file puts one in most blocks): copy only the sample.
  const out = Buffer.allocUnsafe(len);
  let n = 0;
  for (; i < parts.length && n < len; i++, offset = 0) n += parts[i].copy(out, n, offset, offset + (len - n));
  return n === len ? out : out.subarray(0, n);
}

const total = (parts: Buffer[]) => parts.reduce((n, p) => n + p.length, 0);

/**
 * Already-compressed data (video, images, archives): zstd would spend a core finding nothing and
 * then store the bytes raw. Four samples spread over the block tell at 1/64 of the cost.
 */
function incompressible(parts: Buffer[]): boolean {
  const length = total(parts);
  if (length < SAMPLE * SAMPLES * 4) return false;
  const step = Math.floor((length - SAMPLE) / (SAMPLES - 1));
  let packed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    packed += zlib.zstdCompressSync(slice(parts, i * step, SAMPLE), {
      params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 },
    }).length;
  }
  return packed >= 0.97 * SAMPLE * SAMPLES;
}

/**
 * The bytes as one zstd frame of raw blocks, as zstd itself stores what does not compress: a frame
 * header with the content size (single segment), then 128 KiB raw blocks, the last one flagged.
 * One copy of the input, straight from its parts (into a frame the pool had back, where it has one).
 */
export function rawFrame(input: Buffer | Buffer[]): Buffer {
  const parts = Array.isArray(input) ? input : [input];
  const length = total(parts);
  const blocks = Math.max(1, Math.ceil(length / RAW_BLOCK));
  const size = rawFrameSize(length);
  // A whole block's frame is written into one that came back from the crypto worker (block-pool.ts).
  const out = size === RAW_FRAME ? framePool.take() : Buffer.allocUnsafeSlow(size);
  out.writeUInt32LE(0xfd2fb528, 0);
  out[4] = 0xa0; // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag, no checksum, no dictionary
  out.writeUInt32LE(length, 5);
  let off = 9;
  let pi = 0;
  let po = 0;
  for (let i = 0, left = length; i < blocks; i++) {
    let n = Math.min(RAW_BLOCK, left);
    left -= n;
    out.writeUIntLE((n << 3) | (i === blocks - 1 ? 1 : 0), off, 3); // Block_Type 0 (raw)
    off += 3;
    while (n > 0) {
      const p = parts[pi];
      const k = Math.min(n, p.length - po);
      off += p.copy(out, off, po, po + k);
      po += k;
      n -= k;
      if (po === p.length) {
        pi++;
        po = 0;
      }
    }
  }
  return out;
}

/**
 * The block's bytes as one buffer, and the pooled block to give back once nothing reads them: a
 * whole pooled block as it came (a source filled it), or the parts copied into one (at most BLOCK bytes).
 */
function gather(parts: Buffer[]): { input: Buffer; owned?: Buffer } {
  if (parts.length === 1) return { input: parts[0], owned: blockPool.owns(parts[0]) ? parts[0] : undefined };
  const block = blockPool.take();
  let off = 0;
  for (const p of parts) off += p.copy(block, off);
  return { input: block.subarray(0, off), owned: block };
}

/**
 * zstd on every core: the stream is cut into 2 MiB blocks, each compressed as its own zstd frame on
 * libuv's thread pool, several at once, and written out in order. Concatenated frames are one valid
 * zstd stream (`zstd -d` and GNU tar --zstd read them; strongbox reads them frame by frame, see
 * zstd-frames.ts). At most `parallel` blocks are in flight, so memory stays bounded.
 */
export class ParallelZstdCompress extends Transform {
  /** Compressors alive in this process (sources backed up side by side share the cores and the memory bound). */
  private static active = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inflight: Promise<Buffer>[] = [];

  constructor(
    private readonly level: number,
    private readonly parallel = Math.max(2, Math.min(4, availableParallelism())),
  ) {
    super({ readableHighWaterMark: BLOCK, writableHighWaterMark: BLOCK });
    ParallelZstdCompress.active++;
  }

  /** Blocks this stream keeps in flight: its share of `parallel` among the compressors alive now, at least 1. */
  private get share(): number {
    return Math.max(1, Math.floor(this.parallel / Math.max(1, ParallelZstdCompress.active)));
  }

  // Node calls _destroy once per stream, whether it ended or failed.
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    ParallelZstdCompress.active--;
    cb(err);
  }

  private startBlock(parts: Buffer[]): void {
    if (incompressible(parts)) {
      // rawFrame copies the parts: a pooled one goes back at once (no gathering first, which would copy twice)
      this.inflight.push(Promise.resolve(rawFrame(parts)));
      for (const p of parts) if (blockPool.owns(p)) blockPool.give(p);
      return;
    }
    // A pooled block goes back only once nothing reads it: when zstd has finished with it (its
    // callback), success or not.
    const { input, owned } = gather(parts);
    const release = () => {
      if (owned) blockPool.give(owned);
    };
    const params = { [zlib.constants.ZSTD_c_compressionLevel]: this.level };
    this.inflight.push(
      new Promise<Buffer>((resolve, reject) =>
        zlib.zstdCompress(input, { params }, (err, out) => {
          release();
          if (err) reject(err);
          else resolve(out);
        }),
      ),
    );
  }

  /** Emits finished blocks in order, until at most `keep` are still in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.inflight.length > keep) this.push(await this.inflight.shift()!);
  }

  /** The next `n` pending bytes as parts (no copy; the part on the edge is split). */
  private takePending(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0 && this.pending.length) {
      const p = this.pending[0];
      if (p.length <= n) {
        out.push(this.pending.shift()!);
        n -= p.length;
        this.pendingBytes -= p.length;
      } else {
        out.push(p.subarray(0, n));
        this.pending[0] = p.subarray(n);
        this.pendingBytes -= n;
        n = 0;
      }
    }
    return out;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (blockPool.owns(chunk)) {
      // A whole pooled block (a file's data, a tool's output) is its own frame, never split: what is
      // pending before it (a tar header, a small file's slab) leaves as a shorter frame first. Split,
      // its pieces could not go back to the pool; whole, it goes back once zstd is done with it.
      if (this.pendingBytes) this.startBlock(this.takePending(this.pendingBytes));
      this.startBlock([chunk]);
    } else {
      if (chunk.length) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
      if (this.pendingBytes < BLOCK) return done();
      while (this.pendingBytes >= BLOCK) this.startBlock(this.takePending(BLOCK));
    }
    this.drain(this.share - 1).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    // Always at least one frame: an empty input still makes a valid (empty) zstd stream.
    if (this.pendingBytes || this.inflight.length === 0)
      this.startBlock(this.pendingBytes ? this.takePending(this.pendingBytes) : [Buffer.alloc(0)]);
    this.drain(0).then(() => done(), done);
  }
}

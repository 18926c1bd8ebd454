import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";

const BLOCK = 4 * 1024 * 1024;
/** zstd's largest block (RFC 8878 §3.1.1.2.3), and the samples that decide whether a block is worth compressing. */
const RAW_BLOCK = 128 * 1024;
const SAMPLE = 16 * 1024;
const SAMPLES = 4;

/**
 * Already-compressed data (video, images, archives): zstd would spend a core finding nothing and
 * then store the bytes raw. Four samples spread over the block tell at 1/64 of the cost.
 */
function incompressible(block: Buffer): boolean {
  if (block.length < SAMPLE * SAMPLES * 4) return false;
  const step = Math.floor((block.length - SAMPLE) / (SAMPLES - 1));
  let packed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const sample = block.subarray(i * step, i * step + SAMPLE);
    packed += zlib.zstdCompressSync(sample, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } }).length;
  }
  return packed >= 0.97 * SAMPLE * SAMPLES;
}

/**
 * The block as one zstd frame of raw blocks, as zstd itself stores what does not compress: a frame
 * header with the content size (single segment), then 128 KiB raw blocks, the last one flagged.
 */
export function rawFrame(block: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(block.length / RAW_BLOCK));
  const out = Buffer.allocUnsafeSlow(4 + 1 + 4 + blocks * 3 + block.length);
  out.writeUInt32LE(0xfd2fb528, 0);
  out[4] = 0xa0; // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag, no checksum, no dictionary
  out.writeUInt32LE(block.length, 5);
  let off = 9;
  for (let i = 0; i < blocks; i++) {
    const part = block.subarray(i * RAW_BLOCK, (i + 1) * RAW_BLOCK);
    const last = i === blocks - 1 ? 1 : 0;
    out.writeUIntLE((part.length << 3) | last, off, 3); // Block_Type 0 (raw)
    off += 3 + part.copy(out, off + 3);
  }
  return out;
}

/**
 * zstd on every core: the stream is cut into 4 MiB blocks, each compressed as its own zstd frame on
 * libuv's thread pool, several at once, and written out in order. Concatenated frames are one valid
 * zstd stream (`zstd -d` and GNU tar --zstd read them; strongbox reads them frame by frame, see
 * zstd-frames.ts). At most `parallel` blocks are in flight, so memory stays bounded.
 */
export class ParallelZstdCompress extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inflight: Promise<Buffer>[] = [];

  constructor(
    private readonly level: number,
    private readonly parallel = Math.max(2, Math.min(4, availableParallelism())),
  ) {
    super({ readableHighWaterMark: BLOCK, writableHighWaterMark: BLOCK });
  }

  private startBlock(block: Buffer): void {
    if (incompressible(block)) {
      this.inflight.push(Promise.resolve(rawFrame(block)));
      return;
    }
    const params = { [zlib.constants.ZSTD_c_compressionLevel]: this.level };
    this.inflight.push(new Promise<Buffer>((resolve, reject) => zlib.zstdCompress(block, { params }, (err, out) => (err ? reject(err) : resolve(out)))));
  }

  /** Emits finished blocks in order, until at most `keep` are still in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.inflight.length > keep) this.push(await this.inflight.shift()!);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < BLOCK) return done();
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    for (; off + BLOCK <= all.length; off += BLOCK) this.startBlock(all.subarray(off, off + BLOCK));
    if (off < all.length) {
      this.pending.push(all.subarray(off));
      this.pendingBytes = all.length - off;
    }
    this.drain(this.parallel - 1).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    // Always at least one frame: an empty input still makes a valid (empty) zstd stream.
    if (this.pendingBytes || this.inflight.length === 0) this.startBlock(Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.drain(0).then(() => done(), done);
  }
}

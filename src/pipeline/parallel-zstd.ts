import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";

const BLOCK = 4 * 1024 * 1024;

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

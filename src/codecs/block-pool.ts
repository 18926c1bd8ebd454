/**
 * Blocks of 2 MiB with one owner at a time. A 600 MB database dump read as the pipe's 64 KiB chunks
 * and gathered with `Buffer.concat` allocated ~1.2 GB of short-lived buffers; that external memory
 * made V8 run a full collection every few blocks (91 in one backup). Blocks taken here go back here
 * and are filled again.
 *
 * Ownership is explicit: `take()` hands a block out, and whoever holds it last (the zstd compressor,
 * once zstd has finished reading it) calls `give()`. A block never given back is simply collected.
 * A block given back twice is refused, and with `poison` (tests) a block given back is overwritten
 * at once, so that a read after release shows as wrong bytes in the output.
 */
export const BLOCK = 2 * 1024 * 1024;

export class BlockPool {
  private readonly free: Buffer[] = [];
  /** Blocks handed out and not yet given back. */
  private readonly out = new WeakSet<Buffer>();
  /** How many blocks are handed out and not given back (tests: every one comes back). */
  lent = 0;
  poison = false;

  constructor(private readonly keep = 8) {}

  take(): Buffer {
    const b = this.free.pop() ?? Buffer.allocUnsafeSlow(BLOCK);
    this.out.add(b);
    this.lent++;
    return b;
  }

  /** Whether `b` is a whole block of this pool, handed out and not given back. */
  owns(b: Buffer): boolean {
    return this.out.has(b);
  }

  give(b: Buffer): void {
    if (!this.out.delete(b)) throw new Error("a block was given back to the pool twice, or was not the pool's");
    this.lent--;
    if (this.poison) b.fill(0xa5);
    if (this.free.length < this.keep) this.free.push(b);
  }
}

/** The process's pool: a source fills its blocks, the compressor gives them back. */
export const blockPool = new BlockPool();

/** zstd's largest block (RFC 8878 §3.1.1.2.3): a raw frame holds its bytes in blocks of this size. */
export const RAW_BLOCK = 128 * 1024;

/**
 * The size of rawFrame's output for `length` bytes: the frame header (9 bytes), one 3-byte header per
 * raw block (at least one), and the bytes. Here, not beside rawFrame, so that the crypto worker can
 * know a whole block's frame (RAW_FRAME) without loading the compressor.
 */
export const rawFrameSize = (length: number): number => 9 + 3 * Math.max(1, Math.ceil(length / RAW_BLOCK)) + length;

/** rawFrame's output for a whole block. Media backs up as a stream of these. */
export const RAW_FRAME = rawFrameSize(BLOCK);

/**
 * Raw frames of whole blocks, filled again. A fresh 2 MiB buffer costs the main thread a page fault
 * per 4 KiB page as the frame is copied in (~0.5 s of a 600 MB media backup) and pushes V8 into
 * full collections; one written before costs a plain copy.
 *
 * Ownership: a frame is handed to the crypto worker as a transfer, which detaches every view of it
 * in this thread, so nothing here can read it after. The worker seals it and transfers it back with
 * its answer (stream-worker.ts), and only then is it `adopt`ed here. A frame sealed in this thread
 * (no worker) is never adopted: it is simply collected. With `poison` (tests) an adopted frame is
 * overwritten at once, so that a frame reused too early shows as wrong bytes in the output.
 */
export class FramePool {
  private readonly free: ArrayBuffer[] = [];
  /** Frames kept, and frames taken from the pool (tests: proof that frames come back and are reused). */
  adopted = 0;
  reused = 0;
  poison = false;

  constructor(private readonly keep = 8) {}

  /** A buffer of RAW_FRAME bytes that owns its memory (so that it can be transferred). */
  take(): Buffer {
    const ab = this.free.pop();
    if (!ab) return Buffer.allocUnsafeSlow(RAW_FRAME);
    this.reused++;
    return Buffer.from(ab);
  }

  /** A frame's memory, back from the worker that sealed it; anything else is left to the collector. */
  adopt(ab: ArrayBuffer): void {
    if (ab.byteLength !== RAW_FRAME || ab instanceof SharedArrayBuffer || this.free.length >= this.keep) return;
    if (this.poison) new Uint8Array(ab).fill(0xa5);
    this.adopted++;
    this.free.push(ab);
  }
}

export const framePool = new FramePool();

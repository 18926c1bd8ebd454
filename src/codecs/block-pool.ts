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

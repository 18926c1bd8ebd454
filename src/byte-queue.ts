/** Collects incoming buffers and hands out exact-size slices, copying only where a slice spans buffers. */
export class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length) {
      this.parts.push(b);
      this.length += b.length;
    }
  }

  /** The next `n` bytes (n <= length). */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.parts[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const p = this.parts[0];
        const k = Math.min(p.length, n - off);
        p.copy(out, off, 0, k);
        off += k;
        if (k === p.length) this.parts.shift();
        else this.parts[0] = p.subarray(k);
      }
    }
    this.length -= n;
    return out;
  }

  /** Up to `max` bytes without copying: what the first buffer holds. */
  takeSome(max: number): Buffer {
    return this.take(Math.min(max, this.parts[0]?.length ?? 0));
  }

  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Whether anything queued is not zero bytes; empties the queue. */
  drainNonZero(): boolean {
    let nonZero = false;
    for (const p of this.parts) if (p.some((b) => b !== 0)) nonZero = true;
    this.parts = [];
    this.length = 0;
    return nonZero;
  }
}

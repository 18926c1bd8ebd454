// The age payload: STREAM of ChaCha20-Poly1305 64 KiB chunks on node:crypto (native speed, no header
// knowledge), kept apart so it can run in worker threads given only the payload key.
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { ByteQueue } from "../byte-queue.js";

export const CHUNK = 64 * 1024;
export const TAG = 16;
export const SEALED = CHUNK + TAG;
export const NONCE_SIZE = 16;

/** The STREAM key: HKDF-SHA256(file key, salt = the 16-byte payload nonce, "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // 11-byte big-endian counter; 48 bits cover any real file
  n[11] = last ? 1 : 0;
  return n;
}

export function sealChunk(key: Uint8Array, counter: number, last: boolean, plaintext: Uint8Array): Buffer {
  return Buffer.concat(sealChunkParts(key, counter, last, plaintext));
}

/** The sealed chunk as [ciphertext, tag]: written out as they are, without a 64 KiB copy per chunk. */
export function sealChunkParts(
  key: Uint8Array,
  counter: number,
  last: boolean,
  plaintext: Uint8Array,
): [Buffer, Buffer] {
  const c = createCipheriv("chacha20-poly1305", key, chunkNonce(counter, last), { authTagLength: TAG });
  const ct = c.update(plaintext);
  c.final();
  return [ct, c.getAuthTag()];
}

/** The plaintext, or null when the chunk does not authenticate under that counter and flag. */
export function openChunk(key: Uint8Array, counter: number, last: boolean, sealed: Uint8Array): Buffer | null {
  if (sealed.length < TAG) return null;
  const d = createDecipheriv("chacha20-poly1305", key, chunkNonce(counter, last), { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const pt = d.update(sealed.subarray(0, sealed.length - TAG));
  try {
    d.final();
  } catch {
    return null;
  }
  return pt;
}

/** Incremental STREAM encryption: push plaintext, get sealed chunks; end() seals the last one. */
export class PayloadSealer {
  private readonly queue = new ByteQueue();
  constructor(
    private readonly key: Uint8Array,
    private counter = 0,
  ) {}
  push(plaintext: Buffer): Buffer[] {
    this.queue.push(plaintext);
    const out: Buffer[] = [];
    // Keep at least one byte back: the final chunk must carry the "last" flag.
    while (this.queue.length > CHUNK)
      out.push(...sealChunkParts(this.key, this.counter++, false, this.queue.take(CHUNK)));
    return out;
  }
  /** Seals every whole chunk queued as "not last": a piece cut out of the middle of a stream. */
  pushMiddle(plaintext: Buffer): Buffer[] {
    const out = this.push(plaintext);
    if (this.queue.length === CHUNK)
      out.push(...sealChunkParts(this.key, this.counter++, false, this.queue.take(CHUNK)));
    return out;
  }
  end(): Buffer {
    return sealChunk(this.key, this.counter++, true, this.queue.length ? this.queue.takeAll() : Buffer.alloc(0));
  }
}

/** A payload failure; `released` is the plaintext that authenticated before it, to be passed on first. */
export class PayloadError extends Error {
  constructor(
    message: string,
    readonly released: Buffer[] = [],
  ) {
    super(message);
  }
}

/**
 * Incremental STREAM decryption. Every chunk is released as soon as it authenticates; a full chunk
 * is tried as "not last" first, then as "last" (as age does), so all that precedes an error is released.
 */
export class PayloadOpener {
  private readonly queue = new ByteQueue();
  constructor(
    private readonly key: Uint8Array,
    private counter = 0,
  ) {}
  push(data: Buffer, middle = false): Buffer[] {
    this.queue.push(data);
    const out: Buffer[] = [];
    // middle: a piece cut out of the middle of a stream, whose last whole chunk is not the final one.
    while (this.queue.length > SEALED || (middle && this.queue.length === SEALED)) {
      const sealed = this.queue.take(SEALED);
      const pt = openChunk(this.key, this.counter, false, sealed);
      if (pt) {
        this.counter++;
        out.push(pt);
        continue;
      }
      const last = openChunk(this.key, this.counter, true, sealed);
      if (last) throw new PayloadError("trailing data after the final chunk", [...out, last]);
      throw new PayloadError("chunk failed authentication (file corrupt)", out);
    }
    return out;
  }
  end(): Buffer[] {
    const rest = this.queue.takeAll();
    if (rest.length === 0) throw new PayloadError("file truncated (final chunk missing)");
    const pt = openChunk(this.key, this.counter, true, rest);
    if (!pt) {
      const notLast = rest.length === SEALED ? openChunk(this.key, this.counter, false, rest) : null;
      if (notLast) throw new PayloadError("file truncated (final chunk missing)", [notLast]);
      throw new PayloadError("final chunk failed authentication (file truncated or corrupt)");
    }
    if (pt.length === 0 && this.counter > 0) throw new PayloadError("empty final chunk (file corrupt)");
    this.counter++;
    return pt.length ? [pt] : [];
  }
}

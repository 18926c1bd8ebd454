// age STREAM work cut into independent jobs: each seals or opens a run of whole 64 KiB chunks from
// a known chunk counter (age's chunks are independent), so that jobs of one object run on several
// worker threads at once (stream-worker.ts), or in this thread where no worker can be started.
import { createHash, type Hash } from "node:crypto";
import { PayloadError, PayloadOpener, PayloadSealer } from "./age-stream.js";

export interface JobMessage {
  /** forget: drop the hash of an object abandoned before its last job (no bytes). */
  op: "seal" | "open" | "forget";
  seq: number;
  /** The STREAM payload key of the object. */
  key: Uint8Array;
  /** The counter of the first chunk in `bufs`. */
  counter: number;
  /** The bytes, in order: whole chunks only, except for the last job. */
  bufs: Uint8Array[];
  /** `bufs` end the stream: their last chunk carries the final flag. */
  last: boolean;
  /**
   * The stored bytes' SHA-256, kept where the jobs run (every job of an object goes to one thread,
   * in order): of the sealed output, or of the stored input of an open. `prefix` (the age header and
   * nonce, which the main thread handles) is hashed first; the last job's reply carries the digest.
   */
  hash?: {
    id: number;
    prefix?: Uint8Array;
    /**
     * With a part size (an S3 store's multipart parts): also the MD5 of each run of that many stored
     * bytes, for the parts' Content-MD5, so that the store need not hash them again on its own thread.
     */
    md5Part?: number;
  };
}

export interface JobReply {
  seq: number;
  /**
   * Sealed bytes, or the plaintext that authenticated (before a failure too). An open's plaintext may
   * be its chunks as opened, as a list, each in its own memory and transferred as it is; where a
   * piece shares memory, and after a failure, it is one joined copy.
   */
  out: Uint8Array | Uint8Array[];
  /** An open that failed: age's words for it. */
  failure?: string;
  /** With `hash`, on the last job: the SHA-256 (hex) of the object's stored bytes. */
  sha256?: string;
  /** With `md5Part`: the MD5 (base64) of every part completed by this job's bytes, in order; the last job adds the part it ends. */
  md5?: string[];
  /** A worker's seal: the raw frames it was handed, sealed and given back to be filled again (block-pool.ts). */
  back?: ArrayBuffer[];
}

/** The MD5 of each run of `size` bytes of a stream, in order (an S3 upload's parts). */
class PartMd5 {
  private h = createHash("md5");
  private filled = 0;
  /** Digests (base64) of the parts completed since the last `take`. */
  private done: string[] = [];

  constructor(private readonly size: number) {
    if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`MD5 part size ${size} is not a positive integer`);
  }

  update(b: Buffer): void {
    for (let off = 0; off < b.length;) {
      const n = Math.min(b.length - off, this.size - this.filled);
      this.h.update(b.subarray(off, off + n));
      this.filled += n;
      off += n;
      if (this.filled === this.size) this.close();
    }
  }

  private close(): void {
    this.done.push(this.h.digest("base64"));
    this.h = createHash("md5");
    this.filled = 0;
  }

  /** The digests completed since the last call; `end`: the last part too, however short (none when empty). */
  take(end: boolean): string[] {
    if (end && this.filled > 0) this.close();
    const out = this.done;
    this.done = [];
    return out;
  }
}

/** The running hashes of one object's stored bytes. */
interface Running {
  sha: Hash;
  md5?: PartMd5;
  update(b: Buffer): void;
}

/** The running hashes of each object whose jobs run on this thread. */
const hashes = new Map<number, Running>();

/** How many objects' hashes this thread holds (tests: none once every stream ended or was torn down). */
export const heldHashes = () => hashes.size;

function hashOf(m: JobMessage): Running | undefined {
  if (!m.hash) return undefined;
  let h = hashes.get(m.hash.id);
  if (!h) {
    // Only an object's first job (which carries the prefix) starts its hash. A later job with no
    // hash here means this thread is not the one that saw the object's first bytes (the worker was
    // replaced, or the hash was dropped after a failure): a digest from here would be of part of
    // the object, so the job fails instead.
    if (!m.hash.prefix) throw new Error("the running SHA-256 of this object was lost (crypto worker restarted)");
    const sha = createHash("sha256");
    const md5 = m.hash.md5Part === undefined ? undefined : new PartMd5(m.hash.md5Part);
    h = {
      sha,
      md5,
      update: (b) => {
        sha.update(b);
        md5?.update(b);
      },
    };
    hashes.set(m.hash.id, h);
  }
  if (m.hash.prefix) h.update(view(m.hash.prefix));
  return h;
}

/** The parts' MD5s completed by this job; on the last job the SHA-256 too (the object's hashes are then forgotten). */
function digestOf(m: JobMessage, h: Running | undefined): { sha256?: string; md5?: string[] } {
  if (!h) return {};
  const md5 = h.md5 ? { md5: h.md5.take(m.last) } : {};
  if (!m.last) return md5;
  hashes.delete(m.hash!.id);
  return { sha256: h.sha.digest("hex"), ...md5 };
}

/** One output buffer (its own ArrayBuffer, so it can be transferred) from the pieces. */
function joined(parts: Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafeSlow(n);
  let off = 0;
  for (const p of parts) off += p.copy(out, off);
  return out;
}

/**
 * The pieces as they are when each has its ArrayBuffer to itself (a decipher's output does), so that
 * each can be transferred; else one joined copy. Copying a job's 1 MiB of plaintext into one buffer
 * cost the worker, the restore's critical path, ~0.2 core-seconds per 600 MB (more on fresh memory).
 */
function ownMemory(parts: Buffer[]): Buffer | Buffer[] {
  const own = parts.every(
    (p) => p.byteOffset === 0 && p.byteLength === p.buffer.byteLength && !(p.buffer instanceof SharedArrayBuffer),
  );
  return own && new Set(parts.map((p) => p.buffer)).size === parts.length ? parts : joined(parts);
}

export const view = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A reply's output, piece by piece. */
export const pieces = (out: JobReply["out"]): Uint8Array[] => (Array.isArray(out) ? out : [out]);

export function runJob(m: JobMessage): JobReply {
  if (m.op === "forget") {
    if (m.hash) hashes.delete(m.hash.id);
    return { seq: m.seq, out: new Uint8Array(0) };
  }
  try {
    return runDataJob(m);
  } catch (err) {
    if (m.hash) hashes.delete(m.hash.id); // an internal error ends the object: its hash goes with it
    throw err;
  }
}

function runDataJob(m: JobMessage): JobReply {
  const key = view(m.key);
  const bufs = m.bufs.map(view);
  const h = hashOf(m);
  if (m.op === "seal") {
    const sealer = new PayloadSealer(key, m.counter);
    const out: Buffer[] = [];
    bufs.forEach((b, i) => out.push(...(i === bufs.length - 1 && !m.last ? sealer.pushMiddle(b) : sealer.push(b))));
    if (m.last) out.push(sealer.end());
    const sealed = joined(out);
    h?.update(sealed);
    return { seq: m.seq, out: sealed, ...digestOf(m, h) };
  }
  if (h) for (const b of bufs) h.update(b); // the stored bytes, whether or not they open
  const opener = new PayloadOpener(key, m.counter);
  const out: Buffer[] = [];
  try {
    bufs.forEach((b, i) => out.push(...opener.push(b, i === bufs.length - 1 && !m.last)));
    if (m.last) out.push(...opener.end());
    return { seq: m.seq, out: ownMemory(out), ...digestOf(m, h) };
  } catch (err) {
    if (!(err instanceof PayloadError)) throw err;
    // A failed open ends its object; on the last job the digest still comes back, so that a
    // corrupt object is reported as one (SHA-256 mismatch) before age's words for its last chunk.
    const digest = digestOf(m, h);
    if (m.hash) hashes.delete(m.hash.id);
    return { seq: m.seq, out: joined([...out, ...err.released]), failure: err.message, ...digest };
  }
}

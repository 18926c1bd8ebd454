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
  hash?: { id: number; prefix?: Uint8Array };
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
  /** A worker's seal: the raw frames it was handed, sealed and given back to be filled again (block-pool.ts). */
  back?: ArrayBuffer[];
}

/** The running SHA-256 of each object whose jobs run on this thread. */
const hashes = new Map<number, Hash>();

/** How many objects' hashes this thread holds (tests: none once every stream ended or was torn down). */
export const heldHashes = () => hashes.size;

function hashOf(m: JobMessage): Hash | undefined {
  if (!m.hash) return undefined;
  let h = hashes.get(m.hash.id);
  if (!h) {
    // Only an object's first job (which carries the prefix) starts its hash. A later job with no
    // hash here means this thread is not the one that saw the object's first bytes (the worker was
    // replaced, or the hash was dropped after a failure): a digest from here would be of part of
    // the object, so the job fails instead.
    if (!m.hash.prefix) throw new Error("the running SHA-256 of this object was lost (crypto worker restarted)");
    hashes.set(m.hash.id, (h = createHash("sha256")));
  }
  if (m.hash.prefix) h.update(m.hash.prefix);
  return h;
}

/** The digest, on the last job (the object's hash is then forgotten). */
function digestOf(m: JobMessage, h: Hash | undefined): { sha256?: string } {
  if (!h || !m.last) return {};
  hashes.delete(m.hash!.id);
  return { sha256: h.digest("hex") };
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

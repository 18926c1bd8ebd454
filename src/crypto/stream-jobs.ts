// age STREAM work cut into independent jobs: each seals or opens a run of whole 64 KiB chunks from
// a known chunk counter (age's chunks are independent), so that jobs of one object run on several
// worker threads at once (stream-worker.ts), or in this thread where no worker can be started.
import { PayloadError, PayloadOpener, PayloadSealer } from "./age-stream.js";

export interface JobMessage {
  op: "seal" | "open";
  seq: number;
  /** The STREAM payload key of the object. */
  key: Uint8Array;
  /** The counter of the first chunk in `bufs`. */
  counter: number;
  /** The bytes, in order: whole chunks only, except for the last job. */
  bufs: Uint8Array[];
  /** `bufs` end the stream: their last chunk carries the final flag. */
  last: boolean;
}

export interface JobReply {
  seq: number;
  /** Sealed bytes, or the plaintext that authenticated (before a failure too). */
  out: Uint8Array;
  /** An open that failed: age's words for it. */
  failure?: string;
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

export const view = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export function runJob(m: JobMessage): JobReply {
  const key = view(m.key);
  const bufs = m.bufs.map(view);
  if (m.op === "seal") {
    const sealer = new PayloadSealer(key, m.counter);
    const out: Buffer[] = [];
    bufs.forEach((b, i) => out.push(...(i === bufs.length - 1 && !m.last ? sealer.pushMiddle(b) : sealer.push(b))));
    if (m.last) out.push(sealer.end());
    return { seq: m.seq, out: joined(out) };
  }
  const opener = new PayloadOpener(key, m.counter);
  const out: Buffer[] = [];
  try {
    bufs.forEach((b, i) => out.push(...opener.push(b, i === bufs.length - 1 && !m.last)));
    if (m.last) out.push(...opener.end());
    return { seq: m.seq, out: joined(out) };
  } catch (err) {
    if (!(err instanceof PayloadError)) throw err;
    return { seq: m.seq, out: joined([...out, ...err.released]), failure: err.message };
  }
}

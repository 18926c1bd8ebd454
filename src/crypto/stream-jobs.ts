// The per-object crypto work of the data path — age STREAM sealing or opening plus the SHA-256 and
// size of the stored bytes — as sessions driven by messages, so that it runs the same on a worker
// thread (stream-worker.ts) or, where no worker can be started, in this thread.
import { createHash, type Hash } from "node:crypto";
import { NONCE_SIZE, PayloadError, PayloadOpener, PayloadSealer, payloadKey } from "./age-stream.js";

export type JobMessage =
  | { op: "seal"; id: number; key: Uint8Array; head: Uint8Array }
  | { op: "open"; id: number; fileKey: Uint8Array; size: number; sha256: string; head: Uint8Array; headerLength: number }
  | { op: "data"; id: number; buf: Uint8Array }
  | { op: "end"; id: number }
  | { op: "drop"; id: number };

/** What went wrong with an object being opened; the main thread words the message with the key. */
export type JobFailure = { kind: "too-large" } | { kind: "truncated"; size: number } | { kind: "sha256" } | { kind: "payload"; message: string } | { kind: "internal"; message: string };

export interface JobReply {
  id: number;
  /** Sealed bytes (seal) or authenticated plaintext (open), in order. */
  out?: Uint8Array;
  /** seal end: the stored object's size and SHA-256. */
  done?: { bytes: number; sha256: string };
  /** open end: everything matched and authenticated. */
  ok?: boolean;
  failure?: JobFailure;
}

interface SealSession {
  type: "seal";
  sealer: PayloadSealer;
  hash: Hash;
  bytes: number;
}

interface OpenSession {
  type: "open";
  hash: Hash;
  size: number;
  expected: { size: number; sha256: string };
  fileKey: Uint8Array;
  nonce: Buffer;
  opener?: PayloadOpener;
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

const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export class StreamJobs {
  private readonly sessions = new Map<number, SealSession | OpenSession>();

  handle(m: JobMessage): JobReply | undefined {
    try {
      return this.run(m);
    } catch (err) {
      this.sessions.delete(m.id);
      return { id: m.id, failure: { kind: "internal", message: (err as Error).message } };
    }
  }

  private run(m: JobMessage): JobReply | undefined {
    switch (m.op) {
      case "seal": {
        const hash = createHash("sha256").update(m.head);
        this.sessions.set(m.id, { type: "seal", sealer: new PayloadSealer(Buffer.from(m.key)), hash, bytes: m.head.length });
        return undefined;
      }
      case "open": {
        const s: OpenSession = { type: "open", hash: createHash("sha256"), size: 0, expected: { size: m.size, sha256: m.sha256 }, fileKey: Buffer.from(m.fileKey), nonce: Buffer.alloc(0) };
        this.sessions.set(m.id, s);
        const head = asBuffer(m.head);
        if (!this.count(s, head)) return this.fail(m.id, { kind: "too-large" });
        return this.feed(m.id, s, head.subarray(m.headerLength));
      }
      case "data": {
        const s = this.sessions.get(m.id);
        if (!s) return undefined; // dropped
        const buf = asBuffer(m.buf);
        if (s.type === "seal") {
          const out = joined(s.sealer.push(buf));
          s.hash.update(out);
          s.bytes += out.length;
          return { id: m.id, out };
        }
        if (!this.count(s, buf)) return this.fail(m.id, { kind: "too-large" });
        return this.feed(m.id, s, buf);
      }
      case "end": {
        const s = this.sessions.get(m.id);
        if (!s) return undefined;
        this.sessions.delete(m.id);
        if (s.type === "seal") {
          const out = s.sealer.end();
          s.hash.update(out);
          return { id: m.id, out: joined([out]), done: { bytes: s.bytes + out.length, sha256: s.hash.digest("hex") } };
        }
        // As the stored bytes are checked before they are decrypted: size and SHA-256 first.
        if (s.size !== s.expected.size) return { id: m.id, failure: { kind: "truncated", size: s.size } };
        if (s.hash.digest("hex") !== s.expected.sha256) return { id: m.id, failure: { kind: "sha256" } };
        if (!s.opener) return { id: m.id, failure: { kind: "payload", message: "file truncated before the payload" } };
        try {
          const rest = s.opener.end();
          return { id: m.id, out: joined(rest), ok: true };
        } catch (err) {
          if (!(err instanceof PayloadError)) throw err;
          return { id: m.id, out: joined(err.released), failure: { kind: "payload", message: err.message } };
        }
      }
      case "drop":
        this.sessions.delete(m.id);
        return undefined;
    }
  }

  /** Counts and hashes stored bytes; false once there are more than complete.json recorded. */
  private count(s: OpenSession, buf: Buffer): boolean {
    s.size += buf.length;
    if (s.size > s.expected.size) return false;
    s.hash.update(buf);
    return true;
  }

  private feed(id: number, s: OpenSession, payload: Buffer): JobReply {
    if (!s.opener) {
      s.nonce = Buffer.concat([s.nonce, payload]);
      if (s.nonce.length < NONCE_SIZE) return { id };
      s.opener = new PayloadOpener(payloadKey(s.fileKey, s.nonce.subarray(0, NONCE_SIZE)));
      payload = s.nonce.subarray(NONCE_SIZE);
    }
    try {
      return { id, out: joined(s.opener.push(payload)) };
    } catch (err) {
      if (!(err instanceof PayloadError)) throw err;
      this.sessions.delete(id);
      return { id, out: joined(err.released), failure: { kind: "payload", message: err.message } };
    }
  }

  private fail(id: number, failure: JobFailure): JobReply {
    this.sessions.delete(id);
    return { id, failure };
  }
}

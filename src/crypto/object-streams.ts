// The stored side of the data path: plaintext → age file (+ its size and SHA-256) on the way to a
// store, and stored bytes → size/SHA-256 check + age decryption on the way back. The age header is
// built and opened here (the reference library); the payload and the hashing run on the crypto
// worker (stream-pool.ts), fed with large buffers that are handed over, not copied.
import { createHash, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { StrongboxError } from "../errors.js";
import { buildHeader, corrupt, findHeaderEnd, MAX_HEADER, openHeader } from "./age.js";
import type { Identity } from "./age-keys.js";
import { NONCE_SIZE, payloadKey } from "./age-stream.js";
import type { JobFailure, JobReply } from "./stream-jobs.js";
import { Batch, streamPool, transferable, type JobSession, type StreamPool } from "./stream-pool.js";

/** Buffers handed to the worker at a time, and how many may be on their way at once. */
const BATCH = 1024 * 1024;
const IN_FLIGHT = 4;

const view = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Sends a session's messages in order, at most IN_FLIGHT unanswered; replies come back in order. */
class Flow {
  inflight = 0;
  failure?: Error;
  private waiters: (() => void)[] = [];

  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  /** Resolves when fewer than `max` messages are unanswered (0: all answered). */
  async room(max: number): Promise<void> {
    while (!this.failure && this.inflight > max) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }
}

export type SealedStream = Transform & { readonly stored: { bytes: number; sha256: string } };

/** Encrypts a byte stream to age recipients; `stored` gives the size and SHA-256 of the age file once it ended. */
export function createSealStream(recipients: string[], pool: StreamPool = streamPool()): SealedStream {
  if (recipients.length === 0) throw new StrongboxError("CRYPTO", "no age recipients configured");
  const flow = new Flow();
  const batch = new Batch(BATCH);
  let session: JobSession | undefined;
  let stored: { bytes: number; sha256: string } | undefined;

  const onReply = (r: JobReply) => {
    flow.inflight--;
    if (r.out?.byteLength) t.push(view(r.out));
    if (r.done) stored = r.done;
    if (r.failure) {
      const err = new StrongboxError("CRYPTO", `age: sealing failed (${r.failure.kind === "internal" ? r.failure.message : r.failure.kind})`);
      flow.fail(err);
      t.destroy(err);
    }
    flow.wake();
  };
  const start = async () => {
    let built;
    try {
      built = await buildHeader(recipients);
    } catch (err) {
      throw new StrongboxError("CRYPTO", `age: cannot encrypt to the recipients (${(err as Error).message})`);
    }
    const nonce = randomBytes(NONCE_SIZE);
    t.push(built.header);
    t.push(nonce);
    session = pool.open(onReply, (err) => {
      flow.fail(err);
      t.destroy(err);
    });
    session.post({ op: "seal", key: payloadKey(built.fileKey, nonce), head: Buffer.concat([built.header, nonce]) });
  };
  const send = async (b: Buffer | undefined) => {
    if (!b) return;
    await flow.room(IN_FLIGHT - 1);
    flow.inflight++;
    session!.post({ op: "data", buf: b }, [b.buffer as ArrayBuffer]);
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      (async () => {
        if (!session) await start();
        await send(batch.add(chunk));
      })().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      (async () => {
        if (!session) await start();
        await send(batch.take());
        flow.inflight++;
        session!.post({ op: "end" });
        await flow.room(0);
        if (!stored) throw new StrongboxError("CRYPTO", "age: the sealed stream did not finish");
        session!.close();
      })().then(() => cb(), cb);
    },
    destroy(err, cb) {
      session?.close();
      flow.fail(err ?? new StrongboxError("CRYPTO", "age: sealing stopped"));
      cb(err);
    },
  }) as SealedStream;
  Object.defineProperty(t, "stored", {
    get: () => {
      if (!stored) throw new Error("createSealStream: stream not finished");
      return stored;
    },
  });
  return t;
}

/** The stored object as complete.json records it. */
export interface StoredObject {
  key: string;
  size: number;
  sha256: string;
}

function failureError(o: StoredObject, f: JobFailure): StrongboxError {
  switch (f.kind) {
    case "too-large":
      return new StrongboxError("VERIFY", `${o.key}: larger than recorded in complete.json (corrupt)`);
    case "truncated":
      return new StrongboxError("VERIFY", `${o.key}: ${f.size} bytes, complete.json says ${o.size} (truncated)`);
    case "sha256":
      return new StrongboxError("VERIFY", `${o.key}: SHA-256 mismatch (stored object is corrupt)`);
    case "payload":
      return corrupt(f.message);
    case "internal":
      return new StrongboxError("CRYPTO", `age: opening failed (${f.message})`);
  }
}

/**
 * Stored bytes → plaintext. Fails unless the object has exactly the size and SHA-256 that
 * complete.json records and every age chunk, the last one included, authenticates.
 */
export function createOpenStream(object: StoredObject, identities: Identity[], onBytes?: (n: number) => void, pool: StreamPool = streamPool()): Transform {
  const flow = new Flow();
  const batch = new Batch(BATCH);
  let session: JobSession | undefined;
  let head: Buffer = Buffer.alloc(0);
  let ok = false;

  const onReply = (r: JobReply) => {
    flow.inflight--;
    if (r.out?.byteLength) t.push(view(r.out));
    if (r.ok) ok = true;
    if (r.failure) {
      const err = failureError(object, r.failure);
      flow.fail(err);
      t.destroy(err);
    }
    flow.wake();
  };
  const send = async (b: Buffer | undefined) => {
    if (!b) return;
    await flow.room(IN_FLIGHT - 1);
    flow.inflight++;
    session!.post({ op: "data", buf: b }, [b.buffer as ArrayBuffer]);
  };
  /** Before the header is open: gather it, then hand everything so far to the worker. */
  const gather = async (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    if (head.length > object.size) throw failureError(object, { kind: "too-large" });
    const end = findHeaderEnd(head);
    if (end < 0) {
      if (head.length > MAX_HEADER) throw corrupt("not an age file (no header end within 64 KiB)");
      return;
    }
    const fileKey = await openHeader(head.subarray(0, end), identities);
    session = pool.open(onReply, (err) => {
      flow.fail(err);
      t.destroy(err);
    });
    const first = transferable(head);
    head = Buffer.alloc(0);
    flow.inflight++;
    session.post({ op: "open", fileKey, size: object.size, sha256: object.sha256, head: first, headerLength: end }, [first.buffer as ArrayBuffer]);
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      onBytes?.(chunk.length);
      if (flow.failure) return cb(flow.failure);
      (session ? send(batch.add(chunk)) : gather(chunk)).then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      (async () => {
        if (!session) {
          // The header never completed: report the stored bytes first, as the hash check would.
          if (head.length !== object.size) throw failureError(object, { kind: "truncated", size: head.length });
          if (createHash("sha256").update(head).digest("hex") !== object.sha256) throw failureError(object, { kind: "sha256" });
          throw corrupt(head.length ? "file truncated inside the header" : "empty file, not an age file");
        }
        await send(batch.take());
        flow.inflight++;
        session.post({ op: "end" });
        await flow.room(0);
        if (!ok) throw new StrongboxError("CRYPTO", "age: the opened stream did not finish");
        session.close();
      })().then(() => cb(), cb);
    },
    destroy(err, cb) {
      session?.close();
      flow.fail(err ?? new StrongboxError("VERIFY", "age: reading stopped"));
      cb(err);
    },
  });
  return t;
}

// The stored side of the data path: plaintext → age file (+ its size and SHA-256) on the way to a
// store, and stored bytes → size/SHA-256 check + age decryption on the way back. The age header is
// built and opened here (the reference library); the STREAM chunks are sealed and opened by jobs of
// about 1 MiB on the worker threads (stream-pool.ts), several at once, their buffers handed over
// rather than copied, and the stored bytes are hashed there, in order (every job of an object goes
// to one worker), the digest coming back with the last job (and, for an S3 store, each part's MD5
// with the job that completes the part).
import { Transform, type TransformCallback } from "node:stream";
import { StrongboxError } from "../errors.js";
import { StoredCheck, type PartDigests } from "../codecs/hashing.js";
import { boundedHeaderEnd, corrupt, Gathered, openHeader, startFile } from "./age.js";
import type { Identity } from "./age-keys.js";
import { CHUNK, NONCE_SIZE, SEALED, payloadKey } from "./age-stream.js";
import { pieces, view, type JobReply } from "./stream-jobs.js";
import { streamPool, type StreamPool } from "./stream-pool.js";

/** Bytes gathered before a job is sent, and jobs of one object under way at once. */
const JOB = 1024 * 1024;
const IN_FLIGHT = 3;

interface Part {
  b: Buffer;
  /** The buffer's ArrayBuffer holds nothing else that is still in use: it may be handed over. */
  own: boolean;
}

/**
 * Cuts a byte stream into jobs of whole units (age chunks), always keeping at least one byte back:
 * only the end of the stream says which chunk is the final one.
 */
class JobCutter {
  private held: Part[] = [];
  private length = 0;
  counter = 0;
  /** handOver: the writer's buffers may be transferred to the worker (emptied) when they own their memory; else copied. */
  constructor(
    private readonly unit: number,
    private readonly handOver = true,
  ) {}

  add(b: Buffer): Part[] | undefined {
    if (!b.length) return undefined;
    this.held.push({
      b,
      own:
        this.handOver &&
        b.byteOffset === 0 &&
        b.byteLength === b.buffer.byteLength &&
        !(b.buffer instanceof SharedArrayBuffer),
    });
    this.length += b.length;
    if (this.length <= JOB) return undefined;
    const jobLength = this.length - (this.length % this.unit || this.unit);
    let want = jobLength;
    let i = 0;
    while (this.held[i].b.length <= want) want -= this.held[i++].b.length;
    const job = this.held.slice(0, i);
    const rest = this.held.slice(i);
    if (want > 0) {
      // The part on the edge: its tail is copied out before its buffer is handed over.
      const p = rest[0];
      job.push({ b: p.b.subarray(0, want), own: p.own });
      rest[0] = { b: Buffer.from(p.b.subarray(want)), own: false };
    }
    this.held = rest;
    this.length -= jobLength;
    this.counter += jobLength / this.unit;
    return job;
  }

  rest(): Part[] {
    const all = this.held;
    this.held = [];
    this.length = 0;
    return all;
  }
}

/** The job's buffers and what to transfer: own buffers go as they are, the rest as one copy. */
function pack(parts: Part[]): { bufs: Buffer[]; transfer: ArrayBuffer[] } {
  const bufs: Buffer[] = [];
  const transfer = new Set<ArrayBuffer>();
  let copied: Buffer[] = [];
  const flushCopied = () => {
    if (!copied.length) return;
    const one = Buffer.allocUnsafeSlow(copied.reduce((n, b) => n + b.length, 0));
    let off = 0;
    for (const b of copied) off += b.copy(one, off);
    bufs.push(one);
    transfer.add(one.buffer as ArrayBuffer);
    copied = [];
  };
  for (const p of parts) {
    if (p.own && !transfer.has(p.b.buffer as ArrayBuffer)) {
      flushCopied();
      bufs.push(p.b);
      transfer.add(p.b.buffer as ArrayBuffer);
    } else copied.push(p.b);
  }
  flushCopied();
  return { bufs, transfer: [...transfer] };
}

let nextHashId = 1;

/**
 * The jobs of one object: its bytes cut into whole chunks, sent to the pool with their counters,
 * at most IN_FLIGHT under way, their answers handed to `emit` in the order the jobs were sent.
 */
class ChunkJobs {
  private readonly cutter: JobCutter;
  private readonly queue: Promise<JobReply>[] = [];
  /** The object's STREAM key, known once its header is built or opened. */
  key?: Buffer;
  /** The stored bytes before the payload (age header and nonce): hashed, where the jobs run, before the first job's bytes. */
  prefix?: Buffer;
  private readonly hashId = nextHashId++;
  /** A part size: the MD5 of each part of the stored bytes comes back with the replies (stream-jobs.ts). */
  md5Part?: number;
  private readonly pinned: number;
  private ended = false;
  private sent = false;
  private abandoned = false;

  constructor(
    private readonly op: "seal" | "open",
    private readonly pool: StreamPool,
    private readonly emit: (r: JobReply) => void,
    handOver = true,
  ) {
    this.cutter = new JobCutter(op === "seal" ? CHUNK : SEALED, handOver);
    this.pinned = pool.pin();
  }

  private send(parts: Part[], counter: number, last: boolean): void {
    if (this.abandoned) return; // torn down while its header was being built or opened: nothing more goes out
    const { bufs, transfer } = pack(parts);
    const hash = {
      id: this.hashId,
      ...(this.prefix ? { prefix: this.prefix } : {}),
      ...(this.md5Part ? { md5Part: this.md5Part } : {}),
    };
    this.prefix = undefined;
    // The whole object in one job (a small one): the pool may run it here rather than start a worker for it.
    const whole = last && !this.sent;
    this.sent = true;
    if (last) this.ended = true;
    const p = this.pool.run({ op: this.op, key: this.key!, counter, bufs, last, hash }, transfer, this.pinned, {
      whole,
    });
    p.catch(() => {}); // awaited in order by drain; an early rejection is not unhandled
    this.queue.push(p);
  }

  /** A stream torn down before its last job: the hash kept for it where the jobs run is dropped. */
  abandon(): void {
    this.abandoned = true;
    if (!this.sent || this.ended) return;
    this.ended = true;
    this.pool
      .run(
        { op: "forget", key: Buffer.alloc(0), counter: 0, bufs: [], last: true, hash: { id: this.hashId } },
        [],
        this.pinned,
      )
      .catch(() => {});
  }

  private async drain(keep: number): Promise<void> {
    while (this.queue.length > keep) this.emit(await this.queue.shift()!);
  }

  async add(b: Buffer): Promise<void> {
    const counter = this.cutter.counter;
    const job = this.cutter.add(b);
    if (!job) return;
    this.send(job, counter, false);
    await this.drain(IN_FLIGHT - 1);
  }

  /** Sends what is held as the last job, with the final chunk, and waits for every answer. */
  async end(): Promise<void> {
    this.send(this.cutter.rest(), this.cutter.counter, true);
    await this.drain(0);
  }
}

export type SealedStream = Transform & {
  readonly stored: { bytes: number; sha256: string };
  /** With `md5Parts`: the MD5 of each part of the stored bytes, known by the time its last byte is read. */
  readonly partMd5?: PartDigests;
};

/**
 * Encrypts a byte stream to age recipients; `stored` gives the size and SHA-256 of the age file once it ended.
 *
 * The buffers written to it are copied before they go to a worker thread, and stay the writer's.
 * `handOver: true` skips that copy: a written buffer that owns its whole memory is then transferred
 * to the worker and EMPTIED (length 0) in the writer's hands. Only for writers that never touch a
 * buffer again once written (the backup pipeline's sources and compressors).
 *
 * `md5Parts` (an S3 store's part size): the thread that seals and hashes the stored bytes also takes
 * the MD5 of each run of that many bytes, for the parts' Content-MD5 (`partMd5`). The store's own
 * thread hashed them before, ~1 core-second per 600 MB on the thread that runs the whole backup.
 */
export function createSealStream(
  recipients: string[],
  pool: StreamPool = streamPool(),
  o: { handOver?: boolean; md5Parts?: number } = {},
): SealedStream {
  if (recipients.length === 0) throw new StrongboxError("CRYPTO", "no age recipients configured");
  let bytes = 0;
  let sha256: string | undefined;
  let stored: { bytes: number; sha256: string } | undefined;
  const out = (b: Buffer) => {
    bytes += b.length;
    t.push(b);
  };
  /** Part i's MD5, from the replies (md5Parts). */
  const md5s: Buffer[] = [];
  const jobs = new ChunkJobs(
    "seal",
    pool,
    (r) => {
      if (r.failure) throw new StrongboxError("CRYPTO", `age: sealing failed (${r.failure})`);
      // The digests before the bytes: a part's MD5 is there before its last byte can be read.
      for (const d of r.md5 ?? []) md5s.push(Buffer.from(d, "base64"));
      for (const o of pieces(r.out)) if (o.byteLength) out(view(o));
      if (r.sha256) sha256 = r.sha256;
    },
    o.handOver ?? false,
  );
  jobs.md5Part = o.md5Parts;
  const start = async () => {
    const file = await startFile(recipients);
    out(file.header);
    out(file.nonce);
    jobs.prefix = Buffer.concat([file.header, file.nonce]);
    jobs.key = file.key;
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      (async () => {
        if (!jobs.key) await start();
        await jobs.add(chunk);
      })().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      (async () => {
        if (!jobs.key) await start();
        await jobs.end();
        if (!sha256) throw new StrongboxError("CRYPTO", "age: sealing ended without the stored bytes' SHA-256");
        stored = { bytes, sha256 };
      })().then(() => cb(), cb);
    },
    destroy(err, cb) {
      jobs.abandon();
      cb(err);
    },
  }) as SealedStream;
  if (o.md5Parts) {
    const size = o.md5Parts;
    Object.defineProperty(t, "partMd5", { value: { size, get: (index: number) => md5s[index] } });
  }
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

/**
 * Stored bytes → plaintext. The buffers written to it are handed over to a worker thread (emptied)
 * when they own their whole memory: feed it only buffers nobody reads afterwards (a store's response).
 * Fails unless the object has exactly the size and SHA-256 that
 * complete.json records and every age chunk, the last one included, authenticates.
 */
export function createOpenStream(
  object: StoredObject,
  identities: Identity[],
  onBytes?: (n: number) => void,
  pool: StreamPool = streamPool(),
): Transform {
  // Size here, SHA-256 where the jobs run: the last job's answer carries it, and it is checked
  // before that job's plaintext (the end of the object) is released.
  const check = new StoredCheck(object, { hashed: false });
  const gathered = new Gathered();
  let head: Buffer | undefined = Buffer.alloc(0);
  let headerBytes: Buffer | undefined;
  let fileKey: Buffer | undefined;
  const jobs = new ChunkJobs("open", pool, (r) => {
    if (r.sha256 !== undefined) check.finishDigest(r.sha256);
    for (const o of pieces(r.out)) if (o.byteLength) t.push(view(o));
    if (r.failure) throw corrupt(r.failure);
  });
  /** Until the payload starts: gather the header and the nonce. */
  const gather = async (chunk: Buffer) => {
    if (!fileKey) {
      const from = gathered.length;
      const all = gathered.push(chunk);
      const end = boundedHeaderEnd(all, from);
      if (end < 0) return;
      fileKey = await openHeader(all.subarray(0, end), identities);
      headerBytes = Buffer.from(all.subarray(0, end));
      head = all.subarray(end);
    } else head = Buffer.concat([head!, chunk]);
    if (head.length < NONCE_SIZE) return;
    jobs.key = payloadKey(fileKey, head.subarray(0, NONCE_SIZE));
    jobs.prefix = Buffer.concat([headerBytes!, head.subarray(0, NONCE_SIZE)]);
    const rest = Buffer.from(head.subarray(NONCE_SIZE));
    head = undefined;
    await jobs.add(rest);
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      onBytes?.(chunk.length);
      try {
        check.update(chunk);
      } catch (err) {
        return cb(err as Error);
      }
      (jobs.key ? jobs.add(chunk) : gather(chunk)).then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      (async () => {
        // As the stored bytes are checked before they are decrypted: size and SHA-256 first.
        check.finish();
        if (!fileKey)
          throw corrupt(gathered.length ? "file truncated inside the header" : "empty file, not an age file");
        if (!jobs.key) throw corrupt("file truncated before the payload");
        await jobs.end();
        check.requireDigest();
      })().then(() => cb(), cb);
    },
    destroy(err, cb) {
      jobs.abandon();
      cb(err);
    },
  });
  return t;
}

// One worker thread for the sealing/opening and hashing of stored objects, shared by every stream of
// the process: the main thread keeps reading files, framing tar and talking to the store. Where no
// worker can be started (a single-file build, STRONGBOX_CRYPTO_THREADS=0) the same jobs run inline.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { StreamJobs, type JobMessage, type JobReply } from "./stream-jobs.js";

type Body = JobMessage extends infer M ? (M extends { id: number } ? Omit<M, "id"> : never) : never;

export interface JobSession {
  /** Sends one message of this session; `transfer` hands buffers over without a copy. */
  post(m: Body, transfer?: ArrayBuffer[]): void;
  close(): void;
}

interface Handlers {
  reply: (r: JobReply) => void;
  error: (err: Error) => void;
}

function workerUrl(): URL | undefined {
  try {
    const here = new URL("./stream-worker.js", import.meta.url);
    if (existsSync(fileURLToPath(here))) return here;
    // Run from the TypeScript sources (the test runner): the built worker.
    const built = new URL("../../dist/crypto/stream-worker.js", import.meta.url);
    return existsSync(fileURLToPath(built)) ? built : undefined;
  } catch {
    return undefined; // bundled without import.meta (the single-file build)
  }
}

export class StreamPool {
  private worker?: Worker;
  private inline?: StreamJobs;
  private readonly sessions = new Map<number, Handlers>();
  private nextId = 1;

  constructor(private readonly o: { inline?: boolean } = {}) {}

  /** Whether the jobs run on a worker thread (false: inline, where no worker can be started). */
  get threaded(): boolean {
    this.start();
    return !this.inline;
  }

  private start(): Worker | undefined {
    if (this.worker || this.inline) return this.worker;
    const url = this.o.inline ? undefined : workerUrl();
    if (!url) {
      this.inline = new StreamJobs();
      return undefined;
    }
    // Its own flags: what the main thread was started with (--input-type, --eval …) may not suit a worker.
    const w = new Worker(url, { execArgv: [] });
    w.on("message", (r: JobReply) => this.sessions.get(r.id)?.reply(r));
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const h of this.sessions.values()) h.error(err);
      this.sessions.clear();
    };
    w.on("error", (err) => fail(new Error(`crypto worker failed: ${err.message}`)));
    w.on("exit", (code) => fail(new Error(`crypto worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  /** Keeps the process alive only while a session waits for the worker. */
  private refresh(): void {
    if (!this.worker) return;
    if (this.sessions.size) this.worker.ref();
    else this.worker.unref();
  }

  open(reply: (r: JobReply) => void, error: (err: Error) => void): JobSession {
    const worker = this.start();
    const id = this.nextId++;
    this.sessions.set(id, { reply, error });
    this.refresh();
    const jobs = this.inline;
    return {
      post: (m, transfer = []) => {
        const msg = { ...m, id } as JobMessage;
        if (jobs) {
          const r = jobs.handle(msg);
          if (r) queueMicrotask(() => this.sessions.get(id)?.reply(r));
          return;
        }
        if (this.worker !== worker || !worker) return error(new Error("crypto worker is gone"));
        worker.postMessage(msg, transfer);
      },
      close: () => {
        if (!this.sessions.delete(id)) return;
        if (jobs) jobs.handle({ op: "drop", id });
        else if (this.worker === worker) worker?.postMessage({ op: "drop", id });
        this.refresh();
      },
    };
  }
}

let pool: StreamPool | undefined;
export function streamPool(): StreamPool {
  return (pool ??= new StreamPool({ inline: process.env.STRONGBOX_CRYPTO_THREADS === "0" }));
}

/** A buffer the worker may take over: its own whole ArrayBuffer (never a slice of a shared pool). */
export function transferable(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)) return b;
  const own = Buffer.allocUnsafeSlow(b.length);
  b.copy(own);
  return own;
}

/** Gathers small chunks into one transferable buffer of at least `min` bytes. */
export class Batch {
  private parts: Buffer[] = [];
  length = 0;
  constructor(private readonly min: number) {}
  add(b: Buffer): Buffer | undefined {
    if (!b.length) return undefined;
    this.parts.push(b);
    this.length += b.length;
    return this.length >= this.min ? this.take() : undefined;
  }
  take(): Buffer | undefined {
    if (!this.length) return undefined;
    const out = this.parts.length === 1 ? transferable(this.parts[0]) : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    // Buffer.concat of over half the pool size allocates its own ArrayBuffer; small ones may not.
    return transferable(out);
  }
}

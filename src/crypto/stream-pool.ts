// Worker threads for the age STREAM jobs of stored objects (stream-jobs.ts), shared by every stream
// of the process, so that sealing and opening run beside the main thread's tar, hashing and I/O.
// Where no worker can be started (the single-file build) the jobs run inline.
import { Worker } from "node:worker_threads";
import { framePool } from "../codecs/block-pool.js";
import { workerFile } from "../worker-file.js";
import { runJob, type JobMessage, type JobReply } from "./stream-jobs.js";

interface Pending {
  resolve: (r: JobReply) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class StreamPool {
  private slots: (Slot | undefined)[];
  private nextSeq = 1;
  private turn = 0;
  private readonly url: URL | undefined;

  constructor(o: { inline?: boolean; threads?: number } = {}) {
    this.url = o.inline ? undefined : workerFile(import.meta.url, "crypto", "stream-worker.js");
    // One worker by default: on 2 cores a second one only takes time from the main thread's hashing
    // (media backup here: 1 worker 3.7–4.1 s, 2 workers 4.1–4.3 s and +90 MB RSS, inline 5.0 s).
    this.slots = new Array(o.threads ?? 1).fill(undefined);
  }

  /** Whether jobs run on worker threads (false: inline, where no worker can be started). */
  get threaded(): boolean {
    return this.url !== undefined;
  }

  private slot(i: number): Slot {
    const have = this.slots[i];
    if (have) return have;
    // Its own flags: what the main thread was started with (--input-type, --eval …) may not suit a worker.
    const worker = new Worker(this.url!, { execArgv: [] });
    const slot: Slot = { worker, pending: new Map() };
    worker.on("message", (r: JobReply) => {
      if (r.back) for (const ab of r.back) framePool.adopt(ab);
      const p = slot.pending.get(r.seq);
      slot.pending.delete(r.seq);
      this.refresh(slot);
      p?.resolve(r);
    });
    const fail = (err: Error) => {
      if (this.slots[i] !== slot) return;
      this.slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on("error", (err) => fail(new Error(`crypto worker failed: ${err.message}`)));
    worker.on("exit", (code) => fail(new Error(`crypto worker exited (code ${code})`)));
    this.slots[i] = slot;
    return slot;
  }

  /** A worker keeps the process alive only while a job waits for it. */
  private refresh(slot: Slot): void {
    if (slot.pending.size) slot.worker.ref();
    else slot.worker.unref();
  }

  /**
   * A worker for every job of one object (jobs that carry its running hash must meet it in order):
   * objects are spread over the workers, each object's jobs stay on one.
   */
  pin(): number {
    return this.turn++ % this.slots.length;
  }

  /**
   * Runs one job (on the pinned worker, if given); the buffers in `transfer` are handed over to the worker, not copied.
   * `whole`: the job is its object's first and last (a payload of at most one job): it runs in this thread
   * unless its worker is already running. A worker's start costs about 0.2 CPU-seconds, sealing a job of
   * 1 MiB a few milliseconds; both run the same runJob, so the bytes and the checks are the same either way.
   */
  run(
    m: Omit<JobMessage, "seq">,
    transfer: ArrayBuffer[] = [],
    pinned?: number,
    o: { whole?: boolean } = {},
  ): Promise<JobReply> {
    const seq = this.nextSeq++;
    const msg = { ...m, seq } as JobMessage;
    const i = pinned ?? this.turn++ % this.slots.length;
    if (!this.url || (o.whole && !this.slots[i])) return runInline(msg);
    const slot = this.slot(i);
    return new Promise<JobReply>((resolve, reject) => {
      slot.pending.set(seq, { resolve, reject });
      this.refresh(slot);
      slot.worker.postMessage(msg, transfer);
    });
  }
}

/** A job in this thread, after the current callbacks (as a worker's answer would come). */
function runInline(msg: JobMessage): Promise<JobReply> {
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      try {
        resolve(runJob(msg));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

let pool: StreamPool | undefined;
export function streamPool(): StreamPool {
  // STRONGBOX_CRYPTO_THREADS: how many worker threads (0: inline); default 1.
  const n = Number(process.env.STRONGBOX_CRYPTO_THREADS ?? NaN);
  return (pool ??=
    Number.isInteger(n) && n >= 0 && n <= 16
      ? new StreamPool({ inline: n === 0, threads: Math.max(1, n) })
      : new StreamPool());
}

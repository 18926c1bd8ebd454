// The total size of the files a full backup will archive, for its ETA, counted beside the backup.
import { Worker } from "node:worker_threads";
import { workerFile } from "../worker-file.js";
import { makeExcluder } from "./glob.js";
import { walkEntries } from "./walk.js";

type CountOptions = { exclude: string[]; oneFileSystem?: boolean };

/** The bytes of the files below root that a backup archives (excludes applied), by one walk. */
export function treeBytes(root: string, o: CountOptions): number {
  let bytes = 0;
  for (const e of walkEntries(root, {
    exclude: makeExcluder(o.exclude),
    oneFileSystem: o.oneFileSystem,
    warn: () => {},
  }))
    bytes += e.size;
  return bytes;
}

export interface TreeSize {
  /** Calls back once with the total (not at all if the count fails or is stopped first). */
  onTotal(cb: (bytes: number) => void): void;
  /** Stops the count if it is still running; always called once the backup of the tree is over. */
  stop(): Promise<void>;
}

/**
 * A backup over sooner than this shows no ETA, so it never starts the count: a worker thread costs
 * about 0.2 CPU-seconds to start, more than the whole backup of a few small files.
 */
export const COUNT_AFTER_MS = 1000;

/**
 * Counts on a worker thread, so the main thread walks the tree only once (to archive it), started
 * `afterMs` into the backup; where no worker can start (the single-file build), counts inline first,
 * as a second walk.
 */
export function countTree(root: string, o: CountOptions & { afterMs?: number }): TreeSize {
  const url = workerFile(import.meta.url, "archive", "count-worker.js");
  if (!url) {
    const bytes = treeBytes(root, o);
    return { onTotal: (cb) => cb(bytes), stop: async () => {} };
  }
  let total: number | undefined;
  let listener: ((bytes: number) => void) | undefined;
  let stopped = false;
  let exited: Promise<void> | undefined;
  let worker: Worker | undefined;
  const start = () => {
    // Small: it holds one directory listing at a time.
    const w = new Worker(url, {
      workerData: { root, exclude: o.exclude, oneFileSystem: o.oneFileSystem },
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
    });
    // An ETA is a nicety: the count never keeps the process alive (stop() still ends it when the backup does).
    w.unref();
    exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
    w.on("message", (m: { bytes?: number }) => {
      if (typeof m.bytes !== "number" || stopped) return;
      total = m.bytes;
      listener?.(total);
    });
    w.on("error", () => {}); // an ETA is a nicety: a failed count only leaves it out
    worker = w;
  };
  const timer = setTimeout(start, o.afterMs ?? COUNT_AFTER_MS);
  timer.unref();
  return {
    onTotal: (cb) => {
      if (stopped) return;
      listener = cb;
      if (total !== undefined) cb(total);
    },
    stop: async () => {
      stopped = true;
      listener = undefined;
      clearTimeout(timer);
      await worker?.terminate();
      await exited;
    },
  };
}

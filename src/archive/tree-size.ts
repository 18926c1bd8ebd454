// The total size of the files a full backup will archive, for its ETA, counted beside the backup.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { makeExcluder } from "./glob.js";
import { walkEntries } from "./walk.js";

function workerUrl(): URL | undefined {
  try {
    const here = new URL("./count-worker.js", import.meta.url);
    if (existsSync(fileURLToPath(here))) return here;
    const built = new URL("../../dist/archive/count-worker.js", import.meta.url); // run from the sources (tests)
    return existsSync(fileURLToPath(built)) ? built : undefined;
  } catch {
    return undefined; // bundled without import.meta (the single-file build)
  }
}

export interface TreeSize {
  /** Calls back once with the total (not at all if the count fails or is stopped first). */
  onTotal(cb: (bytes: number) => void): void;
  /** Stops the count if it is still running; always called once the backup of the tree is over. */
  stop(): Promise<void>;
}

/**
 * Counts on a worker thread, so the main thread walks the tree only once (to archive it); where no
 * worker can start (the single-file build), counts inline first, as a second walk.
 */
export function countTree(root: string, o: { exclude: string[]; oneFileSystem?: boolean }): TreeSize {
  const url = workerUrl();
  if (!url) {
    let bytes = 0;
    for (const e of walkEntries(root, { exclude: makeExcluder(o.exclude), oneFileSystem: o.oneFileSystem, warn: () => {} })) bytes += e.size;
    return { onTotal: (cb) => cb(bytes), stop: async () => {} };
  }
  let total: number | undefined;
  let listener: ((bytes: number) => void) | undefined;
  let stopped = false;
  // Small: it holds one directory listing at a time.
  const worker = new Worker(url, { workerData: { root, exclude: o.exclude, oneFileSystem: o.oneFileSystem }, resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 } });
  // An ETA is a nicety: the count never keeps the process alive (stop() still ends it when the backup does).
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  worker.on("message", (m: { bytes?: number }) => {
    if (typeof m.bytes !== "number" || stopped) return;
    total = m.bytes;
    listener?.(total);
  });
  worker.on("error", () => {}); // an ETA is a nicety: a failed count only leaves it out
  return {
    onTotal: (cb) => {
      if (stopped) return;
      listener = cb;
      if (total !== undefined) cb(total);
    },
    stop: async () => {
      stopped = true;
      listener = undefined;
      await worker.terminate();
      await exited;
    },
  };
}

// The size of a tree, summed on a worker thread: the ETA of a full backup needs it before the
// archive is done, and walking the tree a second time on the main thread costs as much as the
// walk that archives it (20,000 small files: ~0.4 s of lstat). See tree-size.ts.
import { parentPort, workerData } from "node:worker_threads";
import { treeBytes } from "./tree-size.js";

const { root, exclude, oneFileSystem } = workerData as { root: string; exclude: string[]; oneFileSystem?: boolean };
try {
  parentPort!.postMessage({ bytes: treeBytes(root, { exclude, oneFileSystem }) });
} catch {
  parentPort!.postMessage({ bytes: undefined });
}

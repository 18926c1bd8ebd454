import type { EntrySink } from "./tar-read.js";
import type { TreeSink } from "./tree-pass.js";

export const discard: EntrySink = { write() {}, end() {} };

/**
 * A partial restore: the pass reads and checks the whole tree as a full restore does (every file
 * hashed and matched against the manifest), but only selected entries reach `inner`. The disk
 * sink makes a written entry's missing parent directories itself.
 */
export function selectSink(inner: TreeSink, select: (path: string) => boolean, onWritten?: () => void): TreeSink {
  const chosen = (rel: string) => {
    const yes = select(rel);
    if (yes) onWritten?.();
    return yes;
  };
  return {
    ...(inner.root ? { root: (e) => inner.root!(e) } : {}),
    dir: async (rel, e) => (chosen(rel) ? inner.dir(rel, e) : undefined),
    symlink: async (rel, e) => (chosen(rel) ? inner.symlink(rel, e) : undefined),
    file: async (rel, e) => (chosen(rel) ? inner.file(rel, e) : discard),
    finish: () => inner.finish(),
  };
}

import type { TarEntry } from "./tar-header.js";
import type { EntrySink } from "./tar-read.js";
import type { TreeSink } from "./tree-pass.js";

export const discard: EntrySink = { write() {}, end() {} };

/**
 * A partial restore: the pass reads and checks the whole tree as a full restore does (every file
 * hashed and matched against the manifest), but only selected entries reach `inner`. A selected
 * entry's parent directories that were not selected themselves are written just before it, with
 * their own modes and times: they are held (at most the tree's depth) until something below them
 * is selected, and dropped when the pass leaves them without that.
 */
export function selectSink(
  inner: TreeSink,
  select: (path: string) => boolean,
): TreeSink & { selects: (path: string) => boolean } {
  let pending: { rel: string; e: TarEntry }[] = [];
  /** Whether `rel` is written; first its held parents, outermost first. */
  async function chosen(rel: string, e: TarEntry): Promise<boolean> {
    while (pending.length && !rel.startsWith(`${pending[pending.length - 1].rel}/`)) pending.pop();
    if (!select(rel)) {
      if (e.type === "dir") pending.push({ rel, e });
      return false;
    }
    const parents = pending;
    pending = [];
    for (const p of parents) await inner.dir(p.rel, p.e);
    return true;
  }
  return {
    ...(inner.root ? { root: (e) => inner.root!(e) } : {}),
    dir: async (rel, e) => ((await chosen(rel, e)) ? inner.dir(rel, e) : undefined),
    symlink: async (rel, e) => ((await chosen(rel, e)) ? inner.symlink(rel, e) : undefined),
    file: async (rel, e) => ((await chosen(rel, e)) ? inner.file(rel, e) : discard),
    finish: () => inner.finish(),
    selects: select,
  };
}

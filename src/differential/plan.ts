import type { ManifestEntry } from "../archive/tar-pack.js";
import type { WalkEntry } from "../archive/walk.js";
import type { FullState, StateEntry } from "./state.js";

/** What a differential stores: every directory's dumpdir, and which files are unchanged since the full. */
export interface DiffPlan {
  base: FullState;
  /** Unchanged files and symlinks: listed in the manifest with the full's hash, not read, not stored. */
  unchanged: Map<string, ManifestEntry>;
  /** Directory path ("" for the source's root) → its GNU dumpdir. */
  dumpdirs: Map<string, string>;
  changedFiles: number;
  changedBytes: number;
}

function sameAsFull(e: WalkEntry, b: StateEntry | undefined): boolean {
  if (!b || b.type !== e.type || b.mtime !== e.mtime || b.ctime !== e.ctime || b.ino !== e.ino) return false;
  return e.type === "file" ? b.size === e.size : b.target === e.linkname;
}

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/**
 * Compares the tree as walked now with the last full's state. A file counts as unchanged when its
 * type, size, mtime (ns), ctime (ns) and inode all match; unchanged files are never read. Returns
 * the plan, or why this backup must be a full instead.
 */
export function planDifferential(
  entries: WalkEntry[],
  base: FullState,
): { plan: DiffPlan } | { plan?: undefined; why: string } {
  const before = new Map(base.entries.map((e) => [e.path, e]));
  const dirsBefore = new Set(base.dirs);
  const unchanged = new Map<string, ManifestEntry>();
  const listing = new Map<string, string[]>([["", []]]);
  let changedFiles = 0;
  let changedBytes = 0;
  for (const e of entries) {
    let kind: "D" | "Y" | "N";
    if (e.type === "dir") {
      kind = "D";
      listing.set(e.path, []);
      // GNU tar keeps a symlink that points to a directory where the dumpdir wants a directory, and
      // would extract through it; a file in the way it cannot replace safely either. Restore and
      // verify refuse such a differential (tree-pass.ts): the type change is stored as a full.
      const was = before.get(e.path)?.type;
      if (was) return { why: `${e.path} changed from a ${was} to a directory` };
    } else {
      // A directory of the full that is now a file or symlink: GNU tar would have to remove the
      // directory with its contents first; stored as a full too.
      if (dirsBefore.has(e.path)) return { why: `${e.path} changed from a directory to a ${e.type}` };
      const b = before.get(e.path);
      if (sameAsFull(e, b)) {
        kind = "N";
        unchanged.set(e.path, {
          path: e.path,
          type: e.type,
          size: e.type === "file" ? e.size : 0,
          mode: e.mode,
          mtime: e.mtime,
          ...(e.type === "file" ? { sha256: b!.sha256 } : { target: e.linkname }),
        });
      } else {
        kind = "Y";
        changedFiles++;
        if (e.type === "file") changedBytes += e.size;
      }
    }
    listing.get(parentOf(e.path))?.push(kind + nameOf(e.path));
  }
  if (changedBytes * 2 > base.bytes) {
    return {
      why: `the differential would hold ${changedBytes} bytes of changed files, more than half of the full's ${base.bytes}`,
    };
  }
  const dumpdirs = new Map<string, string>();
  for (const [dir, names] of listing) dumpdirs.set(dir, names.map((n) => `${n}\0`).join("") + "\0");
  return { plan: { base, unchanged, dumpdirs, changedFiles, changedBytes } };
}

/** The directories of a full, for its state (see FullState.dirs). */
export function stateDirs(recorded: ManifestEntry[]): string[] {
  return recorded.filter((e) => e.type === "dir").map((e) => e.path);
}

/** The state a full leaves behind: its files as seen by the backup host, with their hashes. */
export function stateEntries(
  recorded: ManifestEntry[],
  stats: Map<string, { ino: string; ctime: string }>,
): StateEntry[] {
  const out: StateEntry[] = [];
  for (const e of recorded) {
    if (e.type === "dir") continue;
    const st = stats.get(e.path);
    if (!st) continue;
    out.push({
      path: e.path,
      type: e.type,
      size: e.size,
      mtime: e.mtime,
      ctime: st.ctime,
      ino: st.ino,
      ...(e.type === "file" ? { sha256: e.sha256 } : { target: e.target }),
    });
  }
  return out;
}

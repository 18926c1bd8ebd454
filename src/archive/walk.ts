import { isUtf8 } from "node:buffer";
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import type { TarEntry } from "./tar-header.js";

/**
 * A tree entry as found on disk: exactly what its tar header will say (path relative, '/'-separated),
 * plus the inode and ctime (ns) that differential backups compare to find unchanged files.
 */
export type WalkEntry = TarEntry & { ino?: string; ctime?: string };

export function mtimeString(st: { mtimeNs: bigint }): string {
  const ns = st.mtimeNs;
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return frac === 0n ? String(sec) : `${sec}.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
}

/** root with one trailing "/", to which relative paths are appended (path.join costs more than the lstat on trees of small files). */
export function dirPrefix(root: string): string {
  return root.endsWith("/") ? root : `${root}/`;
}

/**
 * What a warning is about, when it is about data: a path that could not be read (its data is not in
 * the backup: the source fails unless on_unreadable is partial), or a file that changed while it was read.
 */
export type Skipped = { kind: "unreadable" | "changed"; path: string };

export type Warn = (msg: string, skipped?: Skipped) => void;

type WalkOptions = { exclude: (rel: string) => boolean; oneFileSystem?: boolean; warn: Warn };

/**
 * Lists a directory tree (synchronous calls: a stat is microseconds, a thread-pool round trip
 * costs more than that on trees of many small files) in tree order (path-order.ts: sorted, depth
 * first) without following symlinks, one entry at a time: only the directories being listed are
 * held, so memory follows the largest directory, not the tree.
 * Things tar cannot restore as they were (sockets, devices, fifos) are reported, not archived.
 */
export function* walkEntries(root: string, o: WalkOptions): Generator<WalkEntry> {
  const rootStat = lstatSync(root, { bigint: true });
  const prefix = dirPrefix(root);
  function* visit(rel: string): Generator<WalkEntry> {
    const abs = rel ? prefix + rel : root;
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch (err) {
      o.warn(`${rel || "."}: cannot list directory (${(err as NodeJS.ErrnoException).code})`, {
        kind: "unreadable",
        path: rel || ".",
      });
      return;
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (o.exclude(childRel)) continue;
      let st;
      try {
        st = lstatSync(prefix + childRel, { bigint: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOENT") o.warn(`${childRel}: cannot stat (${code})`, { kind: "unreadable", path: childRel });
        // A name that is not UTF-8 is listed with U+FFFD in it, and that name does not exist: say so, never skip it silently.
        else if (name.includes("\ufffd") && notUtf8Names(abs) > 0)
          o.warn(`${childRel}: skipped: its name is not UTF-8 (strongbox stores UTF-8 names; rename it)`);
        continue;
      }
      const base = {
        path: childRel,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: mtimeString(st),
        ino: String(st.ino),
        ctime: String(st.ctimeNs),
      };
      if (st.isDirectory()) {
        yield { ...base, type: "dir", size: 0 };
        if (o.oneFileSystem && st.dev !== rootStat.dev) continue;
        yield* visit(childRel);
      } else if (st.isFile()) {
        yield { ...base, type: "file", size: Number(st.size) };
      } else if (st.isSymbolicLink()) {
        let linkname: string;
        try {
          linkname = readlinkSync(prefix + childRel);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT")
            o.warn(`${childRel}: cannot read symlink`, { kind: "unreadable", path: childRel });
          continue;
        }
        yield { ...base, type: "symlink", size: 0, linkname };
      } else {
        o.warn(`${childRel}: skipped (socket, fifo or device file)`);
      }
    }
  }
  yield* visit("");
}

/** How many names in a directory are not UTF-8 (read as raw bytes). */
function notUtf8Names(dir: string): number {
  try {
    return readdirSync(dir, { encoding: "buffer" }).filter((n) => !isUtf8(n)).length;
  } catch {
    return 0;
  }
}

/** The whole tree as a list (differential planning needs it all at once). */
export async function walkTree(root: string, o: WalkOptions): Promise<WalkEntry[]> {
  return [...walkEntries(root, o)];
}

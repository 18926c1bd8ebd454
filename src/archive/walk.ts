import { isUtf8 } from "node:buffer";
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { MAX_MTIME, MIN_MTIME, type TarEntry } from "./tar-header.js";

/**
 * A tree entry as found on disk: exactly what its tar header will say (path relative, '/'-separated),
 * plus the inode and ctime (ns) that differential backups compare to find unchanged files.
 */
export type WalkEntry = TarEntry & { ino?: string; ctime?: string };

/**
 * An mtime as decimal seconds, exact to the nanosecond: "1700000000.5", and before 1970 "-1.5" (the
 * value, as PAX and GNU tar write it: -1.5 s is "-1.5", never "-2.5" or "-1.-5").
 */
export function mtimeString(st: { mtimeNs: bigint }): string {
  const ns = st.mtimeNs < 0n ? -st.mtimeNs : st.mtimeNs;
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const sign = st.mtimeNs < 0n ? "-" : "";
  return frac === 0n ? `${sign}${sec}` : `${sign}${sec}.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
}

/** What is said of a path deleted between listing and reading it (a deletion: no data lost). */
export const vanished = (path: string) => `${path}: vanished before it could be read`;
/** What is said of a path that became something else (a directory, a symlink, a FIFO) while backing up. */
export const replaced = (path: string) => `${path}: replaced by something else while backing up, not backed up`;

/** What is said of a path whose mtime a backup cannot hold (it is then unreadable: nothing of it is stored). */
export const outOfRange = (path: string) =>
  `${path}: not backed up: its mtime is outside the years 1 to 9999 (set it with touch)`;

/** The mtimes a backup can hold and a restore can set: years 1 to 9999 (tar-header.ts reads no others). */
export function mtimeInRange(st: { mtimeNs: bigint }): boolean {
  return st.mtimeNs >= BigInt(MIN_MTIME) * 1_000_000_000n && st.mtimeNs <= BigInt(MAX_MTIME) * 1_000_000_000n;
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
    const names = listDirectory(rel ? prefix + rel : root, rel, o);
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (o.exclude(childRel)) continue;
      let st;
      try {
        st = lstatSync(prefix + childRel, { bigint: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") o.warn(vanished(childRel));
        else o.warn(`${childRel}: cannot stat (${code})`, { kind: "unreadable", path: childRel });
        continue;
      }
      if (!mtimeInRange(st)) {
        o.warn(outOfRange(childRel), { kind: "unreadable", path: childRel });
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
        const linkname = readTarget(prefix + childRel, childRel, o);
        if (linkname !== undefined) yield { ...base, type: "symlink", size: 0, linkname };
      } else {
        o.warn(`${childRel}: skipped (socket, fifo or device file)`);
      }
    }
  }
  yield* visit("");
}

const NOT_UTF8 = "not backed up: its name is not UTF-8 (strongbox stores UTF-8 names; rename it or exclude it)";

/**
 * A directory's names, sorted; undefined-free. Read as bytes: a name that is not UTF-8 would decode to
 * one with U+FFFD, which does not exist (or is another file's: "a\xff" beside a real "a\ufffd"). Such a
 * name is reported as unreadable (the source fails unless on_unreadable is partial), never dropped.
 * A directory that vanished since it was listed (deleted while the backup runs) is a deletion.
 */
function listDirectory(abs: string, rel: string, o: WalkOptions): string[] {
  let raw: Buffer[];
  try {
    raw = readdirSync(abs, { encoding: "buffer" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (rel && code === "ENOENT") o.warn(`${rel}: vanished before it could be listed`);
    else if (rel && code === "ENOTDIR") o.warn(replaced(rel), { kind: "changed", path: rel });
    else o.warn(`${rel || "."}: cannot list directory (${code})`, { kind: "unreadable", path: rel || "." });
    return [];
  }
  const names: string[] = [];
  for (const b of raw) {
    const name = b.toString();
    if (isUtf8(b)) names.push(name);
    else {
      const childRel = rel ? `${rel}/${name}` : name;
      if (!o.exclude(childRel)) o.warn(`${childRel}: ${NOT_UTF8}`, { kind: "unreadable", path: childRel });
    }
  }
  return names.sort();
}

/** A symlink's target, read as bytes; undefined if it is gone (a deletion) or cannot be stored (reported). */
function readTarget(abs: string, rel: string, o: WalkOptions): string | undefined {
  let target: Buffer;
  try {
    target = readlinkSync(abs, { encoding: "buffer" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") o.warn(vanished(rel));
    else o.warn(`${rel}: cannot read symlink`, { kind: "unreadable", path: rel });
    return undefined;
  }
  if (isUtf8(target)) return target.toString();
  o.warn(`${rel}: not backed up: its target is not UTF-8 (strongbox stores UTF-8 targets)`, {
    kind: "unreadable",
    path: rel,
  });
  return undefined;
}

/** The whole tree as a list (differential planning needs it all at once). */
export async function walkTree(root: string, o: WalkOptions): Promise<WalkEntry[]> {
  return [...walkEntries(root, o)];
}

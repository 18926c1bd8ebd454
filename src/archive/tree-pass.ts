import { createHash } from "node:crypto";
import { StrongboxError } from "../errors.js";
import { TreeMatch, type ExtractedFile, type TreeDiff } from "../sources/tree-check.js";
import { quoteName } from "../terminal-safe.js";
import { ArchiveNames } from "./archive-names.js";
import { comparePaths } from "./path-order.js";
import type { ManifestEntry } from "./tar-pack.js";
import type { TarEntry } from "./tar-header.js";
import { TarReader, type EntrySink } from "./tar-read.js";

// Defined with TreeMatch, which takes it, so that the two modules do not import each other.
export type { ExtractedFile };

/**
 * Where the tree goes: a directory on disk (restore, drill) or nowhere (verify). The pass makes
 * every decision and every check before it calls the sink, so restore and verify cannot reach
 * different verdicts; a sink only writes (and may fail for reasons of the target, exit 1).
 * Entries arrive in tree order, each after its parent; `rel` is the checked, normalised path.
 */
export interface TreeSink {
  dir(rel: string, e: TarEntry): Promise<void>;
  symlink(rel: string, e: TarEntry): Promise<void>;
  /** A file's body goes to the returned sink (hashed by the pass, not by the sink). */
  file(rel: string, e: TarEntry): Promise<EntrySink>;
  /** The archive's root entry ("./", first if at all): the source directory itself (a restore sets its mtime in finish). */
  root?(e: TarEntry): Promise<void>;
  /** After the last entry (a restore sets the directories' modes and times). */
  finish(): Promise<void>;
}

/** The sink of verify: reads everything, keeps nothing. */
export const nullSink: TreeSink = {
  dir: async () => {},
  symlink: async () => {},
  file: async () => ({ write() {}, end() {} }),
  finish: async () => {},
};

export interface TreePassOptions {
  /** The archive: a full, or a differential whose base is `base`. */
  archive: AsyncIterable<Buffer>;
  /** A differential's base full: its unchanged files and symlinks are taken from it. */
  base?: AsyncIterable<Buffer>;
  /** The manifest's entries, in tree order: matched as the tree streams past (none: no match). */
  expected?: Iterable<ManifestEntry>;
  sink: TreeSink;
  onEntry?: (e: ExtractedFile) => void;
  onBytes?: (n: number) => void;
  /** Differentials: how the base is named in errors of its archive (e.g. "base <id>"). */
  baseName?: string;
  /**
   * Differentials: how many names a dumpdir may list as Y (stored) that the archive does not hold:
   * files that vanished or could not be read while the backup ran, one warning each.
   */
  vanishedAllowance?: number;
  /**
   * Only the entries this selects are matched against `expected` (which the caller filters the same
   * way): a differential read without its base for a partial restore holds the selection, not the tree.
   */
  only?: (path: string) => boolean;
}

export interface TreePassResult {
  /** With `expected`: what differs from the manifest. */
  tree?: TreeDiff;
  /** Differentials: what is wrong with the dumpdirs (up to DUMPDIR_LIMIT), and how many directories had one. */
  dumpdirs?: { problems: string[]; directories: number };
}

/** The open directories' dumpdirs together; real ones are a few bytes a name (a tree's depth × its widest directories). */
export const MAX_OPEN_DUMPDIR_BYTES = 32 * 1024 * 1024;
/** Dumpdir problems listed; one more stops the pass (a forged set of huge dumpdirs must not take long). */
export const DUMPDIR_LIMIT = 10;
/** Vanished names (Y without an entry) a dumpdir may list, whatever the manifest's warnings say. */
export const MAX_VANISHED = 1_000_000;

type Kind = "Y" | "N" | "D";

/**
 * One open directory of a differential and its dumpdir (GNU.dumpdir: kind letter, name, NUL, …,
 * final NUL), read with a cursor as the directory's entries stream past: strongbox writes the
 * names in the order of the walk (UTF-16 code units, as the directory's entries come), so no
 * dumpdir is ever parsed into a map, and memory is the dumpdir's text alone.
 */
interface Frame {
  path: string;
  raw: string;
  pos: number;
  prev: string | undefined;
  /** No dumpdir, or a malformed one (already reported): nothing more is checked against it. */
  dead: boolean;
}

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);
const isDir = (t: string) => t === "dir";

/**
 * The "./" entry an archive starts with (older fulls have none): the source's root,
 * never created; a differential's carries the root's dumpdir, and the restore takes its mtime.
 */
function isRootEntry(e: TarEntry): boolean {
  return e.type === "dir" && e.path.split("/").every((p) => p === "" || p === ".");
}

/**
 * The one pass that restore, verify and drill make over a files source. A full is read entry by
 * entry; a differential and its base full are read side by side, both in tree order
 * (path-order.ts), and merged into ONE tree: the differential's entry wins, and a base entry is
 * taken only where the differential's dumpdir marks it N (unchanged). That tree goes through ONE
 * namespace check (ArchiveNames), ONE match against the streamed manifest (TreeMatch), and the
 * sink. Every check is made here, for every sink:
 *
 * - each archive on its own: safe names, tree order, nothing twice, nothing below its own files
 *   and symlinks, a symlink's target non-empty and without NUL (tar-read.ts);
 * - the merged tree: the same namespace checks across both archives;
 * - a differential against its base: nothing below a base file or symlink (GNU tar would extract
 *   through the symlink), and no change between a directory and a non-directory at one path
 *   (GNU tar cannot make it safely): both refused (VERIFY, naming the path);
 * - the dumpdirs, as they stream (the open directories' on a stack, at most
 *   MAX_OPEN_DUMPDIR_BYTES): every directory has one, every entry is listed in its parent's with
 *   the right kind (D for directories), nothing else is listed but vanished files (Y, at most
 *   `vanishedAllowance`), names safe and in order. This is what makes a hand restore with GNU
 *   tar (`tar -x -g /dev/null`, full then differential) give the manifest's tree.
 *
 * Memory is bounded by a constant and the tree's depth, never by the number of entries.
 */
export async function readTree(o: TreePassOptions): Promise<TreePassResult> {
  const diff = o.base !== undefined;
  const d = new TarReader(o.archive);
  const b = o.base ? new TarReader(o.base) : undefined;
  const dNames = new ArchiveNames();
  const bNames = new ArchiveNames();
  const names = new ArchiveNames();
  const match = o.expected ? new TreeMatch(o.expected) : undefined;
  const problems: string[] = [];
  const frames: Frame[] = [];
  let frameBytes = 0;
  let directories = 0;
  let vanished = 0;
  const allowance = Math.min(o.vanishedAllowance ?? 0, MAX_VANISHED);
  let noDumpdirReported: string | undefined;
  let rootSeen = false;

  function problem(text: string): void {
    if (problems.length >= DUMPDIR_LIMIT) {
      throw new StrongboxError(
        "VERIFY",
        `directory listings (GNU dumpdirs) do not match the manifest: ${problems.join("; ")}; … and more: refusing (forged or damaged)`,
      );
    }
    problems.push(text);
  }

  /** The next item of a dumpdir, or null at its end (or once it proved malformed). */
  function item(f: Frame): { kind: Kind; name: string } | null {
    if (f.dead || f.pos >= f.raw.length - 1) return null;
    const end = f.raw.indexOf("\0", f.pos);
    const kind = f.raw[f.pos];
    const name = f.raw.slice(f.pos + 1, end);
    const bad = (why: string) => {
      f.dead = true;
      problem(`dumpdir of ${quoteName(f.path || ".")} ${why}`);
      return null;
    };
    if (kind !== "Y" && kind !== "N" && kind !== "D") return bad(`has an entry of kind ${JSON.stringify(kind ?? "")}`);
    if (!name || name === "." || name === ".." || name.includes("/"))
      return bad(`lists the unsafe name ${quoteName(name)}`);
    if (f.prev !== undefined && name <= f.prev)
      return bad(
        name === f.prev
          ? `lists ${quoteName(name)} twice`
          : `lists ${quoteName(name)} after ${quoteName(f.prev)}, out of the order strongbox writes`,
      );
    return { kind, name };
  }

  function consume(f: Frame, it: { name: string }): void {
    f.pos += it.name.length + 2;
    f.prev = it.name;
  }

  /** A listed name the tree does not hold: a vanished file (Y), else a problem. */
  function unheld(f: Frame, it: { kind: Kind; name: string }): void {
    if (it.kind === "Y") {
      if (++vanished > allowance) {
        throw new StrongboxError(
          "VERIFY",
          `dumpdir of ${quoteName(f.path || ".")} lists ${quoteName(it.name)} (Y), which the archive does not hold: more such names than the ${allowance} files the manifest says could not be read; refusing (forged or damaged)`,
        );
      }
      return;
    }
    problem(
      `dumpdir of ${quoteName(f.path || ".")} lists ${quoteName(it.name)} (${it.kind}), which the manifest does not`,
    );
  }

  /** The kind under which `name` is listed in `f` (moving the cursor past it), or undefined. */
  function lookup(f: Frame, name: string): Kind | undefined {
    for (let it = item(f); it; it = item(f)) {
      if (it.name > name) return undefined;
      consume(f, it);
      if (it.name === name) return it.kind;
      unheld(f, it);
    }
    return undefined;
  }

  function close(f: Frame): void {
    for (let it = item(f); it; it = item(f)) {
      consume(f, it);
      unheld(f, it);
    }
    frameBytes -= f.raw.length;
  }

  function open(path: string, dumpdir: string | undefined): void {
    directories++;
    const f: Frame = { path, raw: dumpdir ?? "", pos: 0, prev: undefined, dead: false };
    if (dumpdir === undefined) {
      f.dead = true;
      problem(`no dumpdir for ${quoteName(path || ".")} (GNU tar would not remove deleted files there)`);
    } else if (!dumpdir.endsWith("\0") || (dumpdir.length > 1 && !dumpdir.endsWith("\0\0"))) {
      f.dead = true;
      problem(
        `dumpdir of ${quoteName(path || ".")} ${dumpdir.endsWith("\0") ? "is not NUL-terminated" : "does not end with NUL"}`,
      );
    }
    frameBytes += f.raw.length;
    if (frameBytes > MAX_OPEN_DUMPDIR_BYTES) {
      throw new StrongboxError(
        "VERIFY",
        `dumpdir of ${quoteName(path || ".")}: the open directories' dumpdirs hold more than ${MAX_OPEN_DUMPDIR_BYTES} bytes; refusing (forged or damaged)`,
      );
    }
    frames.push(f);
  }

  /** Closes the directories the tree has left, as it moves on to `path` (always forward). */
  function moveTo(path: string): void {
    while (frames.length > 1 && !path.startsWith(`${frames[frames.length - 1].path}/`)) close(frames.pop()!);
  }

  /** The open frame of `path`'s parent, if the differential gave that directory. */
  function parentFrame(path: string): Frame | undefined {
    const parent = parentOf(path);
    const top = frames[frames.length - 1];
    return top && top.path === parent ? top : undefined;
  }

  /** An error of the base's own archive says so: the differential's object is the one named. */
  async function fromBase<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof StrongboxError && o.baseName)
        throw new StrongboxError(err.code, `${o.baseName}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  async function nextOf(
    r: TarReader,
    layer: ArchiveNames,
    first: boolean,
  ): Promise<{ rel: string; e: TarEntry } | undefined> {
    for (;;) {
      const e = await (r === b ? fromBase(r.next()) : r.next());
      if (!e) return undefined;
      if (isRootEntry(e)) {
        // The base's root is not restored: the root is the differential's.
        if (r !== d) continue;
        if (!first || rootSeen)
          throw new StrongboxError(
            "VERIFY",
            'archive holds the root entry "./" twice or not first: refusing (forged or damaged)',
          );
        rootSeen = true;
        if (diff) open("", e.dumpdir);
        await o.sink.root?.(e);
        first = false;
        continue;
      }
      if (r === d && diff && !frames.length) open("", undefined);
      first = false;
      return {
        rel: r === b ? await fromBase((async () => layer.admit(e.path, e.type))()) : layer.admit(e.path, e.type),
        e,
      };
    }
  }

  /** One entry of the merged tree: checked, given to the sink, matched with the manifest. */
  async function emit(rel: string, e: TarEntry, reader: TarReader, listed: Kind | undefined | null): Promise<void> {
    if (diff) {
      // A full's tree is its archive's, already admitted; a differential's merges two archives.
      names.admit(rel, e.type);
      if (listed === null) {
        const f = parentFrame(rel);
        if (!f) {
          const parent = parentOf(rel);
          if (noDumpdirReported !== parent)
            problem(`no dumpdir for ${quoteName(parent || ".")} (GNU tar would not remove deleted files there)`);
          noDumpdirReported = parent;
        } else if (!f.dead) listed = lookup(f, nameOf(rel));
        if (f && !f.dead) {
          if (listed === undefined) problem(`${quoteName(rel)} is missing from its directory's dumpdir`);
          else if ((listed === "D") !== isDir(e.type))
            problem(`${quoteName(rel)} is a ${e.type}, its dumpdir says ${listed}`);
        }
      }
      if (isDir(e.type)) open(rel, e.dumpdir);
    }
    let seen: ExtractedFile;
    if (e.type === "dir") {
      await o.sink.dir(rel, e);
      seen = { path: rel, type: "dir", size: 0 };
    } else if (e.type === "symlink") {
      await o.sink.symlink(rel, e);
      seen = { path: rel, type: "symlink", size: 0, target: e.linkname };
    } else {
      const out = await o.sink.file(rel, e);
      const hash = createHash("sha256");
      let size = 0;
      const body = reader.body();
      for (
        let r = await (reader === b ? fromBase(body.next()) : body.next());
        !r.done;
        r = await (reader === b ? fromBase(body.next()) : body.next())
      ) {
        const chunk = r.value;
        hash.update(chunk);
        size += chunk.length;
        await out.write(chunk);
        o.onBytes?.(chunk.length);
      }
      await out.end();
      seen = { path: rel, type: "file", size, sha256: hash.digest("hex") };
    }
    if (!o.only || o.only(rel)) match?.see(seen);
    o.onEntry?.(seen);
  }

  let dNext = await nextOf(d, dNames, true);
  let bNext = b ? await nextOf(b, bNames, true) : undefined;
  if (diff && !frames.length) open("", undefined);
  /** The last base entry passed: what a differential's entry below it would be extracted through. */
  let lastBase: { rel: string; type: TarEntry["type"] } | undefined;
  while (dNext || bNext) {
    const order = !bNext ? 1 : !dNext ? -1 : comparePaths(bNext.rel, dNext.rel);
    if (order < 0) {
      // Only in the base: kept where the differential lists it as unchanged.
      const { rel, e } = bNext!;
      moveTo(rel);
      lastBase = { rel, type: e.type };
      const f = parentFrame(rel);
      const kind = f && !f.dead ? lookup(f, nameOf(rel)) : undefined;
      if (kind === "N" && !isDir(e.type)) await emit(rel, e, b!, kind);
      else if (kind !== undefined) unheld(f!, { kind, name: nameOf(rel) });
      bNext = await nextOf(b!, bNames, false);
      continue;
    }
    const { rel, e } = dNext!;
    if (order === 0) {
      const was = bNext!.e.type;
      if (isDir(was) !== isDir(e.type)) {
        throw new StrongboxError(
          "VERIFY",
          `${quoteName(rel)} is a ${was} in the base and a ${e.type} in the differential: GNU tar cannot apply such a change safely, and strongbox never writes one; refusing (forged or damaged)`,
        );
      }
      lastBase = { rel, type: was };
      bNext = b ? await nextOf(b, bNames, false) : undefined;
    } else if (lastBase && !isDir(lastBase.type) && rel.startsWith(`${lastBase.rel}/`)) {
      throw new StrongboxError(
        "VERIFY",
        `${quoteName(rel)} lies below ${quoteName(lastBase.rel)}, which is a ${lastBase.type} in the base: a hand restore with GNU tar would write through it; refusing (forged or damaged)`,
      );
    }
    moveTo(rel);
    await emit(rel, e, d, null);
    dNext = await nextOf(d, dNames, false);
  }
  while (frames.length) close(frames.pop()!);
  await o.sink.finish();
  return {
    ...(match ? { tree: match.finish() } : {}),
    ...(diff ? { dumpdirs: { problems, directories } } : {}),
  };
}

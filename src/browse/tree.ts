import { comparePaths } from "../archive/path-order.js";
import type { ManifestEntry } from "../archive/tar-pack.js";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { CompleteRecord } from "../repository/complete.js";
import type { FilesManifest, Manifest } from "../repository/manifest.js";
import type { Repository, TrustOptions } from "../repository/repository.js";
import { quoteName } from "../terminal-safe.js";

/**
 * Reading a backup's tree from its manifest alone (ls, find, diff; the status page's browser).
 * The manifest is read through Repository.readManifest, which checks it as restore does (every
 * path safe and relative, in tree order so never twice, counts that add up, sizes bounded) and
 * spools its entries: memory stays bounded whatever the tree's size, and nothing here trusts a
 * name it prints (callers escape them: terminal-safe.ts).
 */

/** One entry as the browse commands show it: the manifest's, with its source. */
export interface BrowseEntry {
  source: string;
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  size: number;
  mtime: string;
  sha256?: string;
  target?: string;
}

/** A backup with its checked manifest. `close()` frees the spooled entries' temporary files. */
export interface OpenedTree {
  rec: CompleteRecord;
  manifest: Manifest;
  /** The files sources to browse: all of them, or the one asked for. */
  sources: string[];
  close(): void;
}

/**
 * Opens a backup (an id or `latest`) for browsing: its complete.json judged as restore judges it,
 * its manifest decrypted and checked. `source` narrows to one files source (USAGE if it is not one).
 */
export async function openTree(
  repo: Repository,
  ref: string,
  identities: Identity[],
  o: { source?: string; trust?: TrustOptions } = {},
): Promise<OpenedTree> {
  const rec = await repo.resolve(ref, o.source ? [o.source] : [], o.trust);
  return openRecord(repo, rec, identities, o.source);
}

/** The same for a complete.json already in hand (find walks a listing). */
export async function openRecord(
  repo: Repository,
  rec: CompleteRecord,
  identities: Identity[],
  source?: string,
): Promise<OpenedTree> {
  const files = rec.sources.filter((s) => s.type === "files").map((s) => s.name);
  if (source !== undefined && !rec.sources.some((s) => s.name === source))
    throw new StrongboxError(
      "USAGE",
      `backup ${rec.id} has no source ${quoteName(source)} (it has ${rec.sources.map((s) => s.name).join(", ")})`,
    );
  if (source !== undefined && !files.includes(source))
    throw new StrongboxError("USAGE", `source ${source} of backup ${rec.id} is a database: it has no files to browse`);
  const manifest = await repo.readManifest(rec, identities);
  const close = () => {
    for (const s of Object.values(manifest.sources)) if (s.type === "files") s.entries.close();
  };
  return { rec, manifest, sources: source !== undefined ? [source] : files, close };
}

export function filesManifest(tree: OpenedTree, source: string): FilesManifest {
  const m = tree.manifest.sources[source];
  if (!m || m.type !== "files")
    throw new StrongboxError("USAGE", `backup ${tree.rec.id} has no files source ${quoteName(source)}`);
  return m;
}

export function toBrowseEntry(source: string, e: ManifestEntry): BrowseEntry {
  return {
    source,
    path: e.path,
    type: e.type,
    mode: e.mode,
    size: e.size,
    mtime: e.mtime,
    ...(e.sha256 !== undefined ? { sha256: e.sha256 } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
  };
}

/** A path a user typed, relative to a source's root: "", "docs", "docs/a.txt" ("./", "/" and trailing "/" dropped). */
export function normalisePath(path: string | undefined): string {
  if (path === undefined) return "";
  if (path.includes("\0")) throw new StrongboxError("USAGE", "the path holds a NUL byte");
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new StrongboxError("USAGE", `path ${JSON.stringify(path)}: '..' is not allowed`);
  return parts.join("/");
}

/** A source's entries at and below `path` (all of them for ""), in tree order, streamed from the spool. */
export function* entriesUnder(tree: OpenedTree, source: string, path = ""): Generator<BrowseEntry> {
  const m = filesManifest(tree, source);
  for (const e of m.entries) {
    if (e.path === ".") continue;
    if (path === "" || e.path === path || e.path.startsWith(`${path}/`)) yield toBrowseEntry(source, e);
  }
}

/** The entry at exactly `path`, or undefined. */
export function entryAt(tree: OpenedTree, source: string, path: string): BrowseEntry | undefined {
  const m = filesManifest(tree, source);
  for (const e of m.entries) {
    const order = comparePaths(e.path, path);
    if (order === 0) return toBrowseEntry(source, e);
    if (order > 0) return undefined; // tree order: it would have come by now
  }
  return undefined;
}

export type ChangeKind = "added" | "removed" | "modified" | "type-changed";

export interface TreeChange {
  change: ChangeKind;
  source: string;
  path: string;
  /** The entry in the first backup (absent when added). */
  before?: BrowseEntry;
  /** The entry in the second backup (absent when removed). */
  after?: BrowseEntry;
}

function sameContent(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.size === b.size && a.mode === b.mode && a.sha256 === b.sha256 && a.target === b.target;
}

/**
 * What changed between two trees of one source, in tree order: both manifests are in the same
 * order (path-order.ts), so one merge walks them side by side, holding two entries at a time.
 * A file whose mtime alone changed is not modified (its content and mode are the same).
 */
export function* diffEntries(
  source: string,
  a: Iterable<ManifestEntry>,
  b: Iterable<ManifestEntry>,
): Generator<TreeChange> {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  let x = ia.next();
  let y = ib.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : comparePaths(x.value.path, y.value.path);
    if (order < 0) {
      const e = x.value as ManifestEntry;
      if (e.path !== ".") yield { change: "removed", source, path: e.path, before: toBrowseEntry(source, e) };
      x = ia.next();
    } else if (order > 0) {
      const e = y.value as ManifestEntry;
      if (e.path !== ".") yield { change: "added", source, path: e.path, after: toBrowseEntry(source, e) };
      y = ib.next();
    } else {
      const [p, q] = [x.value as ManifestEntry, y.value as ManifestEntry];
      const change: ChangeKind | undefined =
        p.type !== q.type ? "type-changed" : p.path !== "." && !sameContent(p, q) ? "modified" : undefined;
      if (change)
        yield { change, source, path: p.path, before: toBrowseEntry(source, p), after: toBrowseEntry(source, q) };
      x = ia.next();
      y = ib.next();
    }
  }
}

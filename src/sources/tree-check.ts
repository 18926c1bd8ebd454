import { comparePaths } from "../archive/path-order.js";
import type { ManifestEntry } from "../archive/tar-pack.js";
import type { TarEntry } from "../archive/tar-header.js";
import { quoteName } from "../terminal-safe.js";

/** What one entry of the tree turned out to be, as read: a file's size and hash, a symlink's target. */
export interface ExtractedFile {
  path: string;
  type: TarEntry["type"];
  size: number;
  sha256?: string;
  target?: string;
}

/** What differs; each list holds the first LIMIT paths, `counts` how many there are. */
export interface TreeDiff {
  missing: string[];
  extra: string[];
  changed: { path: string; why: string }[];
  counts: { missing: number; extra: number; changed: number };
}

const LIMIT = 20;

/**
 * Compares what an archive (or a restored tree) holds with the manifest's entries in one pass:
 * both are in tree order (path-order.ts), so the two lists are merged like sorted files and
 * nothing but the current entry of each is held, whatever the tree's size. Entries must be fed
 * in that order; one that is not is reported as altered.
 */
export class TreeMatch {
  private readonly want: Iterator<ManifestEntry>;
  private next: ManifestEntry | undefined;
  private last: string | undefined;
  private readonly diff: TreeDiff = {
    missing: [],
    extra: [],
    changed: [],
    counts: { missing: 0, extra: 0, changed: 0 },
  };

  /** Entries taken from `expected` so far (the one in `next` included), and how many it holds, if it says. */
  private taken = 0;
  private readonly total: number | undefined;

  constructor(expected: Iterable<ManifestEntry> & { length?: number }) {
    this.want = expected[Symbol.iterator]();
    this.total = typeof expected.length === "number" ? expected.length : undefined;
    this.advance();
  }

  see(a: ExtractedFile): void {
    if (this.last !== undefined && comparePaths(a.path, this.last) <= 0)
      return this.changed(a.path, `out of tree order (after ${this.last})`);
    this.last = a.path;
    while (this.next && comparePaths(this.next.path, a.path) < 0) {
      this.note("missing", this.next.path);
      this.advance();
    }
    const e = this.next;
    if (!e || e.path !== a.path) return this.note("extra", a.path);
    this.advance();
    if (e.type !== a.type) this.changed(a.path, `is a ${a.type}, manifest says ${e.type}`);
    else if (e.type === "file") {
      if (e.size !== a.size) this.changed(a.path, `size ${a.size}, manifest says ${e.size}`);
      else if (e.sha256 !== a.sha256) this.changed(a.path, "SHA-256 differs from the manifest");
    } else if (e.type === "symlink" && e.target !== a.target) {
      this.changed(a.path, `symlink target ${quoteName(a.target ?? "")}, manifest says ${quoteName(e.target ?? "")}`);
    }
  }

  /** Everything the manifest lists that was not seen is missing. */
  finish(): TreeDiff {
    for (; this.next && this.diff.missing.length < LIMIT; this.advance()) this.note("missing", this.next.path);
    // Past the listed ones, a manifest that knows its length (an entry spool, an array) is counted,
    // not read: a forged manifest of millions of entries beside a tiny archive costs no more time here.
    if (this.next && this.total !== undefined && this.total >= this.taken) {
      this.diff.counts.missing += this.total - this.taken + 1;
      this.next = undefined;
    }
    for (; this.next; this.advance()) this.note("missing", this.next.path);
    return this.diff;
  }

  private advance(): void {
    const r = this.want.next();
    this.next = r.done ? undefined : r.value;
    if (!r.done) this.taken++;
  }

  private note(kind: "missing" | "extra", path: string): void {
    if (this.diff.counts[kind]++ < LIMIT) this.diff[kind].push(path);
  }

  private changed(path: string, why: string): void {
    if (this.diff.counts.changed++ < LIMIT) this.diff.changed.push({ path, why });
  }
}

/** The same comparison for lists in any order (a differential's tree, gathered from two archives). */
export function diffTree(expected: ManifestEntry[], actual: ExtractedFile[]): TreeDiff {
  const byPath = <T extends { path: string }>(xs: T[]) => [...xs].sort((x, y) => comparePaths(x.path, y.path));
  const m = new TreeMatch(byPath(expected));
  for (const a of byPath(actual)) m.see(a);
  return m.finish();
}

export function describeDiff(d: TreeDiff): string | undefined {
  const parts: string[] = [];
  const list = (xs: string[], n: number) => xs.join(", ") + (n > xs.length ? `, … (${n - xs.length} more)` : "");
  if (d.counts.missing) parts.push(`${d.counts.missing} missing: ${list(d.missing, d.counts.missing)}`);
  if (d.counts.extra) parts.push(`${d.counts.extra} extra: ${list(d.extra, d.counts.extra)}`);
  if (d.counts.changed)
    parts.push(
      `${d.counts.changed} altered: ${list(
        d.changed.map((c) => `${c.path} (${c.why})`),
        d.counts.changed,
      )}`,
    );
  return parts.length ? parts.join("; ") : undefined;
}

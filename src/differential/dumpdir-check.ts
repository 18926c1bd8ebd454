import type { ManifestEntry } from "../archive/tar-pack.js";
import { quoteName } from "../terminal-safe.js";

const LIMIT = 10;

/** A dumpdir's entries (kind letter → name), or why it is malformed. Hostile input: names are one path component. */
export function parseDumpdir(raw: string): Map<string, "Y" | "N" | "D"> | string {
  if (!raw.endsWith("\0")) return "does not end with NUL";
  const items = raw.slice(0, -1).split("\0");
  // "\0" alone is an empty directory; otherwise every item ends with NUL and a final NUL follows.
  if (items.length === 1 && items[0] === "") return new Map();
  if (items.pop() !== "") return "is not NUL-terminated";
  const out = new Map<string, "Y" | "N" | "D">();
  for (const item of items) {
    const kind = item[0];
    const name = item.slice(1);
    if (kind !== "Y" && kind !== "N" && kind !== "D") return `has an entry of kind ${JSON.stringify(kind ?? "")}`;
    if (!name || name === "." || name === ".." || name.includes("/")) return `lists the unsafe name ${quoteName(name)}`;
    if (out.has(name)) return `lists ${quoteName(name)} twice`;
    out.set(name, kind);
  }
  return out;
}

/**
 * The whole-tree statement of the dumpdir rules, on lists in memory (kept for its unit tests and
 * as their reference). Restore, verify and drill check the same rules as the tree streams, in
 * bounded memory, in archive/tree-pass.ts (which also requires strongbox's name order).
 *
 * Checks that a differential's dumpdirs describe exactly the manifest's tree, so that a hand restore
 * with GNU tar (`tar -x -g /dev/null`, full then differential) gives that tree: every directory has
 * a dumpdir, every entry is listed under its parent with the right kind (D for directories), and
 * nothing else is listed except files marked Y that vanished while the backup read them.
 */
export function checkDumpdirs(entries: ManifestEntry[], dumpdirs: Map<string, string>): string | undefined {
  const problems: string[] = [];
  const parsed = new Map<string, Map<string, "Y" | "N" | "D">>();
  for (const [dir, raw] of dumpdirs) {
    const p = parseDumpdir(raw);
    if (typeof p === "string") problems.push(`dumpdir of ${quoteName(dir || ".")} ${p}`);
    else parsed.set(dir, p);
  }
  const dirs = new Set(["", ...entries.filter((e) => e.type === "dir").map((e) => e.path)]);
  for (const dir of dumpdirs.keys())
    if (!dirs.has(dir)) problems.push(`a dumpdir for ${quoteName(dir)}, which is not a directory of the manifest`);
  for (const dir of dirs)
    if (!dumpdirs.has(dir))
      problems.push(`no dumpdir for ${quoteName(dir || ".")} (GNU tar would not remove deleted files there)`);
  const listed = new Map<string, Set<string>>();
  for (const e of entries) {
    const cut = e.path.lastIndexOf("/");
    const parent = cut < 0 ? "" : e.path.slice(0, cut);
    const name = e.path.slice(cut + 1);
    const d = parsed.get(parent);
    if (!d) continue;
    if (!listed.has(parent)) listed.set(parent, new Set());
    listed.get(parent)!.add(name);
    const kind = d.get(name);
    if (kind === undefined) problems.push(`${quoteName(e.path)} is missing from its directory's dumpdir`);
    else if ((kind === "D") !== (e.type === "dir"))
      problems.push(`${quoteName(e.path)} is a ${e.type}, its dumpdir says ${kind}`);
  }
  for (const [dir, d] of parsed) {
    for (const [name, kind] of d) {
      if (listed.get(dir)?.has(name) || kind === "Y") continue;
      problems.push(
        `dumpdir of ${quoteName(dir || ".")} lists ${quoteName(name)} (${kind}), which the manifest does not`,
      );
    }
  }
  if (!problems.length) return undefined;
  return problems.slice(0, LIMIT).join("; ") + (problems.length > LIMIT ? `; … (${problems.length - LIMIT} more)` : "");
}

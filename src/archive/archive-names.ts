import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import { comparePaths } from "./path-order.js";
import { safeRelativePath } from "./safe-path.js";
import type { EntryType } from "./tar-header.js";

/** Linux's PATH_MAX and NAME_MAX: a longer name could never be restored, so it is a defect. */
const MAX_PATH_BYTES = 4096;
const MAX_COMPONENT_BYTES = 255;

/**
 * The namespace an archive builds, checked the same way by restore and by verify, so verify fails
 * on everything restore would refuse: unsafe or overlong names, an entry twice, an entry below a
 * symlink or a file of the same archive, and entries out of the tree order strongbox writes
 * (path-order.ts). Because that order puts everything below a path right after it, only the
 * chain of the last entry's ancestors is kept: memory follows the tree's depth, not its size.
 * Parents an archive never lists count as directories.
 */
export class ArchiveNames {
  private last: string | undefined;
  /** The last entry and its ancestors, outermost first, with what each is. */
  private chain: { path: string; type: EntryType | "implicit" }[] = [];

  admit(path: string, type: EntryType): string {
    const rel = safeRelativePath(path);
    if (Buffer.byteLength(rel) > MAX_PATH_BYTES)
      throw new StrongboxError(
        "VERIFY",
        `archive entry ${quoteName(rel.slice(0, 80) + "…")}: name longer than ${MAX_PATH_BYTES} bytes`,
      );
    for (const name of rel.split("/")) {
      if (Buffer.byteLength(name) > MAX_COMPONENT_BYTES)
        throw new StrongboxError(
          "VERIFY",
          `archive entry ${quoteName(rel)}: a name component longer than ${MAX_COMPONENT_BYTES} bytes`,
        );
    }
    if (this.last !== undefined) {
      const order = comparePaths(rel, this.last);
      if (order === 0) throw new StrongboxError("VERIFY", `archive holds ${quoteName(rel)} twice, refusing to restore`);
      if (order < 0) {
        if (type !== "dir" && this.chain.some((c) => c.path === rel))
          throw new StrongboxError(
            "VERIFY",
            `archive entry ${quoteName(rel)}: a ${type} where the archive already has a directory`,
          );
        throw new StrongboxError(
          "VERIFY",
          `archive entry ${quoteName(rel)} comes after ${quoteName(this.last)}, out of the order strongbox writes a tree in: refusing (forged or damaged)`,
        );
      }
    }
    // Keep only the ancestors of this entry; one that is not a directory makes it unsafe.
    while (this.chain.length && !rel.startsWith(`${this.chain[this.chain.length - 1].path}/`)) this.chain.pop();
    for (const c of this.chain) {
      if (c.type !== "dir" && c.type !== "implicit")
        throw new StrongboxError(
          "VERIFY",
          `archive entry ${quoteName(rel)} lies below ${quoteName(c.path)}, which is a ${c.type}: refusing`,
        );
    }
    const known = this.chain.length ? this.chain[this.chain.length - 1].path.length + 1 : 0;
    for (let cut = rel.indexOf("/", known); cut >= 0; cut = rel.indexOf("/", cut + 1))
      this.chain.push({ path: rel.slice(0, cut), type: "implicit" });
    this.chain.push({ path: rel, type });
    this.last = rel;
    return rel;
  }
}

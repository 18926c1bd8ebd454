import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import { safeRelativePath } from "./safe-path.js";
import type { EntryType } from "./tar-header.js";

/** Linux's PATH_MAX and NAME_MAX: a longer name could never be restored, so it is a defect. */
const MAX_PATH_BYTES = 4096;
const MAX_COMPONENT_BYTES = 255;

/**
 * The namespace an archive builds, checked the same way by restore and by verify, so verify fails
 * on everything restore would refuse: unsafe or overlong names, an entry twice, and an entry
 * below a symlink or a file of the same archive. Parents an archive never lists count as
 * directories; each is recorded once, so the work per entry stays bounded by its name's length.
 */
export class ArchiveNames {
  private readonly kinds = new Map<string, EntryType | "implicit">();

  admit(path: string, type: EntryType): string {
    const rel = safeRelativePath(path);
    if (Buffer.byteLength(rel) > MAX_PATH_BYTES) throw new StrongboxError("VERIFY", `archive entry ${quoteName(rel.slice(0, 80) + "…")}: name longer than ${MAX_PATH_BYTES} bytes`);
    const previous = this.kinds.get(rel);
    if (previous !== undefined && !(previous === "implicit" && type === "dir")) {
      throw new StrongboxError("VERIFY", previous === "implicit" ? `archive entry ${quoteName(rel)}: a ${type} where the archive already has a directory` : `archive holds ${quoteName(rel)} twice, refusing to restore`);
    }
    let cut = rel.lastIndexOf("/");
    let name = rel.slice(cut + 1);
    for (;;) {
      if (Buffer.byteLength(name) > MAX_COMPONENT_BYTES) throw new StrongboxError("VERIFY", `archive entry ${quoteName(rel)}: a name component longer than ${MAX_COMPONENT_BYTES} bytes`);
      if (cut < 0) break;
      const parent = rel.slice(0, cut);
      const kind = this.kinds.get(parent);
      if (kind === "dir" || kind === "implicit") break;
      if (kind !== undefined) throw new StrongboxError("VERIFY", `archive entry ${quoteName(rel)} lies below ${quoteName(parent)}, which is a ${kind}: refusing`);
      this.kinds.set(parent, "implicit");
      const next = parent.lastIndexOf("/");
      name = parent.slice(next + 1);
      cut = next;
    }
    this.kinds.set(rel, type);
    return rel;
  }
}

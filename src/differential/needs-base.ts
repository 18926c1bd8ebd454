import { comparePaths } from "../archive/path-order.js";
import type { ManifestEntry } from "../archive/tar-pack.js";

/**
 * Whether a partial restore of a differential needs its base's object, judged from the two
 * manifests alone (both in tree order, walked side by side: memory stays constant).
 *
 * A selected file or symlink can come from the base only if the base's manifest holds it exactly
 * as the differential's does (type, size, mode, mtime, SHA-256, target): a base entry that differs
 * cannot give the content the differential's manifest promises, so such an entry, or one the base
 * does not hold, must be stored in the differential itself. Directories are always in a
 * differential (each with its listing). So when no selected entry could come from the base, the
 * differential's object alone holds the selection, and the base's object need not be fetched.
 * This is only a choice of what to read: every selected entry is still matched against the
 * differential's manifest (a forger who left one out gets "missing", as a whole restore would).
 */
export function baseNeeded(
  diff: Iterable<ManifestEntry>,
  base: Iterable<ManifestEntry>,
  select: (path: string) => boolean,
): boolean {
  const ib = base[Symbol.iterator]();
  let b = ib.next();
  for (const e of diff) {
    if (e.type === "dir" || !select(e.path)) continue;
    while (!b.done && comparePaths(b.value.path, e.path) < 0) b = ib.next();
    if (!b.done && b.value.path === e.path && same(b.value, e)) return true;
  }
  return false;
}

function same(a: ManifestEntry, b: ManifestEntry): boolean {
  return (
    a.type === b.type &&
    a.size === b.size &&
    a.mode === b.mode &&
    a.mtime === b.mtime &&
    a.sha256 === b.sha256 &&
    a.target === b.target
  );
}

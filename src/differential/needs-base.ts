import { comparePaths } from "../archive/path-order.js";
import type { ManifestEntry } from "../archive/tar-pack.js";

/**
 * Whether a partial restore of a differential needs its base's object, judged from the two
 * manifests alone (both in tree order, walked side by side: memory stays constant).
 *
 * A selected file or symlink can come from the base only if the base's manifest holds it with the
 * content the differential's promises (type, size, SHA-256, target: what the restore's pass checks
 * an entry against; mode and mtime are not compared, so a manifest that differs from the base only
 * there still reads the base, as a whole restore does): a base entry of other content cannot give
 * it, so such an entry, or one the base does not hold, must be stored in the differential itself.
 * Directories are always in a differential (each with its listing). So when no selected entry could
 * come from the base, the differential's object alone holds the selection, and the base's object
 * need not be fetched.
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
  return a.type === b.type && a.size === b.size && a.sha256 === b.sha256 && a.target === b.target;
}

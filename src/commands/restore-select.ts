import { makeSelector } from "../browse/pattern.js";
import { StrongboxError } from "../errors.js";
import type { CompleteRecord } from "../repository/complete.js";
import type { Manifest } from "../repository/manifest.js";

/** `restore --include/--exclude`: the selector of what is written, or undefined for a whole restore. */
export function partialSelector(include: string[], exclude: string[]): ((path: string) => boolean) | undefined {
  if (!include.length && !exclude.length) return undefined;
  const select = makeSelector(include, exclude);
  // The root entry (".") is the target directory itself: always there, never selected by a pattern.
  return (path) => path !== "." && select(path);
}

/**
 * A partial restore that would write nothing is a typo to say, not an empty success: the files
 * sources being restored must hold at least one selected path (counted from their manifests).
 */
export function checkSelection(
  select: (path: string) => boolean,
  parts: { rec: CompleteRecord; sources: string[] }[],
  manifests: Map<string, Manifest>,
  filesSources: string[],
): void {
  for (const p of parts) {
    const manifest = manifests.get(p.rec.id)!;
    for (const name of p.sources) {
      const m = manifest.sources[name];
      if (!filesSources.includes(name) || m?.type !== "files") continue;
      for (const e of m.entries) if (select(e.path)) return;
    }
  }
  throw new StrongboxError(
    "NOT_FOUND",
    `--include/--exclude select no path of the files source(s) ${filesSources.join(", ")} in backup(s) ${parts.map((p) => p.rec.id).join(", ")}`,
  );
}

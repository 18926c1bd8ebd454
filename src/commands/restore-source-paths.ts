import { dirname, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { StrongboxError } from "../errors.js";

/**
 * `restore --to-source-paths`: each files source goes back to the path the config gives it, through
 * the same staging directory and rename as --to-dir (so a non-empty path needs --force, and the old
 * tree is set aside and removed only once the new one is in place).
 */
export function checkSourcePathsFlags(o: {
  toSourcePaths?: boolean;
  toDir?: string;
  printScript?: boolean;
  include?: string[];
  exclude?: string[];
}): void {
  if (!o.toSourcePaths) return;
  if (o.toDir) throw new StrongboxError("USAGE", "--to-source-paths and --to-dir name two targets: give one");
  if (o.printScript)
    throw new StrongboxError("USAGE", "--print-script restores nothing: --to-source-paths does not apply");
  // The rename replaces the whole source directory: with a selection, everything else in it would go.
  if (o.include?.length || o.exclude?.length)
    throw new StrongboxError(
      "USAGE",
      "--include/--exclude with --to-source-paths would replace the whole source directory with the selected part: restore the part with --to-dir and copy it back",
    );
}

/** The configured path of a files source (a backup's source that is no longer configured has none). */
export function configuredPath(config: Config, name: string): string {
  const s = config.sources.find((x) => x.name === name);
  if (!s || s.type !== "files")
    throw new StrongboxError(
      "USAGE",
      `--to-source-paths: source ${name} is not a files source of the config, so it has no path to restore into: use --to-dir`,
    );
  return resolve(s.path);
}

/** Several sources are swapped in together only within one directory (restore-swap.ts). */
export function oneParent(targets: Map<string, string>): void {
  const parents = new Set([...targets.values()].map((d) => dirname(d)));
  if (parents.size > 1)
    throw new StrongboxError(
      "USAGE",
      `--to-source-paths: the sources ${[...targets.keys()].join(", ")} live in different directories and cannot be swapped in together: restore them one at a time with --source`,
    );
}

// Where a worker thread's entry file is, for a module under src/<dir>/ that starts it.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * `name` beside the calling module (`base`, its import.meta.url) in the build, or, when the caller
 * runs from the TypeScript sources (the test runner), the built one under dist/<dir>/; undefined
 * where neither exists or there is no import.meta (the single-file build): the caller then does
 * the work inline.
 */
export function workerFile(base: string, dir: string, name: string): URL | undefined {
  try {
    const here = new URL(`./${name}`, base);
    if (existsSync(fileURLToPath(here))) return here;
    const built = new URL(`../../dist/${dir}/${name}`, base);
    return existsSync(fileURLToPath(built)) ? built : undefined;
  } catch {
    return undefined;
  }
}

import { readFileSync } from "node:fs";

/** Set at bundle time for the single-file executable, which has no package.json beside it. */
declare const __STRONGBOX_VERSION__: string | undefined;

export const VERSION: string =
  typeof __STRONGBOX_VERSION__ === "string"
    ? __STRONGBOX_VERSION__
    : JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;

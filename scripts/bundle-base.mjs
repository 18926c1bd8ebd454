// What the two bundles of dist/ share: bin/strongbox's (scripts/bundle.mjs) and the single
// executable's (scripts/build-sea.mjs).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const root = resolve(new URL("..", import.meta.url).pathname);
export const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

/** esbuild options for a bundle of dist/ with its dependencies. */
export const bundleBase = {
  bundle: true,
  platform: "node",
  target: "node22",
  // Class and function names as in the source (an error's name, commander's CommanderError).
  keepNames: true,
  // src/version.ts: there is no package.json beside a bundle's files.
  define: { __STRONGBOX_VERSION__: JSON.stringify(version) },
  // pg's optional native binding is never used (strongbox uses the pure-JS client).
  external: ["pg-native"],
  logLevel: "warning",
};

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
  // A package's ES build before its CommonJS one (for packages without "exports": the AWS SDK's and
  // Smithy's dist-es/ before dist-cjs/). esbuild can then drop what strongbox does not use, and skip
  // the CommonJS wrappers: the AWS SDK's chunks shrank from 1.1 MB to ~0.3 MB and load in ~125 ms
  // instead of ~195 ms. No other package resolves differently (compared by the bundle's module list).
  mainFields: ["module", "main"],
  logLevel: "warning",
};

// Part of `npm run build`: bundles dist/ and the dependencies it imports into dist/bundle/ (esbuild, ES
// modules, code splitting), which bin/strongbox runs. Loading a few large files costs Node less than
// resolving and loading hundreds of small ones (README, "Performance": start-up). Splitting keeps each
// command's code in its own chunks, loaded when that command runs, as from dist/. The worker threads'
// entries sit beside the chunks, where src/worker-file.ts looks for them. heap-tuning.js is an entry of
// its own, which bin/strongbox runs before cli.js: an ES module's imports run before its body, so
// inside cli.js it would run after the chunks cli.js imports.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { bundleBase, root } from "./bundle-base.mjs";

const out = join(root, "dist/bundle");
rmSync(out, { recursive: true, force: true });
const { metafile } = await build({
  ...bundleBase,
  entryPoints: ["heap-tuning.js", "cli.js", "crypto/stream-worker.js", "archive/count-worker.js"].map((f) =>
    join(root, "dist", f),
  ),
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  outdir: out,
  splitting: true,
  format: "esm",
  // CommonJS dependencies (pg, the AWS SDK) call require() on Node's built-ins.
  banner: {
    js: 'import { createRequire as __sbRequire } from "node:module"; const require = __sbRequire(import.meta.url);',
  },
  metafile: true,
});
// Which source modules each output file holds, for test/e2e/startup-imports.test.ts (not shipped).
const inputs = Object.fromEntries(
  Object.entries(metafile.outputs).map(([file, o]) => [
    file.replace(/^(.*\/)?dist\/bundle\//, ""),
    Object.keys(o.inputs),
  ]),
);
writeFileSync(join(root, "dist/bundle-inputs.json"), JSON.stringify(inputs));

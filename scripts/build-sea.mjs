// npm run build:sea — one file that holds Node.js and strongbox (a Node single executable application):
// dist/sea/strongbox-linux-x64. Copy it onto a host and run it; no Node.js, npm or node_modules needed there.
// Steps: bundle dist/ into one CommonJS file (esbuild), make a SEA blob (node --experimental-sea-config),
// inject it into a copy of this Node binary (postject).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { bundleBase, root, version } from "./bundle-base.mjs";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  console.error(
    `build:sea embeds the Node.js that runs it, and strongbox needs >= 22.15 (this is ${process.version}): source scripts/node-env.sh first`,
  );
  process.exit(2);
}
const out = join(root, "dist/sea");
const target = join(out, `strongbox-${process.platform}-${process.arch}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const t0 = Date.now();
await build({
  ...bundleBase,
  entryPoints: [join(root, "dist/cli.js")],
  format: "cjs",
  outfile: join(out, "strongbox.cjs"),
  define: { ...bundleBase.define, "import.meta.url": "__sea_import_meta_url" },
  // Modules that compute their own directory from import.meta.url (worker-file, version) get the executable's.
  banner: { js: 'const __sea_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  logOverride: { "empty-import-meta": "silent" },
});
writeFileSync(
  join(out, "sea-config.json"),
  JSON.stringify({
    main: join(out, "strongbox.cjs"),
    output: join(out, "sea-prep.blob"),
    disableExperimentalSEAWarning: true,
    useCodeCache: false,
    useSnapshot: false,
  }),
);
execFileSync(process.execPath, ["--experimental-sea-config", join(out, "sea-config.json")], { stdio: "inherit" });
copyFileSync(process.execPath, target);
chmodSync(target, 0o755);
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/postject/dist/cli.js"),
    target,
    "NODE_SEA_BLOB",
    join(out, "sea-prep.blob"),
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
for (const f of ["strongbox.cjs", "sea-config.json", "sea-prep.blob"]) rmSync(join(out, f));
console.log(
  `${target}: ${(statSync(target).size / 1e6).toFixed(0)} MB, strongbox ${version} on Node.js ${process.version}, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);

// `npm run docs:config`: rewrites README.md's config reference (between its marker comments) from
// the config schema's descriptions. test/unit/config-docs.test.ts fails while the README differs.
import { readFileSync, writeFileSync } from "node:fs";
import { withConfigReference } from "../dist/config/reference.js";

const file = new URL("../README.md", import.meta.url);
const text = readFileSync(file, "utf8");
const next = withConfigReference(text);
if (next === undefined) {
  console.error("README.md: the config-reference start/end marker comments are missing");
  process.exit(1);
}
if (next !== text) writeFileSync(file, next);
console.log(next === text ? "README.md config reference is up to date" : "README.md config reference rewritten");

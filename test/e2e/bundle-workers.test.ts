// bin/strongbox runs dist/bundle/ (scripts/bundle.mjs). A worker thread's entry file that is not an
// entry of the bundle is not found beside the chunks, and its caller then does the work inline: no
// error, just slower. So every worker entry the code looks up must be in the bundle.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("the bundle bin/strongbox runs holds every worker entry", () => {
  it("each workerFile(import.meta.url, dir, name) in src/ names a file of dist/bundle/", () => {
    const calls = sources(join(root, "src")).flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/workerFile\(import\.meta\.url, "([^"]+)", "([^"]+)"\)/g)].map((m) => ({
        file: f.slice(root.length),
        dir: m[1]!,
        name: m[2]!,
      })),
    );
    expect(calls.map((c) => c.name).sort()).toEqual(["count-worker.js", "stream-worker.js"]); // the scan works
    for (const c of calls) {
      expect(existsSync(join(root, "dist", c.dir, c.name)), `${c.file}: dist/${c.dir}/${c.name}`).toBe(true);
      expect(existsSync(join(root, "dist/bundle", c.name)), `${c.file}: dist/bundle/${c.name}`).toBe(true);
    }
    expect(readFileSync(join(root, "bin/strongbox"), "utf8")).toContain('import("../dist/bundle/cli.js")');
  });
});

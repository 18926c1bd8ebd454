// bin/strongbox runs dist/bundle/ (scripts/bundle.mjs). A worker thread's entry file that is not an
// entry of the bundle is not found beside the chunks, and its caller then does the work inline: no
// error, just slower. So every worker entry the code looks up must be in the bundle. And V8's heap
// flags must be set before the CLI's modules run, which an import inside cli.js no longer ensures.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { V8_FLAGS } from "../../src/v8-flags.js";

const root = new URL("../../", import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("the bundle bin/strongbox runs", () => {
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
  });

  it("bin/strongbox runs the bundle, V8's heap flags (heap-tuning) before any module of the CLI", () => {
    const bin = readFileSync(join(root, "bin/strongbox"), "utf8");
    const imports = [...bin.matchAll(/await import\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(imports).toEqual(["../dist/bundle/heap-tuning.js", "../dist/bundle/cli.js"]);
    for (const f of imports) expect(existsSync(join(root, "bin", f)), f).toBe(true);
    // One file holds it, and the entry bin/strongbox imports first is that file or imports it: so its
    // code runs once, before cli.js and the chunks cli.js imports.
    const inputs: Record<string, string[]> = JSON.parse(readFileSync(join(root, "dist/bundle-inputs.json"), "utf8"));
    const holders = Object.entries(inputs)
      .filter(([, i]) => i.includes("dist/heap-tuning.js"))
      .map(([f]) => f);
    expect(holders).toHaveLength(1);
    const entry = readFileSync(join(root, "dist/bundle/heap-tuning.js"), "utf8");
    expect(holders[0] === "heap-tuning.js" || entry.includes(`import "./${holders[0]}";`)).toBe(true);
    expect(entry).not.toContain("cli"); // nothing of the CLI runs before it
  });

  it("the bundle's heap-tuning.js sets exactly the flags of v8-flags.ts", () => {
    // setFlagsFromString, recorded (syncBuiltinESMExports carries the wrapper to `import { … } from "node:v8"`).
    const probe = [
      'const v8 = require("node:v8"), seen = [], real = v8.setFlagsFromString;',
      "v8.setFlagsFromString = (f) => { seen.push(f); real(f); };",
      'require("node:module").syncBuiltinESMExports();',
      "import(process.argv[1]).then(() => process.stdout.write(JSON.stringify(seen)));",
    ].join("\n");
    const run = spawnSync(process.execPath, ["-e", probe, join(root, "dist/bundle/heap-tuning.js")], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual([...V8_FLAGS]);
  });
});

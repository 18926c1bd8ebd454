import { appendFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { scanDirectory } from "../../src/archive/extract.js";
import { packTar, type ManifestEntry } from "../../src/archive/tar-pack.js";
import { walkTree } from "../../src/archive/walk.js";
import { describeDiff, diffTree } from "../../src/sources/tree-check.js";
import { tempDir } from "../helpers/cli.js";
import { makeSampleTree } from "../helpers/tree.js";

describe("file-tree check against the manifest", () => {
  it("reports a removed, an added and an altered file, each by path", async () => {
    const dir = tempDir("treecheck");
    makeSampleTree(dir);
    const manifest: ManifestEntry[] = [];
    for await (const _ of packTar(dir, await walkTree(dir, { exclude: () => false, warn: () => {} }), {
      warn: () => {},
      onEntry: (e) => manifest.push(e),
    }));
    expect(diffTree(manifest, await scanDirectory(dir))).toEqual({
      missing: [],
      extra: [],
      changed: [],
      counts: { missing: 0, extra: 0, changed: 0 },
    });

    unlinkSync(join(dir, "ASSETS/script.sh"));
    writeFileSync(join(dir, "projects/show one/intruder.json"), "{}");
    appendFileSync(join(dir, "projects/show one/rundowns/rundown.json"), " ");
    const sameSize = join(dir, "ASSETS/private.key");
    writeFileSync(sameSize, "secret-isH\n"); // same size, other bytes

    const diff = diffTree(manifest, await scanDirectory(dir));
    expect(diff.missing).toEqual(["ASSETS/script.sh"]);
    expect(diff.extra).toEqual(["projects/show one/intruder.json"]);
    expect(diff.changed).toEqual([
      { path: "ASSETS/private.key", why: "SHA-256 differs from the manifest" },
      { path: "projects/show one/rundowns/rundown.json", why: "size 18, manifest says 17" },
    ]);
    const text = describeDiff(diff)!;
    expect(text).toMatch(/1 missing: ASSETS\/script\.sh/);
    expect(text).toMatch(/1 extra: projects\/show one\/intruder\.json/);
    expect(text).toMatch(/2 altered: .*private\.key.*rundown\.json/);
  });
});

// The ETA's total of a full backup, counted on a worker thread beside the archiving walk.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countTree } from "../../src/archive/tree-size.js";
import { tempDir } from "../helpers/cli.js";

describe("countTree", () => {
  it("sums the sizes of the files the backup will archive (excludes applied), then its worker is gone", async () => {
    const root = tempDir("count");
    mkdirSync(join(root, "a/cache"), { recursive: true });
    writeFileSync(join(root, "a/one.bin"), Buffer.alloc(1000));
    writeFileSync(join(root, "a/cache/skip.bin"), Buffer.alloc(5000));
    writeFileSync(join(root, "two.bin"), Buffer.alloc(234));
    const size = countTree(root, { exclude: ["cache"] });
    const total = await new Promise<number>((resolve) => size.onTotal(resolve));
    expect(total).toBe(1234);
    await size.stop(); // resolves only once the worker has exited
  });

  it("stop() before the count is done ends the worker, and no total arrives after it", async () => {
    const root = tempDir("count-stop");
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(root, `d${d}`));
      for (let f = 0; f < 40; f++) writeFileSync(join(root, `d${d}/f${f}`), "x");
    }
    const size = countTree(root, { exclude: [] });
    let late = false;
    await size.stop();
    size.onTotal(() => (late = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(late).toBe(false);
  });
});

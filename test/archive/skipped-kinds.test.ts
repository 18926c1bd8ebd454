// Issue 21: the archive says which warnings are about data: a path that could not be read (the
// source fails unless on_unreadable: partial) or a file that changed while read (counted).
import { appendFileSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packTar } from "../../src/archive/tar-pack.js";
import { walkTree, type Skipped } from "../../src/archive/walk.js";
import { tempDir } from "../helpers/cli.js";

describe("warnings about data carry their kind", () => {
  it("a file that grows while read is 'changed', once; a vanished file is no kind (a deletion)", async () => {
    const src = tempDir("kinds-grow");
    writeFileSync(join(src, "log.txt"), "a".repeat(3 * 1024 * 1024));
    writeFileSync(join(src, "z-gone.txt"), "soon gone");
    const seen: (Skipped | undefined)[] = [];
    const entries = await walkTree(src, { exclude: () => false, warn: (_m, k) => seen.push(k) });
    const stream = packTar(src, entries, { warn: (_m, k) => seen.push(k), onEntry: () => {} });
    let touched = false;
    for await (const _ of stream) {
      if (!touched) {
        touched = true;
        appendFileSync(join(src, "log.txt"), "more");
        unlinkSync(join(src, "z-gone.txt"));
      }
    }
    expect(seen).toEqual([{ kind: "changed", path: "log.txt" }, undefined]);
  });

  it("beforeEnd can refuse to finish the archive: the stream fails, no end-of-archive is produced", async () => {
    const src = tempDir("kinds-end");
    mkdirSync(join(src, "d"));
    writeFileSync(join(src, "d", "f"), "x");
    const entries = await walkTree(src, { exclude: () => false, warn: () => {} });
    const stream = packTar(src, entries, {
      warn: () => {},
      onEntry: () => {},
      beforeEnd: () => {
        throw new Error("refused: 1 path(s) could not be read");
      },
    });
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toThrow(/refused/);
  });
});

// Issue 22 item 19: a tar stream destroyed with an error (a full disk downstream) reports THAT error,
// never "The iterator does not provide a 'throw' method" (yield* over an array in the packer).
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packTar } from "../../src/archive/tar-pack.js";
import { walkTree } from "../../src/archive/walk.js";
import { tempDir } from "../helpers/cli.js";

describe("packTar destroyed with an error", () => {
  for (const [label, size] of [
    ["small files", 100_000],
    ["large files", 2_000_000],
  ] as const) {
    it(`${label}: the stream's error is the one it was destroyed with`, async () => {
      const src = tempDir("pack-destroy");
      for (let i = 0; i < 20; i++) writeFileSync(join(src, `f${i}.bin`), randomBytes(size));
      const tar = packTar(src, await walkTree(src, { exclude: () => false, warn: () => {} }), {
        warn: () => {},
        onEntry: () => {},
      });
      const full = Object.assign(new Error("ENOSPC: no space left on device, write"), {
        code: "ENOSPC",
        syscall: "write",
      });
      const seen = await new Promise<Error>((resolve) => {
        tar.on("error", resolve);
        tar.once("data", () => tar.destroy(full));
      });
      expect(seen.message).not.toMatch(/iterator/);
      expect(seen).toBe(full);
    });
  }
});

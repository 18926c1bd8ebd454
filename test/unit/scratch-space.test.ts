// A drill or a cluster's verify killed before its cleanup leaves its scratch directory (a plaintext copy
// of what it restored) in TMPDIR. The next one removes it: only a dead run's own directory with a
// scratch mode, and as root, never through a directory another account could swap for a symlink.
import { chownSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeScratch, removeScratch, sweepScratch } from "../../src/scratch-space.js";
import { tempName } from "../../src/temp-names.js";
import { tempDir } from "../helpers/cli.js";

/** A scratch name whose process cannot exist (above the kernel's largest PID). */
const dead = (prefix: string, n: number) => tempName(prefix).replace(`-${process.pid}-`, `-${2 ** 22 + n}-`);
const isRoot = process.getuid?.() === 0;

describe("scratch space", () => {
  it("is made under TMPDIR, named after its process, mode 0700", async () => {
    const tmp = tempDir("scratch-tmp");
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const path = await makeScratch("strongbox-drill-");
      expect(path.startsWith(`${tmp}/strongbox-drill-`)).toBe(true);
      expect(path).toMatch(new RegExp(`-${process.pid}-[0-9a-f]+$`));
      expect(statSync(path).mode & 0o777).toBe(0o700);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it("a dead run's drill and verify directories are removed; a live run's, another mode, a symlink or a file stay", async () => {
    const tmp = tempDir("scratch-tmp");
    const drill = join(tmp, dead("strongbox-drill-", 1));
    mkdirSync(join(drill, "data/base/1"), { recursive: true, mode: 0o700 });
    writeFileSync(join(drill, "data/base/1/16384"), "rows");
    const verify = join(tmp, dead("strongbox-verify-cluster-", 2));
    mkdirSync(join(verify, "data"), { recursive: true, mode: 0o711 });
    const live = join(tmp, tempName("strongbox-drill-"));
    mkdirSync(live, { mode: 0o700 });
    const open = join(tmp, dead("strongbox-drill-", 3));
    mkdirSync(open, { mode: 0o755 });
    const outside = tempDir("scratch-outside");
    writeFileSync(join(outside, "keep"), "not ours to remove");
    symlinkSync(outside, join(tmp, dead("strongbox-drill-", 4)));
    writeFileSync(join(tmp, dead("strongbox-drill-", 5)), "a file");
    mkdirSync(join(tmp, "strongbox-other-dir"), { mode: 0o700 });

    expect((await sweepScratch(tmp)).sort()).toEqual([drill, verify].sort());
    expect(existsSync(drill) || existsSync(verify)).toBe(false);
    expect(readdirSync(tmp)).toHaveLength(5);
    expect(existsSync(join(outside, "keep"))).toBe(true);
    expect(await sweepScratch(tmp)).toEqual([]);
  });

  it.skipIf(!isRoot)(
    "as root, a tree with another account's directories and a symlink out of it goes, and nothing outside",
    async () => {
      const tmp = tempDir("scratch-tmp");
      const top = join(tmp, dead("strongbox-drill-", 6));
      mkdirSync(join(top, "data/pg_wal"), { recursive: true, mode: 0o700 });
      const outside = tempDir("scratch-outside");
      mkdirSync(join(outside, "etc"));
      writeFileSync(join(outside, "etc/passwd"), "root:x:0:0");
      symlinkSync(join(outside, "etc"), join(top, "data/pg_wal/archive"));
      // The server's account owns the data directory, as in a cluster drill.
      for (const d of ["data", "data/pg_wal"]) chownSync(join(top, d), 4242, 4242);
      await removeScratch(top);
      expect(existsSync(top)).toBe(false);
      expect(readdirSync(join(outside, "etc"))).toEqual(["passwd"]);
      expect(statSync(join(outside, "etc")).uid).toBe(0);
      expect(statSync(join(outside, "etc")).mode & 0o777).toBe(0o755);
    },
  );
});

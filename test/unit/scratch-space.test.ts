// A drill or a cluster's verify killed before its cleanup leaves its scratch directory (a plaintext copy
// of what it restored) in TMPDIR. The next one removes it: only a dead run's own directory with a
// scratch mode, and as root, never through a directory another account could swap for a symlink.
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lockTree, makeScratch, removeScratch, sweepScratch } from "../../src/scratch-space.js";
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

  it("a dead run's drill, verify and server run directories are removed; a live run's, another mode, a symlink or a file stay", async () => {
    const tmp = tempDir("scratch-tmp");
    const dir = (path: string, mode: number) => (mkdirSync(path, { recursive: true }), chmodSync(path, mode), path);
    const drill = dir(join(tmp, dead("strongbox-drill-", 1)), 0o700);
    dir(join(drill, "data/base/1"), 0o555); // a restored read-only directory does not stop the removal
    writeFileSync(join(drill, "data/base/1/16384"), "rows");
    const verify = dir(join(tmp, dead("strongbox-verify-cluster-", 2)), 0o711);
    dir(join(verify, "data"), 0o700);
    const run = dir(join(tmp, dead("strongbox-pgrun-", 7)), 0o711); // a recovery server's run directory
    dir(join(run, "s"), 0o700);
    writeFileSync(join(run, "s/pg_hba.conf"), "local all all trust\n");
    const live = dir(join(tmp, tempName("strongbox-drill-")), 0o700);
    const parent = dir(join(tmp, tempName("strongbox-drill-").replace(`-${process.pid}-`, `-${process.ppid}-`)), 0o700);
    const open = dir(join(tmp, dead("strongbox-drill-", 3)), 0o755);
    const outside = tempDir("scratch-outside");
    writeFileSync(join(outside, "keep"), "not ours to remove");
    symlinkSync(outside, join(tmp, dead("strongbox-drill-", 4)));
    writeFileSync(join(tmp, dead("strongbox-drill-", 5)), "a file");
    mkdirSync(join(tmp, "strongbox-other-dir"), { mode: 0o700 });

    const swept = await sweepScratch(tmp);
    expect(swept.removed.sort()).toEqual([drill, verify, run].sort());
    expect(swept.failed).toEqual([]);
    expect(existsSync(drill) || existsSync(verify) || existsSync(run)).toBe(false);
    expect([live, parent, open].every((p) => existsSync(p))).toBe(true);
    expect(readdirSync(tmp)).toHaveLength(6);
    expect(existsSync(join(outside, "keep"))).toBe(true);
    expect(await sweepScratch(tmp)).toEqual({ removed: [], failed: [] });
  });

  it.skipIf(!isRoot)(
    "as root, every directory of a tree with another account's directories is locked first, and a symlink out of it is neither followed nor changed",
    async () => {
      const tmp = tempDir("scratch-tmp");
      const top = join(tmp, dead("strongbox-drill-", 6));
      mkdirSync(join(top, "data/pg_wal/sub"), { recursive: true });
      const outside = tempDir("scratch-outside");
      mkdirSync(join(outside, "etc"));
      chmodSync(join(outside, "etc"), 0o755);
      chownSync(join(outside, "etc"), 4243, 4243);
      writeFileSync(join(outside, "etc/passwd"), "root:x:0:0");
      symlinkSync(join(outside, "etc"), join(top, "data/pg_wal/archive"));
      // The server's account owns the data directory, as in a cluster drill.
      for (const d of ["data", "data/pg_wal", "data/pg_wal/sub"]) {
        chownSync(join(top, d), 4242, 4242);
        chmodSync(join(top, d), 0o755);
      }
      await lockTree(top);
      for (const d of ["", "data", "data/pg_wal", "data/pg_wal/sub"]) {
        const st = lstatSync(join(top, d));
        expect([d, st.uid, st.gid, st.mode & 0o777]).toEqual([d, 0, 0, 0o700]);
      }
      const etc = statSync(join(outside, "etc"));
      expect([etc.uid, etc.mode & 0o777]).toEqual([4243, 0o755]);
      await removeScratch(top);
      expect(existsSync(top)).toBe(false);
      expect(readdirSync(join(outside, "etc"))).toEqual(["passwd"]);
    },
  );
});

// restore --to-source-paths: each files source back into its configured path, through the same
// staging and rename as --to-dir; a path that is not empty needs --force.
import { existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { snapshotTree } from "../helpers/tree.js";

describe("restore --to-source-paths", () => {
  it("puts the tree back where the config says, only with --force over a non-empty path", async () => {
    const data = join(tempDir("srcpaths"), "assets");
    mkdirSync(join(data, "docs"), { recursive: true });
    writeFileSync(join(data, "docs/a.txt"), "a\n");
    writeFileSync(join(data, "b.txt"), "b\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const cli = (...args: string[]) => runCli(["-c", repo.configFile, ...args]);
    expect((await cli("backup", "now")).code).toBe(0);
    const before = snapshotTree(data);
    writeFileSync(join(data, "b.txt"), "changed\n");
    unlinkSync(join(data, "docs/a.txt"));
    writeFileSync(join(data, "new.txt"), "new\n");
    const changed = snapshotTree(data);

    const refused = await cli("restore", "latest", "--to-source-paths");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/assets is not empty; refusing to restore over it without --force/);
    expect(snapshotTree(data)).toEqual(changed);
    for (const extra of [
      ["--include", "b.txt"],
      ["--to-dir", tempDir("srcpaths-to")],
    ]) {
      const r = await cli("restore", "latest", "--to-source-paths", "--force", ...extra);
      expect(r.code).toBe(2);
      expect(snapshotTree(data)).toEqual(changed);
    }

    const forced = await cli("restore", "latest", "--to-source-paths", "--force");
    expect(forced.code).toBe(0);
    const now = snapshotTree(data);
    const want = before;
    expect(Object.keys(now).sort()).toEqual(Object.keys(want).sort());
    expect(now["b.txt"]).toEqual(want["b.txt"]);
    expect(now["docs/a.txt"]).toEqual(want["docs/a.txt"]);
    expect(existsSync(join(data, "new.txt"))).toBe(false);

    rmSync(data, { recursive: true });
    const fresh = await cli("restore", "latest", "--to-source-paths");
    expect(fresh.code).toBe(0);
    expect(snapshotTree(data)["docs/a.txt"]).toEqual(before["docs/a.txt"]);
  }, 180_000);
});

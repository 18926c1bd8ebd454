// restore --force sets the old tree aside, puts the new one in place, then removes the old one. When
// that last removal fails (here: a mount point inside the old tree, EBUSY; as a user, a directory
// without write permission), the restore is still done: exit 0 with a warning, never "cannot
// restore into …" (exit 1), and the next --force restore is not blocked by the leftover.
import { execSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeRepo, runCli as runProcess, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { canMount } from "../helpers/tiny-disk.js";
import { snapshotTree } from "../helpers/tree.js";

/** Directories under which this test mounted: whatever the mount moved to below them is unmounted. */
const under: string[] = [];
afterEach(() => {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "");
  for (const dir of under.splice(0))
    for (const m of mounts.filter((m) => m.startsWith(`${dir}/`)).reverse()) execSync(`umount '${m}'`);
});

describe.skipIf(!canMount)("an old tree that cannot be removed after a --force restore", () => {
  it("the restore exits 0 and warns; the next --force restore also succeeds", async () => {
    const data = tempDir("aside-data");
    writeFileSync(join(data, "f.txt"), "new\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const to = tempDir("aside-to");
    mkdirSync(join(to, "assets", "busy"), { recursive: true });
    execSync(`mount -t tmpfs -o size=1m tmpfs '${join(to, "assets", "busy")}'`);
    under.push(to);
    // Processes of their own (the leftover is named after its restore's process, which must be gone
    // for the next restore's sweep to touch it). The first cannot remove the tree it set aside.
    const first = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/could not remove .*\.strongbox-deleting-assets-.*: the restored tree is in place/);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
    // The second's sweep tries again, warns again, and the restore goes on.
    const second = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(
      /removing .*\.strongbox-deleting-assets-.*: an old tree a restore with --force was deleting/,
    );
    expect(second.stderr).toMatch(/could not remove .*\.strongbox-deleting-assets-.*: the restored tree is in place/);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
    // The mount moved with the old tree: one leftover, never put back (the user may delete assets/
    // and restore again: the half-deleted tree must not come back as the source's tree).
    expect(
      readdirSync(to)
        .filter((n) => n.startsWith(".strongbox-"))
        .map((n) => n.replace(/-\d+-[0-9a-f]+$/, "")),
    ).toEqual([".strongbox-deleting-assets"]);
    rmSync(join(to, "assets"), { recursive: true });
    const third = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-dir", to]);
    expect(third.code).toBe(0);
    expect(third.stderr).not.toMatch(/putting .* back/);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
  });
});

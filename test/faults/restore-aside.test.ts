// restore --force sets the old tree aside, puts the new one in place, then removes the old one. When
// that last removal fails (here: a mount point inside the old tree, EBUSY; as a user, a directory
// without write permission), the restore is still done: exit 0 with a warning, never "cannot
// restore into …" (exit 1), and the next --force restore is not blocked by the leftover.
import { execSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeRepo, runCli as runProcess, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { canMount } from "../helpers/tiny-disk.js";
import { snapshotTree } from "../helpers/tree.js";

const mounted: string[] = [];
afterEach(() => {
  for (const m of mounted.splice(0)) execSync(`umount '${m}'`);
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
    // Processes of their own (the leftover is named after its restore's process, which must be gone
    // for the next restore's sweep to touch it). The first cannot remove the tree it set aside.
    const first = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/could not remove .*\.strongbox-replaced-assets-.*: the restored tree is in place/);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
    // The second's sweep tries again, warns again, and the restore goes on.
    const second = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/removing .*\.strongbox-replaced-assets-.*: a tree set aside/);
    expect(second.stderr).toMatch(/could not remove .*\.strongbox-replaced-assets-.*: the restored tree is in place/);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
    // The mount moved with the tree set aside: one leftover, which the second run's sweep tried again.
    const left = readdirSync(to).filter((n) => n.startsWith(".strongbox-replaced-assets-"));
    expect(left).toHaveLength(1);
    mounted.push(join(to, left[0], "busy"));
  });
});

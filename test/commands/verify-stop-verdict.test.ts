// verify stopped by SIGTERM while a backup's checks run: a check that failed because of the stop (the
// signal kills pg_restore --list, whose failure is a failed check) is not printed as a FAILED verdict on
// the backup: the run is the stop (exit 143), and the backup is left unjudged.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess } from "../helpers/run-in-process.js";

vi.mock("../../src/engine/verify.js", () => ({
  verifyBackup: async () => {
    process.emit("SIGTERM", "SIGTERM"); // lands while the source's check runs: its tool is killed
    await new Promise((r) => setTimeout(r, 20));
    return [{ name: "db: dump parses (pg_restore --list)", ok: false, detail: "pg_restore was killed by SIGTERM" }];
  },
}));

describe("verify stopped while a backup's checks run", () => {
  const before = process.listeners("SIGTERM");
  afterEach(() => {
    for (const l of process.listeners("SIGTERM")) if (!before.includes(l)) process.off("SIGTERM", l);
  });

  it("exits 143 and prints no FAILED verdict for the backup", async () => {
    const tree = tempDir("tree");
    writeFileSync(join(tree, "a.txt"), "a\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tree }] });
    const backup = await runInProcess(["-q", "-c", repo.configFile, "backup", "now"]);
    expect(backup.code).toBe(0);
    const r = await runInProcess(["-c", repo.configFile, "verify", "latest"]);
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/interrupted by SIGTERM/);
    expect(r.stdout).not.toMatch(/FAILED/);
    expect(r.stderr).not.toMatch(/FAILED|verification failed/);
  });
});

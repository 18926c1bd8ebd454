// A restore must never write into its own file:// repository: with a source named `backups`,
// `restore --to-dir <repository> --force` used to replace the repository's backups/ with the
// restored tree (exit 0, and `list` then said "no backups").
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("restore into the repository", () => {
  it("is refused (exit 2) into it, inside it, through a symlink to it, or around it; the backups stay", async () => {
    const data = tempDir("rir-data");
    writeFileSync(join(data, "f.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "backups", type: "files", path: data }] });
    const store = join(repo.dir, "repository");
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const link = join(tempDir("rir-link"), "to-repo");
    symlinkSync(store, link);
    mkdirSync(join(store, "spare"));
    for (const [to, says] of [
      [store, /backups: inside the repository .*; restore somewhere else/],
      [join(store, "spare"), /inside the repository/],
      [link, /inside the repository/],
    ] as const) {
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", to, "--force"]);
      expect([to, r.code]).toEqual([to, 2]);
      expect(r.stderr).toMatch(says);
    }
    expect(readdirSync(join(store, "backups"))).toEqual([id]);
    expect((await runCli(["-c", repo.configFile, "verify", id])).code).toBe(0);
    // A target that holds the repository: T/backups, with the repository at T/backups/repo.
    const t = tempDir("rir-around");
    cpSync(store, join(t, "backups", "repo"), { recursive: true });
    const around = repo.write((c) => ((c.repository as { url: string }).url = `file://${join(t, "backups", "repo")}`));
    const r = await runCli(["-c", around, "restore", id, "--to-dir", t, "--force"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/backups: holds the repository/);
    expect((await runCli(["-c", around, "verify", id])).code).toBe(0);
  });

  it("a --to-dir below a file is a usage error (exit 2), a drill of an id that never existed is exit 1", async () => {
    const data = tempDir("rir-file-data");
    writeFileSync(join(data, "f.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const file = join(tempDir("rir-file"), "a-file");
    writeFileSync(file, "not a directory");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a-file\/assets: a directory on its path is a file/);
    const d = await runCli(["-c", repo.configFile, "drill", "20990101T000000Z-abcdef"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/no backup 20990101T000000Z-abcdef in /);
    const relative = repo.write((c) => (c.lock_dir = "relative/locks"));
    const c = await runCli(["-c", relative, "config", "check"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/lock_dir must be absolute/);
  });
});

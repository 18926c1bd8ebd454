// copy --to reads a file:// URL the one way the config does (src/config/file-url.ts). new URL() took
// `file://./copy` as host "." and path "/copy", so a copy meant for a directory here went to /copy.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

it("copy --to: a file:// URL with a host or a relative path is refused (exit 2, naming it); percent-encoding and localhost are read", async () => {
  const data = tempDir("copy-url-data");
  writeFileSync(join(data, "f.txt"), "hello");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  const made = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
  expect(made.code).toBe(0);
  const id = JSON.parse(made.stdout).id;

  const name = `strongbox-copy-url-${process.pid}-${Date.now()}`;
  const here = tempDir("copy-url-cwd");
  try {
    for (const to of [`file://./${name}`, `file://${name}/${name}`]) {
      const r = await runCli(["-c", repo.configFile, "copy", "latest", "--to", to], { cwd: here });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`copy --to "${to}": names host`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(existsSync(`/${name}`)).toBe(false);

    expect(readdirSync(here)).toEqual([]);
  } finally {
    rmSync(`/${name}`, { recursive: true, force: true });
  }

  const dest = join(tempDir("copy-url-dest"), "my copy");
  mkdirSync(dest);
  const url = `file://localhost${dest.replace(/ /g, "%20")}/`;
  const r = await runCli(["-c", repo.configFile, "--json", "copy", "latest", "--to", url]);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).copied.map((c: { id: string }) => c.id)).toEqual([id]);
  expect(existsSync(join(dest, "backups", id, "complete.json"))).toBe(true);
});

import { describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";

describe("strongbox pitr setup", () => {
  const repo = makeRepo({
    sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://repl:s3cretPw@db.internal:5432/postgres" }],
  });

  it("prints the archiving settings with this config's wal push, and the role SQL, never the password", async () => {
    const r = await runCli(["-c", repo.configFile, "pitr", "setup"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("wal_level = replica\narchive_mode = on\n");
    expect(r.stdout).toMatch(new RegExp(`archive_command = '\\S+/bin/strongbox -c ${repo.configFile} wal push %p'\n`));
    expect(r.stdout).toContain("archive_timeout = 60\n");
    expect(r.stdout).toContain("CREATE ROLE repl WITH LOGIN REPLICATION");
    expect(r.stdout).not.toContain("s3cretPw");
    const json = JSON.parse((await runCli(["-c", repo.configFile, "--json", "pitr", "setup"])).stdout);
    expect(json).toMatchObject({ source: "cluster", role: "repl", settings: { archive_mode: "on" } });
  });

  it("a backslash in the config's path is doubled, as postgresql.conf reads escapes in quoted values", async () => {
    const dir = join(tempDir("pitr-setup"), "back\\slash");
    mkdirSync(dir);
    const cfg = join(dir, "strongbox.yaml");
    copyFileSync(repo.configFile, cfg);
    const r = await runCli(["-c", cfg, "pitr", "setup"]);
    expect(r.code).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("archive_command = "))!;
    expect(line).toContain("back\\\\slash"); // the shell word 'back\slash', each backslash doubled
    expect(line).not.toMatch(/[^\\]\\s/);
  });

  it("needs a postgres-cluster source, and --source when there are several", async () => {
    const none = repo.write((c) => (c.sources = [{ name: "files", type: "files", path: "/srv" }]));
    expect(await runCli(["-c", none, "pitr", "setup"])).toMatchObject({
      code: 2,
      stderr: "strongbox: error: no postgres-cluster source in the config: add one (type: postgres-cluster) first\n",
    });
    const two = repo.write((c) => c.sources.push({ ...c.sources[0], name: "other" }));
    expect((await runCli(["-c", two, "pitr", "setup"])).stderr).toMatch(
      /several postgres-cluster sources \(cluster, other\)/,
    );
    expect((await runCli(["-c", two, "pitr", "setup", "--source", "other"])).code).toBe(0);
  });
});

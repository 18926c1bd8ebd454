// Restore and verify read a stored source as the repository says it was stored (its type in the
// backup's manifest), never as today's config describes a source of that name: a config whose
// source changed type since, or no longer has it, still restores and verifies what was stored.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("the type of a stored source comes from the repository", () => {
  it("verify and restore a files backup whose config now calls that source postgres", async () => {
    const data = tempDir("sst-data");
    writeFileSync(join(data, "f.txt"), "kept\n");
    const repo = makeRepo({ sources: [{ name: "a", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const changed = repo.write((c) => {
      c.sources = [{ name: "a", type: "postgres", url: "postgres://127.0.0.1:9/nowhere" }];
    });
    const v = await runCli(["-c", changed, "verify", "latest"]);
    expect(v.stderr).not.toMatch(/pgdump|PGDMP|pg_restore/i);
    expect(v.code, v.stderr).toBe(0);
    const to = tempDir("sst-out");
    const r = await runCli(["-c", changed, "restore", "latest", "--to-dir", to]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(to, "a", "f.txt"), "utf8")).toBe("kept\n");
  });
});

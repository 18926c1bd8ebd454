import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("config check --schedule validates a schedule file against the config, running nothing", () => {
  it("a good schedule: OK; a bad one: every problem at once, exit 2", async () => {
    const data = tempDir("cc-data");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const shipped = new URL("../../schedules/default.yaml", import.meta.url).pathname;
    const ok = await runCli(["-c", repo.configFile, "config", "check", "--schedule", shipped]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/schedule .*default\.yaml: OK \(\d+ jobs?\)/);
    const bad = join(tempDir("cc-sched"), "bad.yaml");
    writeFileSync(
      bad,
      'jobs:\n  - { name: x, command: backup, cron: "61 * * * *" }\n  - { name: y, command: explode, cron: "* * * * *" }\n',
    );
    const r = await runCli(["-c", repo.configFile, "config", "check", "--schedule", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/jobs\[0\]/);
    expect(r.stderr).toMatch(/jobs\[1\]/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("--quiet silences logs, not results", () => {
  it("-q backup now still prints the backup id, and nothing else", async () => {
    const data = tempDir("q-data");
    writeFileSync(join(data, "a.txt"), "a");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const r = await runCli(["-c", repo.configFile, "-q", "backup", "now"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}\n$/);
    expect(r.stderr).toBe("");
  });
});

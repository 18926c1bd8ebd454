// A schedule file's problems are reported all at once (README: "reports every problem at once"): a bad
// cron used to hide a duplicate job name and a source the config does not have until it was fixed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { loadSchedule } from "../../src/scheduler/schedule-file.js";
import { tempDir } from "../helpers/cli.js";

describe("schedule file problems", () => {
  it("a bad cron, a duplicate name and an unknown source: all three at once", () => {
    const file = join(tempDir("sched"), "s.yaml");
    writeFileSync(
      file,
      [
        "jobs:",
        "  - { name: x, command: backup, cron: 'not a cron' }",
        "  - { name: x, command: backup, cron: '0 3 * * *', sources: [nope] }",
        "",
      ].join("\n"),
    );
    const config = { sources: [{ name: "assets" }] } as unknown as Config;
    let issues: string[] = [];
    try {
      loadSchedule(file, config);
    } catch (err) {
      issues = (err as ConfigError).issues;
    }
    expect(issues).toEqual([
      expect.stringMatching(/jobs\[0\]\.cron: /),
      expect.stringMatching(/jobs\[1\]\.name: duplicate job name 'x'/),
      expect.stringMatching(/jobs\[1\]\.sources: no source named 'nope' in the config/),
    ]);
  });
});

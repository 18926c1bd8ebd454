// daemon.token_file is part of the config: a file that cannot be read, or a token too short, is a config
// error (exit 2, error_code CONFIG, naming the key and the file), not a usage error: no flag was wrong.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";

describe("daemon.token_file problems are config errors", () => {
  it.each([
    {
      name: "missing file",
      content: undefined,
      why: /daemon\.token_file .*token: .*no such file or directory \(ENOENT\)/,
    },
    {
      name: "token too short",
      content: "short\n",
      why: /daemon\.token_file .*token: the token must be at least 16 characters/,
    },
  ])("$name: exit 2, CONFIG", async ({ content, why }) => {
    const docs = tempDir("dtc-docs");
    const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: docs }] });
    const port = await freePort();
    const tokenFile = join(tempDir("dtc-token"), "token");
    if (content !== undefined) writeFileSync(tokenFile, content, { mode: 0o600 });
    const config = repo.write((c) => {
      c.state_dir = tempDir("dtc-state");
      c.lock_dir = tempDir("dtc-lock");
      c.daemon = { listen: `0.0.0.0:${port}`, token_file: tokenFile };
    });
    const schedule = join(repo.dir, "quiet.yaml");
    writeFileSync(schedule, `jobs:\n  - { name: nightly, command: backup, cron: "0 0 1 1 *" }\n`);
    const r = await runCli(["--json", "-c", config, "daemon", "--schedule", schedule]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(JSON.parse(r.stdout)).toMatchObject({ error_code: "CONFIG", exit_code: 2 });
  });
});

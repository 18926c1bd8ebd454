// The throwaway recovery server: a failure is one line (the server's multi-line log folded into it), and
// the command line blanks every command the restored settings could run besides restore_command.
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger as log } from "../../src/log.js";
import { withRecoveredServer } from "../../src/sources/postgres-cluster/recover-run.js";
import { tempDir } from "../helpers/cli.js";

/** A pg_bin_dir whose postgres says 15.8 to --version and otherwise records its arguments and fails with a two-line log. */
function failingServer(root: string): { bin: string; argsFile: string } {
  const bin = join(root, "bin");
  mkdirSync(bin, { mode: 0o755 });
  const argsFile = join(root, "args");
  writeFileSync(
    join(bin, "postgres"),
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "postgres (PostgreSQL) 15.8"; exit 0; fi\n` +
      `printf '%s\\n' "$@" > ${argsFile}\nprintf 'FATAL:  data directory is not valid\\nDETAIL:  File PG_VERSION is missing.\\n' >&2\nexit 1\n`,
  );
  chmodSync(join(bin, "postgres"), 0o755);
  return { bin, argsFile };
}

describe("withRecoveredServer", () => {
  it("fails in one line naming the server's log, and runs no command from the restored settings", async () => {
    const root = tempDir("recover-run");
    chmodSync(root, 0o755);
    const dataDir = join(root, "data");
    mkdirSync(dataDir, { mode: 0o700 });
    const { bin, argsFile } = failingServer(root);
    // As root the server runs as the data directory's owner (PostgreSQL refuses root).
    if (process.getuid?.() === 0) {
      chownSync(dataDir, 65534, 65534);
      chownSync(root, 65534, 65534);
    }
    const run = withRecoveredServer({ dataDir, major: 15, pgBinDir: bin, timeoutMs: 30_000, log }, async () => 1);
    const err = (await run.catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/stopped \(exit code 1\).*data directory is not valid.*PG_VERSION is missing/);
    expect(err.message).not.toMatch(/[\n\r]/);
    const args = readFileSync(argsFile, "utf8").split("\n");
    for (const setting of ["archive_mode=off", "recovery_end_command=", "archive_cleanup_command="])
      expect(args).toContain(setting);
  });
});

// The temp dirs a test file makes, removed after it by remove-temp-dirs.ts (every file's setup). Kept
// apart from cli.ts so that the setup, which runs before every file, loads nothing else.
import { appendFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const madeTempDirs: string[] = [];

/**
 * The run's list of every temp dir its files made (global-setup.ts names it). The service reaper reads it
 * when a run has ended without its teardown (Ctrl-C, SIGTERM, SIGKILL): what still runs in those dirs (a
 * test's PostgreSQL, a daemon, a command) is stopped and the dirs removed, as the files' own cleanup would
 * have done.
 */
const registry = process.env.STRONGBOX_KEEP_TEST_TMP ? undefined : process.env.STRONGBOX_TEST_TEMP_REGISTRY;

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `strongbox-${label}-`));
  madeTempDirs.push(dir);
  if (registry) {
    try {
      appendFileSync(registry, `${dir}\n`);
    } catch {
      // no run to report to (a file run outside the suite's global setup, or after its teardown)
    }
  }
  return dir;
}

// The temp dirs a test file makes, removed after it by remove-temp-dirs.ts (every file's setup). Kept
// apart from cli.ts so that the setup, which runs before every file, loads nothing else.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const madeTempDirs: string[] = [];

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `strongbox-${label}-`));
  madeTempDirs.push(dir);
  return dir;
}

// Runs in every test file (vitest setupFiles): the temp dirs a file made are removed after it, so a
// suite run leaves nothing in /tmp. STRONGBOX_KEEP_TEST_TMP=1 keeps them for a post-mortem.
import { chmodSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll } from "vitest";
import { madeTempDirs } from "./temp-dir.js";

/** Tests make directories unreadable or unwritable (a full disk, a read-only target): undo that first. */
function makeRemovable(dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) return;
    chmodSync(dir, 0o700);
    for (const n of readdirSync(dir)) makeRemovable(join(dir, n));
  } catch {
    // gone already, or not ours to change: rmSync below says nothing either
  }
}

afterAll(() => {
  if (process.env.STRONGBOX_KEEP_TEST_TMP) return;
  for (const dir of madeTempDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      makeRemovable(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

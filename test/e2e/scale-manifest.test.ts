import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/**
 * Issue 10's scale bound: a tree of 2 million files within 300 MB of RSS. The file bytes play no
 * part in it (they stream); the manifest does. scripts/scale-manifest.mjs pushes 2,000,000 entries
 * through the backup's manifest path (spool → JSON → zstd → age → store) and restore's (decrypt →
 * streamed parse → checks → spool → one-pass match), in a process of its own so that its peak RSS
 * is its own. `npm run bench` (BENCH_ONLY=scale) does the same with a real tree through the CLI.
 */
describe("a manifest of 2 million files", () => {
  it("is written, read back, checked and matched within 300 MB of RSS, and a damaged tree is still caught", async () => {
    const { stdout } = await run(process.execPath, ["scripts/scale-manifest.mjs", "2000000"], { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout.trim().split("\n").pop()!);
    expect(r.entries).toBe(2_002_000); // 2,000 directories and 2,000,000 files
    expect(r.files).toBe(2_000_000);
    expect(r.clean).toEqual({ missing: 0, extra: 0, changed: 0 });
    expect(r.damaged).toEqual({ missing: 1, extra: 0, changed: 1 });
    expect(r.peak_rss_mb).toBeLessThanOrEqual(300);
  }, 180_000);
});

// Progress on a terminal: bytes, total, rate and ETA while a backup runs. The terminal is a real
// pseudo-terminal (util-linux `script`), so the logger sees a TTY as a user's shell would give it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";

describe("progress on a terminal", () => {
  it("a full backup of a tree shows bytes / total (counted beside it), rate and ETA, and clears the line at the end", async () => {
    const data = tempDir("progress");
    for (let i = 0; i < 12; i++) writeFileSync(join(data, `clip-${i}.bin`), randomBytes(25 << 20));
    const repo = makeRepo({ sources: [{ name: "media", type: "files", path: data }], compression: "none" });
    const cmd = `'${process.execPath}' '${BIN}' -c '${repo.configFile}' backup now`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        "script",
        ["-qec", cmd, "/dev/null"],
        { env: { ...process.env, TERM: "xterm" }, maxBuffer: 1 << 24, timeout: 120_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const lines = out.split(/\r|\n/).map((l) => l.replace(/\x1b\[K/g, ""));
    // e.g. "media  120.0 MB / 314.6 MB  95.3 MB/s  ETA 0:02" (cut at the terminal's width)
    const withTotal = lines.filter((l) => /^media {2}[\d.]+ [kMG]?B \/ 314\.6 MB {2}[\d.]+ [kMG]?B\/s {2}ETA/.test(l));
    expect(withTotal.length, out.slice(0, 2000)).toBeGreaterThan(0);
    expect(out).toMatch(/backup \S+ complete/);
    // the status line is erased before the next log line
    expect(out).toMatch(/\r\x1b\[Kmedia: stored/);
  }, 180_000);
});

// A full disk where strongbox writes, on real (tiny) tmpfs mounts: the restore target, and TMPDIR
// (where S3 parts are spooled). Each must end in a one-line error naming the problem, exit 1,
// and leave nothing half-done that looks complete. (A full repository is in test/e2e/local.test.ts.)
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { tinyDisk, unmountTinyDisks } from "../helpers/tiny-disk.js";

const s3 = inject("s3");
const isRoot = process.getuid?.() === 0;

afterEach(unmountTinyDisks);

function bigSource(): string {
  const dir = tempDir("full-src");
  writeFileSync(join(dir, "a.bin"), randomBytes(3 << 20));
  writeFileSync(join(dir, "small.txt"), "small\n");
  return dir;
}

describe.skipIf(!isRoot)("full disks", () => {
  it("a full restore target: exit 1 naming the file and ENOSPC, no stack trace", async () => {
    const repo = makeRepo({ sources: [{ name: "big", type: "files", path: bigSource() }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const to = tinyDisk("1m");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write the restore target at "a\.bin": disk full \(ENOSPC\) writing \/\S+\/a\.bin/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(
      r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("strongbox:")),
    ).toHaveLength(1);
  });

  it.skipIf(!s3)(
    "a full TMPDIR while spooling S3 parts: the backup fails (exit 1), no complete.json, no spool file left",
    async () => {
      const repo = makeRepo({
        sources: [{ name: "big", type: "files", path: bigSource() }],
        s3: s3!,
        roles: { writer: s3!.writer, reader: s3!.reader },
      });
      const tmp = tinyDisk("1m");
      const cfg = repo.write((c) => (c.repository.s3.part_size_mb = 5));
      const r = await runCli(["-c", cfg, "backup", "now"], { env: { TMPDIR: tmp } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/disk full \(ENOSPC\) writing upload parts to the spool directory/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readdirSync(tmp)).toEqual([]);
      const list = await runCli(["-c", cfg, "--json", "list", "--all"]);
      const rows = JSON.parse(list.stdout) as { complete: boolean }[];
      expect(rows.every((x) => !x.complete)).toBe(true);
    },
  );
});

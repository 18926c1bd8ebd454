// Issue 22 items 17 and 19: a full disk (or a read-only one) is named as such, with the path, in one
// sentence: never a JavaScript error ("The iterator does not provide a 'throw' method"), never the
// doubled "ENOSPC: ENOSPC:". Real tiny tmpfs mounts (the suite runs as root; skipped otherwise).
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { makeRepo, runCli, tempDir, type CliResult } from "../helpers/cli.js";
import { canMount, tinyDisk, unmountTinyDisks } from "../helpers/tiny-disk.js";

const s3 = inject("s3");
afterAll(unmountTinyDisks);

/** Many small files (the tar packer's small-file path) and one larger one: ~8 MB of incompressible data. */
function tree(): string {
  const dir = tempDir("full-src");
  for (let i = 0; i < 30; i++)
    writeFileSync(join(dir, `small-${String(i).padStart(2, "0")}.bin`), randomBytes(200_000));
  writeFileSync(join(dir, "z-big.bin"), randomBytes(2 << 20));
  return dir;
}

/** One error line on stderr; no JavaScript error, no stack, no doubled code. */
function expectOneSentence(r: CliResult): string {
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("strongbox:"));
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/iterator|TypeError|is not a function|\n\s+at /);
  expect(r.stderr).not.toMatch(/(E[A-Z]+): \1:/);
  return lines[0];
}

describe.skipIf(!canMount)(
  `a full disk says so, with the path${canMount ? "" : " (skipped: this process may not mount a tmpfs)"}`,
  () => {
    it("a repository on a 5 MB tmpfs: exit 1, 'disk full (ENOSPC)' and the object's path, no complete.json", async () => {
      const disk = tinyDisk("5m");
      const repo = makeRepo({ sources: [{ name: "big", type: "files", path: tree() }] });
      const cfg = repo.write((c) => (c.repository.url = `file://${disk}/repo`));
      let ok = 0;
      let failed: CliResult | undefined;
      for (let i = 0; i < 3 && !failed; i++) {
        const r = await runCli(["-c", cfg, "backup", "now"]);
        if (r.code === 0)
          ok++; // the first may still fit
        else failed = r;
      }
      expect(failed, "the disk never filled").toBeDefined();
      expect(failed!.code).toBe(1);
      expect(expectOneSentence(failed!)).toMatch(
        new RegExp(`disk full \\(ENOSPC\\) writing ${disk}/repo/backups/\\S+`),
      );
      // What the failed run left does not look like a backup: only the runs that succeeded are listed.
      const list = await runCli(["-c", cfg, "--json", "list"]);
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout)).toHaveLength(ok);
    });

    it("a full restore target: one sentence, 'disk full (ENOSPC) writing' the file's path, never 'ENOSPC: ENOSPC:'", async () => {
      const repo = makeRepo({ sources: [{ name: "big", type: "files", path: tree() }] });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const to = tinyDisk("1m");
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to]);
      expect(r.code).toBe(1);
      expect(expectOneSentence(r)).toMatch(new RegExp(`disk full \\(ENOSPC\\) writing ${to}/\\S+`));
    });

    it("a read-only restore target: 'read-only file system (EROFS)' and the path", async () => {
      const repo = makeRepo({ sources: [{ name: "big", type: "files", path: tree() }] });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const ro = tinyDisk("1m");
      mkdirSync(join(ro, "big"));
      execSync(`mount -o remount,ro '${ro}'`);
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", ro]);
      expect(r.code).toBe(1);
      expect(expectOneSentence(r)).toMatch(new RegExp(`read-only file system \\(EROFS\\) \\w+ ${ro}`));
    });

    it.skipIf(!s3)(
      "TMPDIR full while spooling to S3: exit 1, the spool directory named, no spool file, no complete backup",
      async () => {
        const repo = makeRepo({
          sources: [{ name: "big", type: "files", path: tree() }],
          s3: s3!,
          roles: { writer: s3!.writer, reader: s3!.reader },
        });
        const tmp = tinyDisk("3m");
        const cfg = repo.write((c) => {
          c.repository.s3.part_size_mb = 5;
          c.compression = "none";
        });
        const r = await runCli(["-c", cfg, "backup", "now"], { env: { TMPDIR: tmp } });
        expect(r.code, r.stderr).toBe(1);
        expect(expectOneSentence(r)).toMatch(new RegExp(`disk full \\(ENOSPC\\) .*${tmp}`));
        expect(readdirSync(tmp)).toEqual([]);
        const list = await runCli(["-c", cfg, "--json", "list", "--all"]);
        const rows = JSON.parse(list.stdout) as { complete: boolean }[];
        expect(rows.every((x) => !x.complete)).toBe(true);
        expect(existsSync(tmp)).toBe(true);
      },
    );
  },
);

// docs/point-in-time-recovery.md, "Restoring a cluster by hand": the block run as printed (only the
// values of its variables filled in) on a real base backup, with nothing but age, zstd, tar and
// PostgreSQL's own tools on PATH; the result passes pg_verifybackup like strongbox's own restore.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { initCluster, PG_BIN } from "../helpers/pg-cluster.js";
import { fill, handBlocks } from "../helpers/pitr-docs.js";

const blocks = handBlocks;

describe("docs/point-in-time-recovery.md: the base backup restored by hand, as printed", () => {
  it("has its blocks: the base, the shell restore_command", () => expect(blocks).toHaveLength(2));

  it.skipIf(!PG_BIN)(
    "age -d | zstd -d | tar -x gives a data directory pg_verifybackup accepts",
    { timeout: 180_000 },
    async () => {
      const work = tempDir("docs-pitr");
      const c = await initCluster(work, "docs-pitr-pw", []);
      const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: c.url() }] });
      try {
        c.start();
        await c.query("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id");
        const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
        expect(b.stderr).not.toMatch(/error/i);
        expect(b.code).toBe(0);
        const id = JSON.parse(b.stdout).id;
        const dataDir = join(work, "by-hand");
        const script = fill(blocks[0], {
          REPO: join(repo.dir, "repository"),
          ID: id,
          IDENTITY: repo.identityFile,
          DATADIR: dataDir,
        });
        const out = execFileSync("bash", ["-euo", "pipefail", "-c", script], {
          cwd: tempDir("docs-pitr-cwd"),
          env: { PATH: `${PG_BIN}:/usr/bin:/bin` },
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        });
        expect(out).toMatch(/backup successfully verified/);
        expect(existsSync(join(dataDir, "recovery.signal"))).toBe(true);
        expect(existsSync(join(dataDir, "backup_label"))).toBe(true);
      } finally {
        c.stop();
      }
    },
  );
});

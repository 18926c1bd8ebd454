import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { tamper } from "../helpers/forge.js";
import { createDb, withClient } from "../helpers/pg.js";
import { processesLeft } from "../helpers/processes.js";

const pg = inject("pg");

/** The order of the "<source>: stored" log lines of a backup (JSON logs on stderr). */
function storedOrder(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { msg: string })
    .filter((l) => l.msg.endsWith(": stored"))
    .map((l) => l.msg.replace(/: stored$/, ""));
}

/** Every file of a file:// repository (none when nothing was ever stored: the directory is made on first write). */
function repoFiles(repoDir: string): string[] {
  if (!existsSync(join(repoDir, "repository"))) return [];
  return execSync(`find '${join(repoDir, "repository")}' -type f`)
    .toString()
    .trim()
    .split("\n")
    .filter(Boolean);
}

describe.skipIf(!pg)("sources backed up side by side", () => {
  it(
    "a big source and a small one run at once; the manifest, complete.json and the output keep config order; restore gets both back",
    { timeout: 120_000 },
    async () => {
      const big = tempDir("sbs-big");
      for (let i = 0; i < 4; i++) writeFileSync(join(big, `clip-${i}.bin`), randomBytes(12 << 20));
      const small = tempDir("sbs-small");
      writeFileSync(join(small, "note.txt"), "small");
      const db = await createDb(pg!, "sbs");
      await withClient(db.url, (c) => c.query("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g"));
      const repo = makeRepo({
        sources: [
          { name: "big", type: "files", path: big },
          { name: "small", type: "files", path: small },
          { name: "db", type: "postgres", url: db.url },
        ],
      });

      const serial = await runCli(["-c", repo.configFile, "--json", "backup", "now"], {
        env: { STRONGBOX_SOURCE_CONCURRENCY: "1" },
      });
      expect(serial.code).toBe(0);
      expect(storedOrder(serial.stderr)).toEqual(["big", "small", "db"]);

      const both = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
      expect(both.code).toBe(0);
      // two at once: the small source, second in the config, is stored while the big one still runs
      expect(storedOrder(both.stderr).indexOf("small")).toBeLessThan(storedOrder(both.stderr).indexOf("big"));
      const result = JSON.parse(both.stdout) as { id: string; sources: { name: string }[] };
      expect(result.sources.map((s) => s.name)).toEqual(["big", "small", "db"]);
      const complete = JSON.parse(
        readFileSync(join(repo.dir, "repository", "backups", result.id, "complete.json"), "utf8"),
      ) as { objects: { source?: string; key: string }[]; sources: { name: string }[] };
      expect(complete.sources.map((s) => s.name)).toEqual(["big", "small", "db"]);
      expect(complete.objects.filter((o) => o.source).map((o) => o.source)).toEqual(["big", "small", "db"]);

      const v = await runCli(["-c", repo.configFile, "verify", result.id]);
      expect(v.code).toBe(0);
      const to = tempDir("sbs-to");
      const target = await createDb(pg!, "sbs_to");
      const r = await runCli(["-c", repo.configFile, "restore", result.id, "--to-dir", to, "--to-db", target.url]);
      expect(r.code).toBe(0);
      expect(readFileSync(join(to, "small", "note.txt"), "utf8")).toBe("small");
      // (Buffer.equals: vitest's toEqual on 12 MB buffers takes minutes)
      for (let i = 0; i < 4; i++)
        expect(readFileSync(join(to, "big", `clip-${i}.bin`)).equals(readFileSync(join(big, `clip-${i}.bin`)))).toBe(
          true,
        );
      const rows = await withClient(target.url, (c) => c.query("SELECT count(*)::int AS n FROM t"));
      expect(rows.rows[0].n).toBe(1000);

      // verify and restore run two at once too: a damaged small object fails them (exit 3) while the big
      // one is being read, and the restore keeps nothing of either
      const smallObj = complete.objects
        .find((x) => x.source === "small")!
        .key.split("/")
        .pop()!;
      tamper(join(repo.dir, "repository"), result.id, smallObj, (b) => ((b[b.length - 20] ^= 1), b), { rehash: true });
      const bad = await runCli(["-c", repo.configFile, "verify", result.id]);
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/small/);
      const to2 = tempDir("sbs-to2");
      const target2 = await createDb(pg!, "sbs_to2");
      const r2 = await runCli(["-c", repo.configFile, "restore", result.id, "--to-dir", to2, "--to-db", target2.url]);
      expect(r2.code).toBe(3);
      expect(r2.stderr).toMatch(/small/);
      expect(readdirSync(to2)).toEqual([]);
    },
  );

  it(
    "one source failing leaves the other committed (issue 21): the failure named is the root cause, exit 1, complete.json holds just the other, no temporary object, no pg_dump left",
    { timeout: 120_000 },
    async () => {
      const big = tempDir("sbs-fail-big");
      for (let i = 0; i < 4; i++) writeFileSync(join(big, `clip-${i}.bin`), randomBytes(16 << 20));
      const bad = `postgres://postgres:Wr0ngPassw0rd@${pg!.host}:${pg!.port}/postgres`;
      const repo = makeRepo({
        sources: [
          { name: "big", type: "files", path: big },
          { name: "db", type: "postgres", url: bad },
        ],
      });
      const r = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /committed without the failed source\(s\) db \(source db.*password authentication failed/,
      );
      expect(r.stderr).not.toMatch(/source big/);
      expect(r.stderr).not.toContain("Wr0ngPassw0rd");
      const committed = repoFiles(repo.dir).filter((f) => f.endsWith("complete.json"));
      expect(committed).toHaveLength(1);
      expect(JSON.parse(readFileSync(committed[0], "utf8")).sources).toEqual([{ name: "big", type: "files" }]);
      expect(repoFiles(repo.dir).filter((f) => f.includes(".strongbox-tmp-") || f.includes("/db."))).toEqual([]);

      // the other way round: the files source fails at once while pg_dump works on a large table, which is still stored
      const db = await createDb(pg!, "sbs_fail");
      await withClient(db.url, (c) =>
        c.query("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 300000) g"),
      );
      const repo2 = makeRepo({
        sources: [
          { name: "db", type: "postgres", url: db.url },
          { name: "gone", type: "files", path: join(big, "no-such-dir") },
        ],
      });
      const r2 = await runCli(["-c", repo2.configFile, "backup", "now"]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/committed without the failed source\(s\) gone/);
      expect(r2.stderr).not.toMatch(/source db/);
      expect(await processesLeft(`pg_dump.*${db.name}( |$)`)).toBe("");
      const committed2 = repoFiles(repo2.dir).filter((f) => f.endsWith("complete.json"));
      expect(committed2).toHaveLength(1);
      expect(JSON.parse(readFileSync(committed2[0], "utf8")).sources).toEqual([{ name: "db", type: "postgres" }]);
      expect(repoFiles(repo2.dir).filter((f) => f.includes(".strongbox-tmp-") || f.includes("/gone."))).toEqual([]);
    },
  );
});

// Issue 22 item 21 (c): after kill -9 of `restore --jobs 2`, no database session of the restore
// remains once the kill is observed — pg_restore's workers die with strongbox and their sessions end.
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, runAndKillWhen, runCli, tempDir } from "../helpers/cli.js";
import { createDb, withClient } from "../helpers/pg.js";

const fx = inject("pg");

describe.skipIf(!fx)("kill -9 of restore --jobs 2", () => {
  it("leaves no session of pg_restore or its workers in pg_stat_activity", { timeout: 240_000 }, async () => {
    const src = await createDb(fx!, "rssrc");
    await withClient(src.url, async (c) => {
      // Two big tables, so both workers are busy in a long COPY or index build when the kill comes.
      for (const t of ["a", "b"]) {
        await c.query(`CREATE TABLE ${t} (id int primary key, note text)`);
        await c.query(
          `INSERT INTO ${t} SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 1500000) g`,
        );
        await c.query(`CREATE INDEX ON ${t} (note)`);
      }
    });
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }], compression: "none" });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const target = await createDb(fx!, "rstarget");

    const watcher = new pg.Client({ connectionString: fx!.url });
    await watcher.connect();
    const sessions = async () =>
      (
        await watcher.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [target.name],
        )
      ).rows[0].n;
    const busy = async () =>
      (
        await watcher.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query ~* '^(copy|create index|alter table)'",
          [target.name],
        )
      ).rows[0].n;
    // The kill comes when both workers are at work (polled; the CLI's kill helper checks the flag every 20 ms).
    let working = false;
    let polling = true;
    const poll = (async () => {
      while (polling && !working) {
        working = (await busy()) >= 2;
        if (!working) await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const k = await runAndKillWhen(
      ["-c", repo.configFile, "restore", "latest", "--to-db", target.url, "--jobs", "2"],
      () => working,
      { TMPDIR: tempDir("rs-tmp") },
    );
    polling = false;
    await poll;
    expect(k.killed).toBe(true);
    // Bounded wait for the sessions to go: they must end with the processes, not after their statement.
    let left = await sessions();
    for (let i = 0; i < 10 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await sessions();
    }
    expect(left).toBe(0);
    await watcher.end();
  });
});

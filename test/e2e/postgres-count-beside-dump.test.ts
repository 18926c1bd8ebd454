// issue 26: a database backup counted every table's rows before it started pg_dump, so the dump waited
// for a scan of the whole database. The counts then ran beside pg_dump; now they come from the dump's
// own output (postgres-dump-rows.test.ts), and pg_dump still starts at once, in the counts' snapshot.
import { describe, expect, inject, it } from "vitest";
import pg from "pg";
import { makeRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";
import { until } from "../helpers/until.js";

const fx = inject("pg");

describe.skipIf(!fx)("database backup: row counts beside pg_dump", () => {
  it("pg_dump starts while the row counts still wait, and counts and dump describe the same snapshot", async () => {
    const src = await createDb(fx!, "countbeside");
    await withClient(src.url, (c) => c.query("CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 3);"));
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    // Another session holds the table: counting it waits, and so would pg_dump's lock on it.
    const locker = new pg.Client({ connectionString: src.url });
    await locker.connect();
    let backup: ReturnType<typeof runCli> | undefined;
    try {
      await locker.query("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
      backup = runCli(["-c", repo.configFile, "backup", "now"]);
      // Counting first, pg_dump would not connect until the lock is gone: strongbox's own session
      // (holding the snapshot) and pg_dump's (waiting) both say application_name strongbox. (Asked from a session
      // of its own: the locker's transaction sees pg_stat_activity as it was at its first look.)
      await until(
        () =>
          withClient(src.url, (c) =>
            c.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'strongbox'",
            ),
          ).then((r) => Number(r.rows[0].n) >= 2),
        30_000,
      );
      // Committed after the snapshot: in neither the dump nor the counts.
      await locker.query("INSERT INTO t VALUES (4), (5)");
    } finally {
      await locker.query("COMMIT").catch(() => {});
      await locker.end();
    }
    const b = await backup!;
    expect(b.code, b.stderr).toBe(0);
    const dst = await createDb(fx!, "countbesidedst");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-db", dst.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("1 tables, 3 rows");
    const n = await withClient(dst.url, (c) => c.query<{ n: string }>("SELECT count(*) AS n FROM t"));
    expect(n.rows[0].n).toBe("3");
  });
});

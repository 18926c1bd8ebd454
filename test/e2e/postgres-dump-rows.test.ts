// issue 26: a database backup's row counts come from pg_dump's own output as it streams past
// (src/sources/postgres/dump-rows.ts), not from a second scan of every table with count(*). They must be
// what count(*) says in the dump's snapshot, for every shape of table and row; and where the dump cannot
// be followed the backup counts with count(*) as before.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { DumpRowCounter, rowsOf, tableKey } from "../../src/sources/postgres/dump-rows.js";
import { countRows, inheritanceTrees, listTables } from "../../src/sources/postgres/connection.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";
import { until } from "../helpers/until.js";

const fx = inject("pg");
const pgBin = execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1"])
  .toString()
  .trim();

/** Every shape the counter must get right: what COPY text makes of odd values, inheritance, partitions, large objects, a row over 2 MiB. */
const SCHEMA = `
  CREATE TABLE plain (v int); INSERT INTO plain SELECT generate_series(1, 1000);
  CREATE TABLE empty (v int);
  CREATE TABLE texty (s text);
  INSERT INTO texty VALUES (E'a\\nb'), ('\\.'), (''), (E'\\\\'), (E'x\\r\\ny'), (NULL), (E'\\\\.\\n\\n\\n'), (E'\\n');
  CREATE TABLE onecol (s text); INSERT INTO onecol VALUES (''), (''), ('\\.');
  CREATE TABLE blanks (s text); INSERT INTO blanks VALUES (''), ('');
  CREATE TABLE parent (v int); INSERT INTO parent VALUES (1), (2);
  CREATE TABLE child () INHERITS (parent); INSERT INTO child VALUES (3), (4), (5);
  CREATE TABLE dp (v int); CREATE TABLE da () INHERITS (dp); CREATE TABLE db () INHERITS (dp);
  CREATE TABLE dg () INHERITS (da, db); INSERT INTO dg VALUES (1), (2), (3); INSERT INTO dp VALUES (10);
  CREATE TABLE meas (k int) PARTITION BY RANGE (k);
  CREATE TABLE meas_a PARTITION OF meas FOR VALUES FROM (0) TO (100);
  CREATE TABLE meas_b PARTITION OF meas FOR VALUES FROM (100) TO (1000) PARTITION BY RANGE (k);
  CREATE TABLE meas_b1 PARTITION OF meas_b FOR VALUES FROM (100) TO (1000);
  INSERT INTO meas SELECT generate_series(0, 129);
  CREATE SCHEMA "Sch ema"; CREATE TABLE "Sch ema"."ta""ble" (v text); INSERT INTO "Sch ema"."ta""ble" VALUES ('x'), ('y');
  CREATE TABLE wide (s text); INSERT INTO wide VALUES (repeat('x', 3 * 1024 * 1024)), ('short');
  SELECT lo_from_bytea(0, decode(repeat('0a', 70000), 'hex'));
`;

/** count(*) of every table (the old way, and what a restore checks against). */
async function counts(url: string): Promise<Map<string, number>> {
  return withClient(url, async (c) => {
    const counted = await countRows(c, await listTables(c, { schemas: [], exclude: [] }));
    return new Map(counted.map((t) => [tableKey(t.schema, t.name), t.rows]));
  });
}

/** A pg_bin_dir whose pg_dump compresses whatever it is asked: output the counter refuses to follow. */
function compressingPgDump(): string {
  const dir = tempDir("pgbin");
  mkdirSync(dir, { recursive: true });
  for (const tool of ["pg_dump", "pg_restore", "pg_dumpall"]) {
    const body =
      tool === "pg_dump"
        ? `args=(); for a in "$@"; do [ "$a" = --compress=0 ] && a=--compress=1; args+=("$a"); done; exec ${pgBin}/pg_dump "\${args[@]}"`
        : `exec ${pgBin}/${tool} "$@"`;
    writeFileSync(join(dir, tool), `#!/bin/bash\n${body}\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}

describe.skipIf(!fx)("row counts from the dump stream", () => {
  it("equal count(*) for every table, however the output is cut into chunks", async () => {
    const db = await createDb(fx!, "dumprows");
    await withClient(db.url, (c) => c.query(SCHEMA));
    const dump = execFileSync(`${pgBin}/pg_dump`, ["-Fc", "-Z0", db.name], {
      env: { ...process.env, PGHOST: fx!.host, PGPORT: String(fx!.port), PGUSER: "postgres", PGPASSWORD: fx!.password },
      maxBuffer: 1 << 30,
    });
    const want = await counts(db.url);
    const { listed, trees } = await withClient(db.url, async (c) => {
      const listed = await listTables(c, { schemas: [], exclude: [] });
      return { listed, trees: await inheritanceTrees(c, listed) };
    });
    expect(want.get(tableKey("public", "parent"))).toBe(5);
    expect(want.get(tableKey("public", "meas"))).toBe(130);
    expect(want.get(tableKey("public", "dp"))).toBe(4); // dg inherits twice from dp: counted once
    for (const size of [7, 4099, 65_536, dump.length]) {
      const counter = new DumpRowCounter();
      for (let at = 0; at < dump.length; at += size) counter.push(dump.subarray(at, at + size));
      const result = counter.result();
      expect("rows" in result ? "" : result.error, `chunks of ${size}`).toBe("");
      const { rows, why } = rowsOf(listed, trees, result);
      expect(why).toBeNull();
      const got = new Map(listed.map((t, i) => [tableKey(t.schema, t.name), rows[i]]));
      expect(got, `chunks of ${size}`).toEqual(want);
    }
  });

  it("a backup records count(*)'s numbers (the restore checks them), from the stream, or with count(*) where it cannot follow the dump", async () => {
    const db = await createDb(fx!, "dumprowsbk");
    await withClient(db.url, (c) => c.query(SCHEMA));
    const want = await counts(db.url);
    const total = [...want.values()].reduce((a, b) => a + b, 0);
    const wrapped = compressingPgDump();
    for (const bin of [undefined, wrapped]) {
      const repo = makeRepo({
        sources: [{ name: "db", type: "postgres", url: db.url, ...(bin && { pg_bin_dir: bin }) }],
      });
      const b = await runCli(["-c", repo.configFile, "-v", "backup", "now"]);
      expect(b.code, b.stderr).toBe(0);
      if (bin) expect(b.stderr).toMatch(/\d+ tables counted with count\(\*\): a compressed archive/);
      else expect(b.stderr).not.toContain("counted with count(*)");
      const dst = await createDb(fx!, "dumprowsdst");
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", dst.url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`${want.size} tables, ${total} rows`);
      expect(await counts(dst.url)).toEqual(want);
    }
  });
  it("in a LATIN1 database, a name outside ASCII is counted with count(*), never given another table's rows", async () => {
    const name = `t_dumprows_latin1_${process.pid}`;
    await withClient(fx!.url, (c) =>
      c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`),
    );
    const url = fx!.url.replace(/\/postgres$/, `/${name}`);
    // "Ã©" in LATIN1 is the bytes of "é" in UTF-8.
    await withClient(url, (c) =>
      c.query(`CREATE TABLE "Ã©" (v int); INSERT INTO "Ã©" VALUES (1);
               CREATE TABLE "é" (v int); INSERT INTO "é" VALUES (1), (2);
               CREATE TABLE plain (v int); INSERT INTO plain VALUES (1), (2), (3);`),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url }] });
    const b = await runCli(["-c", repo.configFile, "-v", "backup", "now"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("2 tables counted with count(*): no data in the dump for public.");
    const dst = await createDb(fx!, "dumprowslatin1dst");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", dst.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("3 tables, 6 rows");
    await withClient(fx!.url, (c) => c.query(`DROP DATABASE ${name}`));
  });
  it("a server's idle-in-transaction timeout does not end the snapshot's session while pg_dump waits", async () => {
    const db = await createDb(fx!, "dumprowsidle");
    await withClient(db.url, (c) =>
      c.query(
        `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2);
         ALTER DATABASE ${db.name} SET idle_in_transaction_session_timeout = '300ms'`,
      ),
    );
    // The fallback (a compressed dump) needs the snapshot's session after the dump, and pg_dump waits
    // on a lock until strongbox's session has sat idle in its transaction well past the timeout.
    const repo = makeRepo({
      sources: [{ name: "db", type: "postgres", url: db.url, pg_bin_dir: compressingPgDump() }],
    });
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    let backup: ReturnType<typeof runCli> | undefined;
    try {
      await locker.query("SET idle_in_transaction_session_timeout = 0; BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
      backup = runCli(["-c", repo.configFile, "-v", "backup", "now"]);
      await until(
        () =>
          withClient(db.url, (c) =>
            c.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'strongbox'
                 AND state = 'idle in transaction' AND state_change < now() - interval '1 second'`,
            ),
          ).then((r) => Number(r.rows[0].n) >= 1),
        30_000, // without the fix, the session is gone and this never holds
      );
    } finally {
      await locker.query("COMMIT").catch(() => {});
      await locker.end();
    }
    const b = await backup!;
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("1 tables counted with count(*): a compressed archive");
  });
});

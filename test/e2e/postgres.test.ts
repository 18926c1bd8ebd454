import { execSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";

const fx = inject("pg");
const pgBin = (() => {
  try {
    return execSync("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1").toString().trim();
  } catch {
    return "";
  }
})();

/** Every awkward thing a real application database has. */
const AWKWARD_SCHEMA = `
  CREATE SCHEMA app;
  CREATE TABLE app."MixedCase Items" (id serial PRIMARY KEY, doc jsonb, blob bytea, amount numeric(30,10), note text);
  INSERT INTO app."MixedCase Items" (doc, blob, amount, note)
    SELECT jsonb_build_object('n', g, 'nested', jsonb_build_array(g, 'ü✓', null)), decode(md5(g::text), 'hex'), g * 1.0000000001, repeat('x', g % 50)
      FROM generate_series(1, 2000) g;
  CREATE TABLE public.audit (id bigserial PRIMARY KEY, item_id int, at timestamptz DEFAULT now());
  CREATE FUNCTION app.log_item() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.audit(item_id) VALUES (NEW.id); RETURN NEW; END $$;
  CREATE TRIGGER items_audit AFTER INSERT ON app."MixedCase Items" FOR EACH ROW EXECUTE FUNCTION app.log_item();
  CREATE VIEW app.big_items AS SELECT id, amount FROM app."MixedCase Items" WHERE amount > 1000;
  CREATE SEQUENCE app.invoice_no START 1000;
  SELECT nextval('app.invoice_no') FROM generate_series(1, 41);
  CREATE TABLE public.docs (id int PRIMARY KEY, content oid);
  INSERT INTO public.docs VALUES (1, lo_from_bytea(0, convert_to('large object content ✓', 'UTF8')));
`;

describe.skipIf(!fx)("postgres source on a real PostgreSQL", () => {
  it("round-trips awkward data: jsonb, bytea, numeric, quoted identifiers, views, functions, triggers, sequences, large objects", async () => {
    const src = await createDb(fx!, "awk");
    await withClient(src.url, (c) => c.query(AWKWARD_SCHEMA));
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.stderr).not.toMatch(/error/);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    expect(readdirSync(join(repo.dir, "repository/backups", id)).sort()).toEqual([
      "complete.json",
      "db.pgdump.zst.age",
      "manifest.json.zst.age",
    ]);

    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    expect(v.code).toBe(0);

    const dst = await createDb(fx!, "awkdst");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", id, "--to-db", dst.url]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const checks = JSON.parse(r.stdout).sources[0].checks;
    expect(checks[0]).toMatchObject({ ok: true });

    const q = (url: string, sql: string) => withClient(url, async (c) => (await c.query(sql)).rows);
    for (const sql of [
      `SELECT md5(string_agg(doc::text || encode(blob, 'hex') || amount::text || note, ',' ORDER BY id)) AS h FROM app."MixedCase Items"`,
      "SELECT count(*) AS n FROM public.audit",
      "SELECT count(*) AS n FROM app.big_items",
      "SELECT convert_from(lo_get(content), 'UTF8') AS t FROM public.docs",
    ]) {
      expect(await q(dst.url, sql)).toEqual(await q(src.url, sql));
    }
    expect(await q(dst.url, "SELECT nextval('app.invoice_no') AS n")).toEqual([{ n: "1041" }]);
    // the trigger came back and fires (it was created after the initial rows, so audit was empty)
    await q(dst.url, `INSERT INTO app."MixedCase Items" (note) VALUES ('after restore')`);
    expect(await q(dst.url, "SELECT count(*)::int AS n FROM public.audit")).toEqual([{ n: 1 }]);
  });

  it("takes a consistent snapshot while a writer keeps moving money and inserting rows", async () => {
    const src = await createDb(fx!, "load");
    await withClient(src.url, (c) =>
      c.query(`
        CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
        INSERT INTO accounts VALUES (1, 1000000), (2, 0);
        CREATE TABLE ledger (id bigserial PRIMARY KEY, amount int, filler text);
        INSERT INTO ledger (amount, filler) SELECT 0, repeat(md5(g::text), 8) FROM generate_series(1, 150000) g;`),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    let stop = false;
    let moves = 0;
    const writer = withClient(src.url, async (c) => {
      while (!stop) {
        const amount = 1 + (moves % 7);
        await c.query("BEGIN");
        await c.query("UPDATE accounts SET balance = balance - $1 WHERE id = 1", [amount]);
        await c.query("INSERT INTO ledger (amount, filler) VALUES ($1, 'move')", [amount]);
        await c.query("UPDATE accounts SET balance = balance + $1 WHERE id = 2", [amount]);
        await c.query("COMMIT");
        moves++;
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    stop = true;
    await writer;
    expect(b.code).toBe(0);
    expect(moves).toBeGreaterThan(10);
    const dst = await createDb(fx!, "loaddst");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-db", dst.url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).sources[0].checks[0].ok).toBe(true);
    await withClient(dst.url, async (c) => {
      const sum = await c.query("SELECT sum(balance)::bigint AS s FROM accounts");
      expect(sum.rows[0].s).toBe("1000000");
      const moved = await c.query(
        "SELECT (SELECT balance FROM accounts WHERE id = 2) = (SELECT coalesce(sum(amount), 0) FROM ledger) AS ok",
      );
      expect(moved.rows[0].ok).toBe(true);
    });
  });

  it("restores by hand with age, zstd and pg_restore, as the README says", async () => {
    const src = await createDb(fx!, "hand");
    await withClient(src.url, (c) =>
      c.query("CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;"),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const dst = await createDb(fx!, "handdst");
    const dir = tempDir("pghand");
    const obj = join(repo.dir, "repository/backups", id, "db.pgdump.zst.age");
    execSync(
      `age -d -i '${repo.identityFile}' '${obj}' | zstd -d > '${dir}/db.pgdump' && pg_restore -d '${dst.url}' '${dir}/db.pgdump'`,
    );
    const n = await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n);
    expect(n).toBe(500);
  });

  it("refuses a target that has tables without --force, and restores over it with --force", async () => {
    const src = await createDb(fx!, "force");
    await withClient(src.url, (c) => c.query("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10);"));
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const dst = await createDb(fx!, "forcedst");
    await withClient(dst.url, (c) =>
      c.query("CREATE TABLE t (id int); INSERT INTO t VALUES (42); CREATE TABLE other (x int);"),
    );
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", dst.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already has 2 tables.*--force/);
    expect(await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n)).toBe(
      1,
    );
    const f = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", dst.url, "--force"]);
    expect(f.stderr).not.toMatch(/error/);
    expect(f.code).toBe(0);
    expect(await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n)).toBe(
      10,
    );
  });

  it("restores in parallel (--jobs), without owners (--no-owner), with the target URL from the environment", async () => {
    const src = await createDb(fx!, "jobs");
    await withClient(src.url, (c) =>
      c.query(
        "CREATE TABLE a (id int); CREATE TABLE b (id int); INSERT INTO a SELECT generate_series(1, 1000); INSERT INTO b SELECT generate_series(1, 2000);",
      ),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const dst = await createDb(fx!, "jobsdst");
    const r = await runCli(
      ["-c", repo.configFile, "restore", "latest", "--to-db", "env:STRONGBOX_TEST_TARGET", "--jobs", "2", "--no-owner"],
      { env: { STRONGBOX_TEST_TARGET: dst.url } },
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(
      await withClient(
        dst.url,
        async (c) => (await c.query("SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n")).rows[0].n,
      ),
    ).toBe("3000");
  });

  it("globals: true stores roles as <source>.globals.sql.age", async () => {
    const src = await createDb(fx!, "glob");
    await withClient(fx!.url, (c) =>
      c.query(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'spx_app') THEN CREATE ROLE spx_app LOGIN; END IF; END $$",
      ),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url, globals: true }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const sql = execSync(
      `age -d -i '${repo.identityFile}' '${join(repo.dir, "repository/backups", id, "db.globals.sql.age")}'`,
    ).toString();
    expect(sql).toMatch(/CREATE ROLE spx_app/);
    expect((await runCli(["-c", repo.configFile, "verify", id])).code).toBe(0);

    // A flipped byte in the globals (the size kept): verify fails, and so does restore, before it
    // touches the target (restore uses no globals, but a backup verify fails must not restore).
    const globals = join(repo.dir, "repository/backups", id, "db.globals.sql.age");
    const bytes = readFileSync(globals);
    bytes[bytes.length - 20] ^= 1;
    writeFileSync(globals, bytes);
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    const dst = await createDb(fx!, "globdst");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-db", dst.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/db\.globals\.sql\.age: SHA-256 mismatch/);
    const tables = await withClient(dst.url, (c) =>
      c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"),
    );
    expect(tables.rows[0].n).toBe(0);
  });

  describe("failures: a clear error, exit 1, no complete backup", () => {
    const expectNoCompleteBackup = (repoDir: string) => {
      const dir = join(repoDir, "repository/backups");
      let ids: string[] = [];
      try {
        ids = readdirSync(dir);
      } catch {
        return;
      }
      for (const id of ids) expect(readdirSync(join(dir, id))).not.toContain("complete.json");
    };

    it("wrong password (and the password never shows)", async () => {
      const repo = makeRepo({
        sources: [
          { name: "db", type: "postgres", url: `postgres://postgres:Wr0ngPassw0rd@${fx!.host}:${fx!.port}/postgres` },
        ],
      });
      const r = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/password authentication failed/);
      expect(r.stderr).not.toContain("Wr0ngPassw0rd");
      expectNoCompleteBackup(repo.dir);
    });

    it("unreachable host", async () => {
      const repo = makeRepo({
        sources: [{ name: "db", type: "postgres", url: "postgres://postgres:x@127.0.0.1:9/postgres" }],
      });
      const r = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:9\/postgres.*ECONNREFUSED/);
      expectNoCompleteBackup(repo.dir);
    });

    it("pg_dump killed mid-stream", async () => {
      const src = await createDb(fx!, "killed");
      await withClient(src.url, (c) =>
        c.query(
          "CREATE TABLE t (v text); INSERT INTO t SELECT repeat(md5(g::text), 20) FROM generate_series(1, 20000) g;",
        ),
      );
      const bin = tempDir("fakebin");
      writeFileSync(
        join(bin, "pg_dump"),
        `#!/bin/sh\nif [ "$1" = "--version" ]; then exec ${pgBin}/pg_dump --version; fi\n${pgBin}/pg_dump "$@" | head -c 30000\nkill -9 $$\n`,
      );
      chmodSync(join(bin, "pg_dump"), 0o755);
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url, pg_bin_dir: bin }] });
      const r = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/pg_dump was killed by SIGKILL/);
      expectNoCompleteBackup(repo.dir);
    });

    it("a pg_dump older than the server names both versions", async () => {
      const bin = tempDir("oldbin");
      writeFileSync(join(bin, "pg_dump"), `#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n`);
      chmodSync(join(bin, "pg_dump"), 0o755);
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: fx!.url, pg_bin_dir: bin }] });
      const r = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/pg_dump 9\.6 .* is older than the server \(PostgreSQL \d+\).*postgresql-client-\d+/);
      expectNoCompleteBackup(repo.dir);
    });
  });

  it("the password reaches pg_dump through the environment, never argv", async () => {
    const src = await createDb(fx!, "argv");
    const bin = tempDir("argvbin");
    mkdirSync(join(bin, "log"));
    writeFileSync(
      join(bin, "pg_dump"),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec ${pgBin}/pg_dump --version; fi\necho "$@" > ${bin}/log/argv\nexec ${pgBin}/pg_dump "$@"\n`,
    );
    chmodSync(join(bin, "pg_dump"), 0o755);
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url, pg_bin_dir: bin }] });
    const r = await runCli(["-c", repo.configFile, "backup", "now"]);
    expect(r.code).toBe(0);
    const argv = execSync(`cat ${bin}/log/argv`).toString();
    expect(argv).toMatch(/--snapshot=/);
    expect(argv).not.toContain(fx!.password);
    expect(r.stderr).not.toContain(fx!.password);
  });
});

describe.skipIf(!fx)("postgres checks against the manifest", () => {
  it("a restored row count that differs from the manifest exits 3 and names the table; a dump pg_restore cannot parse fails verify (exit 3)", async () => {
    const { createHash } = await import("node:crypto");
    const { readFileSync } = await import("node:fs");
    const { Readable } = await import("node:stream");
    const { createEncryptStream, createDecryptStream } = await import("../../src/crypto/age.js");
    const { parseIdentities, parseRecipient } = await import("../../src/crypto/age-keys.js");
    const seal = async (plain: Buffer, recipient: string) => {
      const chunks: Buffer[] = [];
      for await (const c of Readable.from([plain]).pipe(createEncryptStream([parseRecipient(recipient)!])))
        chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const src = await createDb(fx!, "mism");
    await withClient(src.url, (c) => c.query("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 7);"));
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const dir = join(repo.dir, "repository/backups", id);
    const ids = parseIdentities(readFileSync(repo.identityFile, "utf8"));
    // Rewrite an object as someone holding the public key could, keeping complete.json consistent.
    const replace = async (file: string, plain: Buffer) => {
      const sealed = await seal(plain, repo.recipient);
      writeFileSync(join(dir, file), sealed);
      const complete = JSON.parse(readFileSync(join(dir, "complete.json"), "utf8"));
      const o = complete.objects.find((x: { key: string }) => x.key.endsWith(file));
      o.size = sealed.length;
      o.sha256 = createHash("sha256").update(sealed).digest("hex");
      writeFileSync(join(dir, "complete.json"), JSON.stringify(complete));
    };
    const chunks: Buffer[] = [];
    // The manifest is compressed like the data (manifest.json.zst.age).
    for await (const c of Readable.from([readFileSync(join(dir, "manifest.json.zst.age"))]).pipe(
      createDecryptStream(ids),
    ))
      chunks.push(c as Buffer);
    const manifest = JSON.parse(zstdDecompressSync(Buffer.concat(chunks)).toString());
    manifest.sources.db.tables[0].rows = 8;
    await replace("manifest.json.zst.age", zstdCompressSync(Buffer.from(JSON.stringify(manifest))));
    const dst = await createDb(fx!, "mismdst");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-db", dst.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/public\.t: 7 rows, manifest says 8/);

    await replace("db.pgdump.zst.age", zstdCompressSync(Buffer.from("PGDMP this is not a dump")));
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/pg_restore exited with code 1/);
  });
});

describe.skipIf(!fx)("verify reads a whole postgres dump", () => {
  it("verify prints '<id>  OK' (and --json ok with checks); a tampered last 64 KiB chunk with complete.json recomputed is exit 3", async () => {
    const { createHash } = await import("node:crypto");
    const { readFileSync } = await import("node:fs");
    const src = await createDb(fx!, "whole");
    // Enough incompressible rows that pg_restore --list has read the TOC long before the last chunk.
    await withClient(src.url, (c) =>
      c.query(
        "CREATE TABLE big (id int, h text); INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g;",
      ),
    );
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
    const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    expect(v.code).toBe(0);
    const j = await runCli(["-c", repo.configFile, "--json", "verify", id]);
    expect(j.code).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out).toMatchObject({ ok: true, backups: [{ id, ok: true }] });
    expect(out.backups[0].checks.map((c: { name: string }) => c.name)).toEqual([
      "objects match complete.json (size, SHA-256) and decrypt",
      "db: dump parses (pg_restore --list) and holds every table",
    ]);

    const dir = join(repo.dir, "repository/backups", id);
    const file = join(dir, "db.pgdump.zst.age");
    const body = readFileSync(file);
    expect(body.length).toBeGreaterThan(3 * 64 * 1024);
    body[body.length - 20] ^= 0x40; // inside the final chunk's ciphertext
    writeFileSync(file, body);
    const complete = JSON.parse(readFileSync(join(dir, "complete.json"), "utf8"));
    const o = complete.objects.find((x: { key: string }) => x.key.endsWith("db.pgdump.zst.age"));
    o.sha256 = createHash("sha256").update(body).digest("hex");
    writeFileSync(join(dir, "complete.json"), JSON.stringify(complete));
    const t = await runCli(["-c", repo.configFile, "verify", id]);
    expect(t.stdout).toMatch(new RegExp(`^${id}  FAILED: `));
    expect(t.code).toBe(3);
    const dst = await createDb(fx!, "wholedst");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-db", dst.url]);
    expect(r.code).toBe(3);
  });
});

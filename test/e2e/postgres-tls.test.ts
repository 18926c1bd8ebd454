import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";

const fx = inject("pg");
const isRoot = process.getuid?.() === 0;

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "ignore" });
}

/** A CA and a server certificate for 127.0.0.1, readable by the postgres user. */
function makeCerts(dir: string): void {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-subj",
      "/CN=strongbox test CA",
      "-days",
      "2",
    ],
    dir,
  );
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
    dir,
  );
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "san.ext",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "other.key",
      "-out",
      "other-ca.crt",
      "-subj",
      "/CN=some other CA",
      "-days",
      "2",
    ],
    dir,
  );
  chmodSync(dir, 0o755);
  const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString());
  const pgGid = Number(execFileSync("id", ["-g", "postgres"]).toString());
  for (const f of ["server.crt", "server.key"]) chownSync(join(dir, f), pgUid, pgGid);
  chmodSync(join(dir, "server.key"), 0o600);
}

describe.skipIf(!fx || !isRoot)(
  "postgres over TLS: sslmode and sslrootcert in the URL are honoured by strongbox and pg_dump",
  () => {
    const dir = tempDir("tls");
    let hbaFile = "";
    let hbaBefore = "";
    let db = "";

    beforeAll(async () => {
      makeCerts(dir);
      db = (await createDb(fx!, "tls")).name;
      await withClient(fx!.url, async (c) => {
        hbaFile = (await c.query("SHOW hba_file")).rows[0].hba_file;
        await c.query(
          "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tlsuser') THEN CREATE ROLE tlsuser LOGIN PASSWORD 'tls-pw-123'; END IF; END $$",
        );
        await c.query(`ALTER DATABASE ${db} OWNER TO tlsuser`);
        await c.query(`ALTER SYSTEM SET ssl_cert_file = '${join(dir, "server.crt")}'`);
        await c.query(`ALTER SYSTEM SET ssl_key_file = '${join(dir, "server.key")}'`);
        await c.query("ALTER SYSTEM SET ssl = on");
        // tlsuser may only connect over TLS: any plaintext connection of theirs is rejected.
        hbaBefore = readFileSync(hbaFile, "utf8");
        writeFileSync(
          hbaFile,
          `hostnossl all tlsuser 0.0.0.0/0 reject\nhostssl all tlsuser 127.0.0.1/32 scram-sha-256\n${hbaBefore}`,
        );
        await c.query("SELECT pg_reload_conf()");
      });
      await withClient(
        `postgres://tlsuser:tls-pw-123@127.0.0.1:${fx!.port}/${db}?sslmode=verify-full&sslrootcert=${join(dir, "ca.crt")}`,
        (c) => c.query("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 42);"),
      );
    });

    afterAll(async () => {
      if (!hbaFile) return;
      writeFileSync(hbaFile, hbaBefore);
      await withClient(fx!.url, async (c) => {
        await c.query("ALTER SYSTEM RESET ssl");
        await c.query("ALTER SYSTEM RESET ssl_cert_file");
        await c.query("ALTER SYSTEM RESET ssl_key_file");
        await c.query("SELECT pg_reload_conf()");
      });
    });

    const url = (mode: string, ca = "ca.crt") =>
      `postgres://tlsuser:tls-pw-123@127.0.0.1:${fx!.port}/${db}?sslmode=${mode}&sslrootcert=${join(dir, ca)}`;

    it("backs up and restores over verified TLS (pg_dump could not connect otherwise)", async () => {
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: url("verify-full") }] });
      const b = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(b.stderr).not.toMatch(/error/);
      expect(b.code).toBe(0);
      expect(b.stderr).not.toContain("tls-pw-123");
      const dst = await createDb(fx!, "tlsdst");
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", dst.url]);
      expect(r.code).toBe(0);
    });

    it("sslmode=disable is refused by a TLS-only server: a clear error, exit 1", async () => {
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: url("disable") }] });
      const b = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(/pg_hba\.conf rejects connection|no pg_hba\.conf entry/);
    });

    it("a certificate from another CA fails verification: a clear error, exit 1", async () => {
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: url("verify-full", "other-ca.crt") }] });
      const b = await runCli(["-c", repo.configFile, "backup", "now"]);
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(/certificate/i);
    });
  },
);

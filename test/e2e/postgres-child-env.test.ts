// issue 22 item 6: pg_dump, pg_dumpall and pg_restore get a minimal environment: no strongbox secret
// (identity passphrase, S3 keys, the database URL) reaches them; what libpq needs does.
import { execSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
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

describe.skipIf(!fx)("the environment of PostgreSQL tools", () => {
  it("backup (pg_dump, pg_dumpall) and restore (pg_restore) see no secret variable, and what libpq needs", async () => {
    const src = await createDb(fx!, "childenv");
    await withClient(src.url, (c) => c.query("CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b');"));
    const bin = tempDir("envbin");
    const log = join(bin, "log");
    mkdirSync(log);
    // Each wrapper records its environment (NUL-separated), then runs the real tool.
    for (const tool of ["pg_dump", "pg_dumpall", "pg_restore"]) {
      writeFileSync(join(bin, tool), `#!/bin/sh\nenv -0 > ${log}/${tool}-$$\nexec ${pgBin}/${tool} "$@"\n`);
      chmodSync(join(bin, tool), 0o755);
    }
    const repo = makeRepo({
      sources: [{ name: "db", type: "postgres", url: "${DATABASE_URL}", pg_bin_dir: bin, globals: true }],
    });
    writeFileSync(repo.configFile, stringify(repo.config));
    const secrets = {
      STRONGBOX_IDENTITY_PASSPHRASE: "passphrase-that-must-stay-home",
      AWS_SECRET_ACCESS_KEY: "aws-secret-that-must-stay-home",
      AWS_ACCESS_KEY_ID: "AKIAMUSTSTAYHOME",
      BACKUP_WRITER_SECRET: "writer-secret-that-must-stay-home",
      DATABASE_URL: src.url,
      SOME_TOKEN: "token-that-must-stay-home",
    };
    const env = {
      ...secrets,
      LANG: "C.UTF-8",
      LC_MESSAGES: "C",
      TZ: "UTC",
      PGSSLMODE: "disable",
      PGCONNECT_TIMEOUT: "7",
    };
    const b = await runCli(["-c", repo.configFile, "backup", "now"], { env });
    expect(b.code, b.stderr).toBe(0);
    const dst = await createDb(fx!, "childenvdst");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-db", "env:TARGET_URL"], {
      env: { ...env, TARGET_URL: dst.url },
    });
    expect(r.code, r.stderr).toBe(0);

    const seen = readdirSync(log);
    let connecting = 0;
    for (const tool of ["pg_dump", "pg_dumpall", "pg_restore"])
      expect(
        seen.some((f) => f.startsWith(`${tool}-`)),
        tool,
      ).toBe(true);
    for (const f of seen) {
      const childEnv = Object.fromEntries(
        readFileSync(join(log, f), "utf8")
          .split("\0")
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      const names = Object.keys(childEnv);
      for (const [k, v] of Object.entries({ ...secrets, TARGET_URL: dst.url })) {
        expect(names, `${f}: ${k}`).not.toContain(k);
        expect(
          Object.values(childEnv).some((x) => x.includes(v)),
          `${f}: the value of ${k}`,
        ).toBe(false);
      }
      // Only what the tools need: nothing outside the inherited set (PWD, SHLVL and _ are the wrapper shell's own).
      expect(
        names.filter((k) => !/^(PATH|HOME|LANG|LC_[A-Z_]+|TZ|TMPDIR|PG[A-Z_]+|PWD|SHLVL|_)$/.test(k)),
        f,
      ).toEqual([]);
      expect(childEnv).toMatchObject({ LANG: "C.UTF-8", LC_MESSAGES: "C", TZ: "UTC", PGSSLMODE: "disable" });
      expect(childEnv.PATH).toBeTruthy();
      // A tool that connects (not pg_restore --list) gets the connection, its password included, from the URL.
      if (childEnv.PGHOST) {
        connecting++;
        expect(childEnv).toMatchObject({ PGAPPNAME: "strongbox", PGPASSWORD: fx!.password, PGCONNECT_TIMEOUT: "10" });
      }
    }
    expect(connecting).toBeGreaterThanOrEqual(3);
    await withClient(dst.url, async (c) =>
      expect((await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(2),
    );
  }, 120_000);
});

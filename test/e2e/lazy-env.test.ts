// Issue 22, item 15: a config's ${VAR}s are resolved per role and per source used. A host without
// DATABASE_URL can list and verify, and back up the files; what needs the variable fails with a
// one-line config error (exit 2) naming it, the key and the config file.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { openStore } from "../../src/stores/open-store.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb } from "../helpers/pg.js";

const fx = inject("pg");

describe("a config with ${DATABASE_URL} unset", () => {
  it("list, verify and backup --source files succeed; backup --source db is exit 2 naming DATABASE_URL; config check and doctor name it", async () => {
    const data = tempDir("lazy-data");
    writeFileSync(join(data, "a.txt"), "a\n");
    const repo = makeRepo({
      sources: [
        { name: "files", type: "files", path: data },
        { name: "db", type: "postgres", url: "${DATABASE_URL}" },
      ],
    });
    const c = ["-c", repo.configFile];

    const backup = await runCli([...c, "backup", "now", "--source", "files"]);
    expect(backup.stderr).not.toMatch(/DATABASE_URL/);
    expect(backup.code).toBe(0);
    const list = await runCli([...c, "list"]);
    expect(list.stderr).toBe("");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/files/);
    const verify = await runCli([...c, "verify", "latest"]);
    expect(verify.code).toBe(0);

    const db = await runCli([...c, "backup", "now", "--source", "db"]);
    expect(db.code).toBe(2);
    expect(db.stderr.trim().split("\n")).toHaveLength(1);
    expect(db.stderr).toContain(
      `strongbox: invalid config: ${repo.configFile}: sources[1].url: environment variable DATABASE_URL is not set (needed by backup and drill of source db)`,
    );
    const all = await runCli([...c, "backup", "now"]);
    expect(all.code).toBe(2);
    expect(all.stderr).toMatch(/sources\[1\]\.url: environment variable DATABASE_URL is not set/);

    const check = await runCli([...c, "config", "check"]);
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(
      /sources\[1\]\.url: environment variable DATABASE_URL is not set \(needed by backup and drill of source db\)/,
    );
    expect(
      (await runCli([...c, "config", "check"], { env: { DATABASE_URL: "postgres://u@db.invalid/app" } })).code,
    ).toBe(0);

    const doctor = await runCli([...c, "doctor"]);
    expect(doctor.stdout).toMatch(
      /WARN\s+config\s+.*DATABASE_URL is not set \(needed by backup and drill of source db\)/,
    );
    expect(doctor.stdout).toMatch(/WARN\s+source db\s+not checked/);
    expect(doctor.stdout).toMatch(/OK\s+source files/);
  });
});

describe.skipIf(!fx)("a backup that holds the database, on a host without DATABASE_URL", () => {
  it("verify and restore of the database (to --to-db) work: neither reads the source URL", async () => {
    const src = await createDb(fx!, "lazysrc");
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: "${DATABASE_URL}" }] });
    const c = ["-c", repo.configFile];
    const b = await runCli([...c, "backup", "now"], { env: { DATABASE_URL: src.url } });
    expect(b.code, b.stderr).toBe(0);
    const v = await runCli([...c, "verify", "latest"]);
    expect(v.code, v.stderr).toBe(0);
    const dst = await createDb(fx!, "lazydst");
    const r = await runCli([...c, "restore", "latest", "--to-db", dst.url]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("per role: credentials whose variables are unset stop only that role", () => {
  const yaml = (dir: string) => `version: 1
repository:
  url: s3://bucket/prefix
  s3:
    endpoint: http://127.0.0.1:9
    credentials:
      writer: { access_key_id: "\${BACKUP_WRITER_KEY_ID}", secret_access_key_file: "\${CREDENTIALS_DIRECTORY}/writer" }
      reader: { access_key_id: reader-key, secret_access_key_file: ${dir}/reader }
      pruner: { access_key_id: pruner-key, secret_access_key_file: ${dir}/missing-pruner }
encryption:
  recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
sources:
  - { name: files, type: files, path: /srv }
`;
  it("the reader opens; the writer and the pruner fail with their variable or file named", async () => {
    const dir = tempDir("lazy-roles");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "reader"), "reader-secret\n", { mode: 0o600 });
    const cfg = parseConfig(yaml(dir), {}, "/etc/strongbox/strongbox.yaml");
    await expect(openStore(cfg, "reader")).resolves.toBeDefined();
    const writer = await openStore(cfg, "writer").catch((e) => e);
    expect(writer).toBeInstanceOf(ConfigError);
    expect((writer as ConfigError).issues).toEqual([
      "/etc/strongbox/strongbox.yaml: repository.s3.credentials.writer.access_key_id: environment variable BACKUP_WRITER_KEY_ID is not set (needed by backup and copy (writer role))",
      "/etc/strongbox/strongbox.yaml: repository.s3.credentials.writer.secret_access_key_file: environment variable CREDENTIALS_DIRECTORY is not set (needed by backup and copy (writer role))",
    ]);
    const pruner = await openStore(cfg, "pruner").catch((e) => e);
    expect((pruner as ConfigError).issues).toEqual([
      `/etc/strongbox/strongbox.yaml: repository.s3.credentials.pruner.secret_access_key_file: cannot read ${dir}/missing-pruner (ENOENT) (needed by prune (pruner role))`,
    ]);
  });

  it("verify_after_write on a backup host without the reader's secret: the writer's own credentials check the uploads", async () => {
    const dir = tempDir("lazy-vaw");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "writer"), "writer-secret\n", { mode: 0o600 });
    const text = yaml(dir)
      .replace("${CREDENTIALS_DIRECTORY}/writer", `${dir}/writer`)
      .replace(`${dir}/reader`, `${dir}/no-reader-here`)
      .replace("    credentials:", "    verify_after_write: true\n    credentials:");
    const cfg = parseConfig(text, { BACKUP_WRITER_KEY_ID: "writer-key" }, "/etc/strongbox/strongbox.yaml");
    await expect(openStore(cfg, "writer")).resolves.toBeDefined();
  });

  it("an unset variable outside roles, sources and drill still fails the load", () => {
    expect(() => parseConfig(yaml("/nonexistent").replace("http://127.0.0.1:9", "${S3_ENDPOINT}"), {})).toThrow(
      /repository\.s3\.endpoint: environment variable S3_ENDPOINT is not set/,
    );
  });
});

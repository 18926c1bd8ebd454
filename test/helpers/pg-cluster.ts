import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../src/sources/postgres-cluster/recover-run.js";
import { tempDir } from "./cli.js";
import { withClient } from "./pg.js";

/** The newest installed PostgreSQL server binaries ("" when none). */
export const PG_BIN = (() => {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return "";
  const v = readdirSync(base)
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a))[0];
  return v && existsSync(join(base, v, "bin", "initdb")) ? join(base, v, "bin") : "";
})();

const isRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program as the postgres user (PostgreSQL refuses root), like test/services/postgres.sh. */
export function asPostgres(program: string, args: string[]): string {
  const [cmd, argv] = isRoot ? ["runuser", ["-u", "postgres", "--", program, ...args]] : [program, args];
  return execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Hands a directory tree to the postgres user (the server reads the config, identity and repository as it). */
export function giveToPostgres(path: string): void {
  if (!isRoot) return;
  execFileSync("chown", ["-R", "postgres:", path]);
}

export { freePort };

export interface TestCluster {
  dataDir: string;
  port: number;
  /** Superuser over TCP with the password. */
  url: (db?: string) => string;
  start(): void;
  stop(): void;
  query<T = Record<string, unknown>>(sql: string, db?: string): Promise<T[]>;
}

/** Lets the postgres user reach `dir` (its parents are mode 755 temp directories or above). */
function openParents(dir: string): void {
  chmodSync(dir, 0o755);
  if (isRoot)
    chownSync(
      dir,
      Number(execFileSync("id", ["-u", "postgres"]).toString()),
      Number(execFileSync("id", ["-g", "postgres"]).toString()),
    );
}

/** A server over an existing data directory (initdb'd or restored), on a free port; stop() also on failure. */
export function clusterAt(dataDir: string, port: number, password: string, settings: string[] = []): TestCluster {
  const log = `${dataDir}.log`;
  const url = (db = "postgres") => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  return {
    dataDir,
    port,
    url,
    start() {
      const opts = [`-p ${port}`, `-k /tmp`, "-c listen_addresses=127.0.0.1", ...settings.map((s) => `-c ${s}`)];
      asPostgres(join(PG_BIN, "pg_ctl"), ["-D", dataDir, "-l", log, "-w", "-t", "120", "-o", opts.join(" "), "start"]);
    },
    stop() {
      if (existsSync(join(dataDir, "postmaster.pid")))
        try {
          asPostgres(join(PG_BIN, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
        } catch {
          // already stopped
        }
    },
    query: (sql, db) => withClient(url(db), async (c) => (await c.query(sql)).rows),
  };
}

/** initdb into `parent`/data (password auth over TCP, a replication entry); --no-sync: a test server needs no fsync. */
function initdb(parent: string, password: string): string {
  openParents(parent);
  const dataDir = join(parent, "data");
  mkdirSync(dataDir, { mode: 0o700 });
  openParents(dataDir);
  chmodSync(dataDir, 0o700);
  const pw = join(parent, "pw");
  writeFileSync(pw, `${password}\n`);
  giveToPostgres(pw);
  asPostgres(join(PG_BIN, "initdb"), [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pw}`,
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ]);
  return dataDir;
}

/**
 * One initdb per password in this test file's process, never started: every cluster of the file is a copy
 * of it (`cp -a` takes a fraction of initdb's time). The copies share a system identifier: each test
 * archives into its own repository, so none tells them apart by it.
 */
const templates = new Map<string, string>();
function template(password: string): string {
  let dataDir = templates.get(password);
  if (!dataDir) templates.set(password, (dataDir = initdb(tempDir("pg-template"), password)));
  return dataDir;
}

/** A fresh cluster under `parent` (password auth over TCP, a replication entry), not started. */
export async function initCluster(parent: string, password: string, settings: string[]): Promise<TestCluster> {
  openParents(parent);
  const dataDir = join(parent, "data");
  execFileSync("cp", ["-a", template(password), dataDir]);
  return clusterAt(dataDir, await freePort(), password, settings);
}

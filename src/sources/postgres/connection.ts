import type pg from "pg";
import { tableKey } from "./dump-rows.js";
import { StrongboxError } from "../../errors.js";
import { registerSecret } from "../../secrets.js";
import { parsePgUrl } from "./url.js";

export { parsePgUrl };

/** What a libpq tool needs to connect, as environment variables: never argv (README, "Troubleshooting"). */
export function libpqEnv(url: string): Record<string, string> {
  const u = parsePgUrl(url);
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: "10", PGAPPNAME: "strongbox" };
  if (u.hostname) env.PGHOST = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ""));
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (db) env.PGDATABASE = db;
  const params: Record<string, string> = {
    host: "PGHOST",
    port: "PGPORT",
    user: "PGUSER",
    dbname: "PGDATABASE",
    password: "PGPASSWORD", // libpq takes it as a parameter too: pg_dump then gets it as node-postgres does
    sslmode: "PGSSLMODE",
    sslrootcert: "PGSSLROOTCERT",
    sslcert: "PGSSLCERT",
    sslkey: "PGSSLKEY",
    connect_timeout: "PGCONNECT_TIMEOUT",
    application_name: "PGAPPNAME",
  };
  for (const [k, v] of u.searchParams) if (params[k]) env[params[k]] = v;
  return env;
}

/** The URL with its password masked, for logs and errors. */
export function displayUrl(url: string): string {
  try {
    const u = parsePgUrl(url);
    if (u.password) u.password = "***";
    for (const k of ["password", "sslpassword"]) if (u.searchParams.has(k)) u.searchParams.set(k, "***");
    return u.toString();
  } catch {
    return "(invalid URL)";
  }
}

export function databaseName(url: string): string {
  const env = libpqEnv(url);
  return env.PGDATABASE ?? env.PGUSER ?? "postgres";
}

/**
 * How long a query may go unanswered before the connection is given up: a server that accepted the
 * connection and then stopped answering must not hang a backup, a restore's checks or doctor (the
 * catalog queries take milliseconds; pg_database_size can take a while on a database of many files).
 */
export const QUERY_TIMEOUT_MS = 300_000;
/** count(*) reads a whole table: hours on the largest, still bounded. */
export const COUNT_TIMEOUT_MS = 6 * 3_600_000;

/** Connects with node-postgres; errors become one line naming the server, never the password. */
export async function connect(url: string, what: string, o: { queryTimeoutMs?: number } = {}): Promise<pg.Client> {
  const password = libpqEnv(url).PGPASSWORD;
  if (password) registerSecret(password);
  // Loaded on first use: a files-only backup never pays for the driver.
  const { default: driver } = await import("pg");
  const client = new driver.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    query_timeout: o.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
    keepAlive: true, // a peer that is gone (not just silent) is noticed by TCP
    application_name: "strongbox",
  });
  client.on("error", () => {}); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    const e = err as NodeJS.ErrnoException;
    // node-postgres answers a password request it cannot meet with SCRAM internals; say what is missing.
    if (
      !password &&
      /client password must be a string|password authentication failed|no password supplied/i.test(e.message ?? "")
    ) {
      throw new StrongboxError(
        "SOURCE",
        `${what}: ${displayUrl(url)} asks for a password and none was given: put it in the URL (postgres://user:PASSWORD@host/db), use url_file, or set PGPASSWORD or a ~/.pgpass entry`,
      );
    }
    throw new StrongboxError("SOURCE", `${what}: cannot connect to ${displayUrl(url)}: ${e.message || e.code}`);
  }
  giveUpOnTimeout(client, `${what}: ${displayUrl(url)}`);
  return client;
}

/** A query that timed out (node-postgres' "Query read timeout") becomes one line naming the server. */
function giveUpOnTimeout(client: pg.Client, who: string): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const r = query(...args);
    if (!(r instanceof Promise)) return r;
    return r.catch((err: unknown) => {
      if ((err as Error)?.message !== "Query read timeout") throw err;
      throw new StrongboxError("SOURCE", `${who} did not answer a query in time: gave up on the connection`);
    });
  };
}

export interface TableInfo {
  schema: string;
  name: string;
  kind: "r" | "p";
  rows: number;
}

/** Ordinary and partitioned tables outside the system schemas, not owned by extensions. */
export async function listTables(
  client: pg.Client,
  filter: { schemas: string[]; exclude: string[] },
): Promise<{ schema: string; name: string; kind: "r" | "p" }[]> {
  const res = await client.query<{ schema: string; name: string; kind: "r" | "p" }>(`
    SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1, 2`);
  return res.rows.filter(
    (t) =>
      (filter.schemas.length === 0 || filter.schemas.includes(t.schema)) &&
      !filter.exclude.some((x) => x === `${t.schema}.${t.name}` || x === t.name),
  );
}

/**
 * Each listed table with the tables whose rows its count(*) also counts: itself and every table that
 * inherits from it, partitions included, at any depth (each with its relkind: a partitioned table holds
 * no rows of its own).
 */
export async function inheritanceTrees(
  client: pg.Client,
  tables: { schema: string; name: string }[],
): Promise<Map<string, { schema: string; name: string; kind: string }[]>> {
  const res = await client.query<{
    root_schema: string;
    root_name: string;
    schema: string;
    name: string;
    kind: string;
  }>(
    `WITH RECURSIVE listed AS (
       SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN unnest($1::text[], $2::text[]) AS l(schema, name) ON l.schema = n.nspname AND l.name = c.relname
        WHERE c.relkind IN ('r', 'p')),
     tree(root, rel) AS (
       SELECT oid, oid FROM listed
       UNION -- not ALL: a table that inherits from two tables under one root is counted once, as count(*) does
       SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.rel)
     SELECT rn.nspname AS root_schema, r.relname AS root_name, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
       FROM tree t JOIN pg_class r ON r.oid = t.root JOIN pg_namespace rn ON rn.oid = r.relnamespace
       JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const trees = new Map<string, { schema: string; name: string; kind: string }[]>();
  for (const r of res.rows) {
    const key = tableKey(r.root_schema, r.root_name);
    const tree = trees.get(key) ?? [];
    tree.push({ schema: r.schema, name: r.name, kind: r.kind });
    trees.set(key, tree);
  }
  return trees;
}

export async function countRows(
  client: pg.Client,
  tables: { schema: string; name: string; kind: "r" | "p" }[],
): Promise<TableInfo[]> {
  const out: TableInfo[] = [];
  for (const t of tables) {
    const q = `SELECT count(*)::bigint AS n FROM ${client.escapeIdentifier(t.schema)}.${client.escapeIdentifier(t.name)}`;
    const r = await client.query<{ n: string }>({ text: q, query_timeout: COUNT_TIMEOUT_MS } as pg.QueryConfig);
    out.push({ ...t, rows: Number(r.rows[0].n) });
  }
  return out;
}

export function majorOf(versionNum: number): number {
  return versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100) / 100;
}

/** The connected server's version (text and major) and current database. */
export async function serverInfo(
  client: pg.Client,
): Promise<{ num: number; version: string; db: string; major: number }> {
  const r = await client.query<{ num: number; version: string; db: string }>(
    "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version, current_database() AS db",
  );
  return { ...r.rows[0], major: majorOf(r.rows[0].num) };
}

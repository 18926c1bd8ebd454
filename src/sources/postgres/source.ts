import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type pg from "pg";
import type { PostgresSourceConfig } from "../../config/schema.js";
import { describeError, StrongboxError } from "../../errors.js";
import type { PostgresManifest, SourceManifest } from "../../repository/manifest.js";
import {
  configToBackUp,
  type Layers,
  type Check,
  type JobContext,
  type RestoreTarget,
  type Source,
  type SourceArtifact,
  type StoredSourceSettings,
} from "../source.js";
import { runWithInput, spawnDataStream } from "./child-stream.js";
import {
  connect,
  countRows,
  databaseName,
  displayUrl,
  inheritanceTrees,
  libpqEnv,
  listTables,
  serverInfo,
  type TableInfo,
} from "./connection.js";
import { DumpRowCounter, rowsOf } from "./dump-rows.js";
import { findPgTool } from "./tools.js";

const PGDMP = Buffer.from("PGDMP", "latin1");

/** pg_dump/pg_restore name patterns that match exactly one name (quoted: no wildcards, no case folding). */
function exact(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function tablePattern(t: string): string {
  const dot = t.indexOf(".");
  return dot < 0 ? `*.${exact(t)}` : `${exact(t.slice(0, dot))}.${exact(t.slice(dot + 1))}`;
}

export class PostgresSource implements Source {
  readonly type = "postgres" as const;
  readonly name: string;

  constructor(private readonly cfg: PostgresSourceConfig | StoredSourceSettings) {
    this.name = cfg.name;
  }

  private get conf(): PostgresSourceConfig {
    return configToBackUp(this.cfg, this.name);
  }

  async backup(ctx: JobContext): Promise<SourceArtifact> {
    const client = await connect(this.conf.url, `source ${this.name}`);
    let handedOver = false;
    try {
      const server = await serverInfo(client);
      const pgDump = await findPgTool("pg_dump", server.major, this.cfg.pg_bin_dir);
      const size = await client.query<{ n: string }>("SELECT pg_database_size(current_database())::bigint AS n");
      const globals = this.conf.globals ? await this.dumpGlobals(server.major, server.db, ctx) : undefined;
      // One snapshot for the row counts and the dump: the manifest describes exactly what the dump holds.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      // Idle while pg_dump runs, then maybe needed for count(*): a server's idle-in-transaction timeout
      // (PostgreSQL 9.6 and later) must not end it half-way (pg_dump lifts it for its own session too).
      if (server.num >= 90600) await client.query("SET LOCAL idle_in_transaction_session_timeout = 0");
      const snapshot = (await client.query<{ s: string }>("SELECT pg_export_snapshot() AS s")).rows[0].s;
      const listed = await listTables(client, { schemas: this.conf.schemas, exclude: this.conf.exclude_tables });
      const trees = await inheritanceTrees(client, listed);
      ctx.log.info(
        `${this.name}: dumping ${server.db} (PostgreSQL ${server.version}, ${listed.length} tables) with ${pgDump.path} ${pgDump.version}`,
        {
          url: displayUrl(this.conf.url),
        },
      );
      const args = [
        "--format=custom",
        "--compress=0",
        `--snapshot=${snapshot}`,
        "--no-password",
        ...this.conf.schemas.map((s) => `--schema=${exact(s)}`),
        ...this.conf.exclude_tables.map((t) => `--exclude-table=${tablePattern(t)}`),
      ];
      const counter = new DumpRowCounter();
      const stream = spawnDataStream("pg_dump", pgDump.path, args, libpqEnv(this.conf.url), {
        magic: PGDMP,
        observe: (c) => counter.push(c),
      });
      if (ctx.onBytes) stream.on("data", (c: Buffer) => ctx.onBytes!(c.length));
      const counted = rowsOnceDumped(this.name, stream, counter, client, listed, trees, ctx).catch((err: unknown) => {
        if (err instanceof StrongboxError) throw err;
        throw new StrongboxError("SOURCE", `source ${this.name}: counting rows: ${(err as Error).message}`);
      });
      counted.catch(() => {}); // a failed dump is reported by the stream; a failed count by finish()
      handedOver = true;
      const manifest = async (): Promise<PostgresManifest> => ({
        type: "postgres",
        object: "",
        server_version: server.version,
        database: server.db,
        pg_dump_version: pgDump.version,
        tables: (await counted).map((t) => ({ schema: t.schema, name: t.name, kind: t.kind, rows: t.rows })),
        warnings: [],
      });
      return {
        stream,
        suffix: ".pgdump",
        estimatedBytes: Number(size.rows[0].n),
        extras: globals
          ? [{ part: "globals", suffix: ".globals.sql", compress: false, stream: () => Readable.from([globals]) }]
          : [],
        finish: manifest,
      };
    } finally {
      if (!handedOver) await client.end().catch(() => {});
    }
  }

  /** Roles and tablespaces (pg_dumpall --globals-only); without role passwords where the server refuses them. */
  private async dumpGlobals(major: number, db: string, ctx: JobContext): Promise<Buffer> {
    const tool = await findPgTool("pg_dumpall", major, this.cfg.pg_bin_dir);
    const env = libpqEnv(this.conf.url);
    try {
      return Buffer.from(
        await runWithInput("pg_dumpall", tool.path, ["--globals-only", "--no-password", "-l", db], env, null),
      );
    } catch (err) {
      if (!/permission denied|must be superuser/i.test(String((err as Error).message))) throw err;
      ctx.log.warn(`${this.name}: the server refuses to dump role passwords; globals are dumped without them`);
      return Buffer.from(
        await runWithInput(
          "pg_dumpall",
          tool.path,
          ["--globals-only", "--no-role-passwords", "--no-password", "-l", db],
          env,
          null,
        ),
      );
    }
  }

  private manifestOf(m: SourceManifest): PostgresManifest {
    if (m.type !== "postgres")
      throw new StrongboxError("VERIFY", `source ${this.name}: manifest is not a postgres manifest`);
    return m;
  }

  restore(layers: Layers, target: RestoreTarget, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    if (layers.base)
      throw new StrongboxError("VERIFY", `source ${this.name}: a database backup cannot be differential`);
    return layers.read((data) => this.restoreDump(data, target, manifest, ctx));
  }

  private async restoreDump(
    data: Readable,
    target: RestoreTarget,
    manifest: SourceManifest,
    ctx: JobContext,
  ): Promise<Check[]> {
    const m = this.manifestOf(manifest);
    if (!target.dbUrl) throw new StrongboxError("USAGE", `source ${this.name}: restoring a database needs --to-db URL`);
    const url = target.dbUrl;
    const client = await connect(url, "restore target");
    let major: number;
    try {
      major = (await serverInfo(client)).major;
      const unfinished = await client.query<{ c: string | null }>(
        "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
      );
      const note = unfinished.rows[0]?.c;
      if (note?.startsWith("strongbox: a restore"))
        ctx.log.warn(`target database ${databaseName(url)}: ${note}; its content may be incomplete`);
      const existing = await listTables(client, { schemas: [], exclude: [] });
      if (existing.length && !target.force) {
        throw new StrongboxError(
          "USAGE",
          `target database ${databaseName(url)} already has ${existing.length} tables; refusing to restore over it without --force`,
        );
      }
    } finally {
      await client.end().catch(() => {});
    }
    const dumpMajor = Number(m.pg_dump_version.split(".")[0]);
    const pgRestore = await findPgTool("pg_restore", Math.max(major, dumpMajor), this.cfg.pg_bin_dir);
    const jobs = Math.max(1, target.jobs ?? 1);
    const args = ["--no-password", "--exit-on-error", `--dbname=${databaseName(url)}`];
    if (target.force) args.push("--clean", "--if-exists");
    if (target.noOwner) args.push("--no-owner", "--no-privileges");
    const env = libpqEnv(url);
    ctx.log.info(
      `${this.name}: restoring into ${displayUrl(url)} with ${pgRestore.path} ${pgRestore.version}${jobs > 1 ? ` (${jobs} jobs)` : ""}`,
    );
    await markRestore(
      url,
      `strongbox: a restore into this database started ${new Date().toISOString()} and has not finished (pid ${process.pid})`,
      ctx,
    );
    if (jobs === 1) {
      // Streamed from stdin; one transaction, so a failed or killed restore leaves the target as it was.
      await runWithInput("pg_restore", pgRestore.path, [...args, "--single-transaction"], env, data);
    } else {
      // Parallel restore needs a seekable file. Its name is unlinked as soon as it is open: the
      // plaintext dump lives only as long as this process and pg_restore hold it (a kill -9 leaves
      // nothing on disk), and pg_restore reads it as /dev/fd/3, which each of its workers can reopen.
      const dir = await mkdtemp(join(tmpdir(), "strongbox-restore-"));
      const fh = await open(join(dir, `${this.name}.pgdump`), "wx+", 0o600);
      try {
        await rm(dir, { recursive: true, force: true });
        for await (const chunk of data as AsyncIterable<Buffer>) await fh.write(chunk);
        await runWithInput(
          "pg_restore",
          pgRestore.path,
          [...args, `--jobs=${jobs}`, "/dev/fd/3"],
          withConnectionCheck(env, major),
          null,
          { fd: fh.fd, group: true },
        );
      } finally {
        await fh.close().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    }
    const check = await this.checkRowCounts(url, m);
    if (check.ok) await markRestore(url, null, ctx);
    return [check];
  }

  /** Every table's row count in the restored database against the manifest. */
  async checkRowCounts(url: string, m: PostgresManifest): Promise<Check> {
    const client = await connect(url, "restored database");
    try {
      const mismatches: string[] = [];
      for (const t of m.tables) {
        // A table the restore did not create is "missing"; a lost or silent server is the run's error.
        const [got] = await countRows(client, [t]).catch((err: unknown) => {
          // undefined_table, invalid_schema_name: the restore did not create it
          if (["42P01", "3F000"].includes((err as { code?: string }).code ?? "")) return [{ rows: -1 }];
          if (err instanceof StrongboxError) throw err;
          throw new StrongboxError(
            "SOURCE",
            `restored database: counting ${t.schema}.${t.name}: ${describeError(err)}`,
          );
        });
        if (got.rows !== t.rows)
          mismatches.push(
            `${t.schema}.${t.name}: ${got.rows < 0 ? "missing" : got.rows} rows, manifest says ${t.rows}`,
          );
      }
      return {
        name: `${this.name}: row counts match the manifest`,
        ok: mismatches.length === 0,
        detail: mismatches.length
          ? mismatches.slice(0, 20).join("; ")
          : `${m.tables.length} tables, ${m.tables.reduce((n, t) => n + t.rows, 0)} rows`,
      };
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Without a database: the dump must parse (pg_restore --list) and hold data for every table. */
  verify(layers: Layers, manifest: SourceManifest): Promise<Check[]> {
    if (layers.base)
      throw new StrongboxError("VERIFY", `source ${this.name}: a database backup cannot be differential`);
    return layers.read((data) => this.verifyDump(data, manifest));
  }

  private async verifyDump(data: Readable, manifest: SourceManifest): Promise<Check[]> {
    const m = this.manifestOf(manifest);
    const pgRestore = await findPgTool("pg_restore", Number(m.pg_dump_version.split(".")[0]), this.cfg.pg_bin_dir);
    let toc: string;
    try {
      toc = await runWithInput("pg_restore", pgRestore.path, ["--list"], {}, data);
    } catch (err) {
      if (err instanceof StrongboxError && err.code === "SOURCE") {
        return [{ name: `${this.name}: dump parses (pg_restore --list)`, ok: false, detail: err.message }];
      }
      throw err;
    }
    const dataEntries = toc.split("\n").filter((l) => / TABLE DATA /.test(l));
    const missing = m.tables.filter(
      (t) => t.kind !== "p" && !dataEntries.some((l) => l.includes(` TABLE DATA ${t.schema} ${t.name} `)),
    );
    return [
      {
        name: `${this.name}: dump parses (pg_restore --list) and holds every table`,
        ok: missing.length === 0,
        detail: missing.length
          ? `no data for ${missing.map((t) => `${t.schema}.${t.name}`).join(", ")}`
          : `${dataEntries.length} table data entries`,
      },
    ];
  }
}

/**
 * The listed tables' rows, once the dump has ended: counted in the dump as it streamed past
 * (dump-rows.ts), not by a second scan of every table; a table the dump cannot account for is counted
 * with count(*) in the snapshot, still held. The snapshot's transaction ends only then.
 */
async function rowsOnceDumped(
  name: string,
  stream: Readable,
  counter: DumpRowCounter,
  client: pg.Client,
  listed: Awaited<ReturnType<typeof listTables>>,
  trees: Awaited<ReturnType<typeof inheritanceTrees>>,
  ctx: JobContext,
): Promise<TableInfo[]> {
  try {
    await finished(stream);
    const { rows, why } = rowsOf(listed, trees, counter.result());
    const recount = listed.filter((_, i) => rows[i] === null);
    if (recount.length) {
      ctx.log.debug(`${name}: ${recount.length} tables counted with count(*): ${why}`);
      const got = (await countRows(client, recount)).values();
      for (let i = 0; i < rows.length; i++) rows[i] ??= got.next().value!.rows;
    }
    return listed.map((t, i) => ({ ...t, rows: rows[i]! }));
  } finally {
    void client
      .query("COMMIT")
      .catch(() => {})
      .finally(() => client.end().catch(() => {}));
  }
}

/**
 * Marks the target database while a restore runs (COMMENT ON DATABASE), and clears the mark once
 * its row counts matched: a restore killed half-way (possible with --jobs, which commits as it
 * goes) is then visible to the next restore. Needs ownership of the database; without it, skipped.
 */
async function markRestore(url: string, note: string | null, ctx: JobContext): Promise<void> {
  const client = await connect(url, "restore target");
  try {
    await client.query(
      `COMMENT ON DATABASE ${client.escapeIdentifier(databaseName(url))} IS ${note === null ? "NULL" : client.escapeLiteral(note)}`,
    );
  } catch (err) {
    ctx.log.debug(`cannot mark the target database (${(err as Error).message})`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * PostgreSQL 14+: a backend busy in a long statement (a COPY, an index build) checks every 250 ms
 * that its client is still there, so the sessions of killed pg_restore workers end at once instead of
 * after their statement. Appended to the operator's own PGOPTIONS (or the URL's options).
 */
function withConnectionCheck(env: Record<string, string>, major: number): Record<string, string> {
  if (major < 14) return env;
  const options = env.PGOPTIONS ?? process.env.PGOPTIONS ?? "";
  return { ...env, PGOPTIONS: `${options} -c client_connection_check_interval=250`.trim() };
}

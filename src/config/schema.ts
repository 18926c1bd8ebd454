import { z } from "zod";
import { MAX_HEADER } from "../crypto/age.js";
import { recipientProblem, recipientsProblem } from "../crypto/age-keys.js";
import { parsePublicKeyLine } from "../crypto/ssh-signature.js";
import { parsePgUrl } from "../sources/postgres/url.js";
import { isFileUrl, parseFileUrl } from "./file-url.js";
import { parseDuration } from "./duration.js";
import { isValidTimezone } from "../time/zone.js";

const PLACEHOLDER = /<[^>]*>|example|changeme|xxxxxx/i;

const nonEmpty = (what: string) =>
  z.string({ required_error: `${what} is required` }).min(1, `${what} must not be empty`);

const secret = (what: string) =>
  nonEmpty(what).refine((v) => !PLACEHOLDER.test(v) || v.length > 60, { message: `${what} looks like a placeholder` });

const credentials = (role: string) =>
  z
    .object({
      access_key_id: secret("access_key_id").describe("S3 access key id of this role (or `access_key_id_file`)."),
      secret_access_key: secret("secret_access_key").describe(
        "S3 secret access key of this role (or `secret_access_key_file`).",
      ),
    })
    .strict()
    .optional()
    .describe(role);

const sourceName = z
  .string({ required_error: "name is required" })
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/i,
    "name must be letters, digits, '-' or '_' (at most 63), starting with a letter or digit",
  )
  .describe(
    "The source's name: letters, digits, '-' and '_' (at most 63), starting with a letter or digit; it names the source's objects.",
  );

const urlString = (what: string, protocols: string[]) =>
  nonEmpty(what).superRefine((v, ctx) => {
    if (/<[^>]*>/.test(v))
      return void ctx.addIssue({
        code: "custom",
        message: `${what} contains a placeholder (${v.match(/<[^>]*>/)![0]})`,
      });
    let u: URL;
    try {
      u = protocols.includes("postgres:") ? parsePgUrl(v) : new URL(v);
    } catch {
      return void ctx.addIssue({ code: "custom", message: `${what} is not a valid URL` });
    }
    if (!protocols.includes(u.protocol))
      ctx.addIssue({ code: "custom", message: `${what} must use ${protocols.join(" or ")}` });
  });

/** What a files source does with a path it cannot read: fail the source (default), or commit what it could read, marked partial. */
const onUnreadable = z.enum(["fail", "partial"], {
  errorMap: () => ({ message: "on_unreadable must be 'fail' or 'partial'" }),
});
const ON_UNREADABLE =
  "fail: a path that cannot be read fails its source (exit 1); partial: commit what can be read, marked partial (exit 4).";

const filesSource = z
  .object({
    name: sourceName,
    type: z.literal("files").describe("`files`: a directory tree, stored as a tar archive."),
    path: nonEmpty("path")
      .refine((p) => p.startsWith("/"), "path must be absolute")
      .describe("The directory to back up (absolute path)."),
    exclude: z
      .array(nonEmpty("exclude pattern"))
      .default([])
      .describe("Globs (`*`, `?`, `**`) of paths to leave out; a pattern without `/` matches at any depth."),
    one_file_system: z.boolean().default(false).describe("true: do not descend into other mounts."),
    /** Overrides the global on_unreadable for this source. */
    on_unreadable: onUnreadable
      .optional()
      .describe(`This source only; overrides the global on_unreadable. ${ON_UNREADABLE}`),
    /** Store only what changed since the last full (README, "Differential backups"); absent: every backup is full. */
    differential: z
      .object({
        full_every: z
          .string()
          .refine((v) => (parseDuration(v) ?? 0) > 0, "full_every must be a duration like 7d or 36h")
          .describe(
            "Take a full backup when the last full is this old (a duration: s, m, h, d, w, e.g. 7d); in between, only changes.",
          ),
      })
      .strict()
      .optional()
      .describe(
        'Store only what changed since the last full backup (see README, "Differential backups"); absent: every backup is full.',
      ),
  })
  .strict();

const postgresSource = z
  .object({
    name: sourceName,
    type: z.literal("postgres").describe("`postgres`: one database, stored with pg_dump."),
    url: urlString("url", ["postgres:", "postgresql:"]).describe(
      "The database's postgres:// URL with user, password, host, port and database (TLS options such as sslmode=verify-full allowed); or `url_file`.",
    ),
    pg_bin_dir: nonEmpty("pg_bin_dir")
      .optional()
      .describe(
        "Where pg_dump/pg_restore live (must be >= the server). Default: the newest `/usr/lib/postgresql/*/bin`, then PATH.",
      ),
    globals: z
      .boolean()
      .default(false)
      .describe("true: also store the roles (`pg_dumpall --globals-only`) as `<name>.globals.sql.age`."),
    schemas: z.array(nonEmpty("schema")).default([]).describe("Only these schemas (exact names); empty: all."),
    exclude_tables: z
      .array(nonEmpty("table"))
      .default([])
      .describe('Tables to leave out: "schema.table", or "table" in any schema (exact names).'),
  })
  .strict();

/** A whole PostgreSQL cluster: physical base backups plus continuous WAL archiving (docs/wal-archiving.md). */
const postgresClusterSource = z
  .object({
    name: sourceName,
    type: z
      .literal("postgres-cluster")
      .describe("`postgres-cluster`: a whole cluster, base backups (pg_basebackup) plus archived WAL (`wal push`)."),
    url: urlString("url", ["postgres:", "postgresql:"]).describe(
      "A postgres:// URL of a role with REPLICATION (for pg_basebackup and the doctor's checks); password in it, or `url_file`.",
    ),
    pg_bin_dir: nonEmpty("pg_bin_dir")
      .optional()
      .describe(
        "Where pg_basebackup/pg_verifybackup live (the server's major version). Default: the newest `/usr/lib/postgresql/*/bin`, then PATH.",
      ),
    checkpoint: z
      .enum(["fast", "spread"])
      .default("fast")
      .describe(
        "pg_basebackup --checkpoint: fast starts the base backup at once; spread waits for a spread checkpoint (less I/O).",
      ),
    wal: z
      .object({
        max_lag: z
          .string()
          .refine((v) => (parseDuration(v) ?? 0) > 0, "max_lag must be a duration longer than 0, like 5m or 90s")
          .default("5m")
          .describe(
            "The newest archived WAL segment older than this fails doctor, /healthz and drill (a duration, e.g. 5m).",
          ),
        async: z
          .object({
            processes: z
              .number()
              .int()
              .min(1)
              .max(16)
              .default(2)
              .describe("How many WAL files the background worker stores at once (1 to 16)."),
            queue_max: z
              .number()
              .int()
              .min(1)
              .max(1024)
              .default(16)
              .describe(
                "How many ready WAL files, in WAL order, the worker takes ahead of the one asked for (1 to 1024).",
              ),
            timeout: z
              .string()
              .refine((v) => (parseDuration(v) ?? 0) > 0, "timeout must be a duration longer than 0, like 60s")
              .default("60s")
              .describe(
                "How long `wal push` waits for the worker to store its file before it fails (PostgreSQL then retries).",
              ),
          })
          .strict()
          .optional()
          .describe(
            'Asynchronous archiving (docs/wal-archiving.md, "Asynchronous archiving"): `wal push` hands ready files to a background worker that stores several at once. Absent: each `wal push` stores its own file.',
          ),
      })
      .strict()
      .default({})
      .describe("WAL archiving settings."),
  })
  .strict();

const source = z.discriminatedUnion("type", [filesSource, postgresSource, postgresClusterSource], {
  errorMap: (issue, ctx) =>
    issue.code === "invalid_union_discriminator"
      ? { message: "type must be 'files', 'postgres' or 'postgres-cluster'" }
      : { message: ctx.defaultError },
});

const compression = z
  .string()
  .regex(
    /^(zstd(:([1-9]|1\d|2[0-2]))?|gzip(:[1-9])?|none)$/,
    "compression must be zstd, gzip or none, optionally with a level (zstd:1-22, gzip:1-9)",
  )
  .default("zstd")
  .describe('zstd, gzip or none, optionally with a level: "zstd:1" to "zstd:22", "gzip:1" to "gzip:9".');

const duration = (what: string) =>
  z.string().refine((v) => parseDuration(v) !== null, `${what} must be a duration like 26h, 90m or 7d`);

const count = z.number().int().min(0);

/** A timeout: 0 would switch it off, and every network call needs one. */
const timeout = (what: string) =>
  duration(what).refine((v) => (parseDuration(v) ?? 0) > 0, `${what} must be longer than 0`);

/** A notification target (README, "Notifications and the audit log"); a schedule job may carry its own list. */
export const notifyEntry = z
  .object({
    type: z
      .enum(["healthchecks", "webhook"])
      .describe(
        "healthchecks: `GET <url>/start`, then `POST <url>` or `POST <url>/fail` (also Uptime Kuma push URLs); webhook: `POST <url>` with a JSON summary.",
      ),
    url: urlString("url", ["http:", "https:"]).describe("The http(s) URL to notify (or `url_file`)."),
  })
  .strict();

const isoTime = (what: string) =>
  z
    .string({ invalid_type_error: `${what} must be an ISO 8601 UTC time in quotes, e.g. "2026-12-01T00:00:00Z"` })
    .refine(
      (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(v) && !Number.isNaN(Date.parse(v)),
      `${what} must be an ISO 8601 UTC time, e.g. 2026-12-01T00:00:00Z`,
    );

/** Signed backups: the key this host signs with, the keys it trusts (rotation: each with a period), the migration cut-off. */
const signing = z
  .object({
    key_file: nonEmpty("key_file")
      .optional()
      .describe(
        "The Ed25519 key this host signs backups, drill reports and archived WAL (`wal push`) with (`strongbox keygen --signing`); hosts that only read need none.",
      ),
    trusted: z
      .array(
        z
          .object({
            key: z
              .string({ required_error: "key is required" })
              .superRefine((v, ctx) => {
                try {
                  parsePublicKeyLine(v);
                } catch (err) {
                  ctx.addIssue({
                    code: "custom",
                    message: `is not an Ed25519 SSH public key: ${(err as Error).message}`,
                  });
                }
              })
              .describe("A trusted public key: one `ssh-ed25519 AAAA… comment` line."),
            valid_after: isoTime("valid_after")
              .optional()
              .describe("Trust this key's signatures only on backups dated after this UTC time (quoted ISO 8601)."),
            valid_before: isoTime("valid_before")
              .optional()
              .describe("Trust this key's signatures only on backups dated before this UTC time (rotation)."),
          })
          .strict()
          .refine((t) => !t.valid_after || !t.valid_before || Date.parse(t.valid_after) < Date.parse(t.valid_before), {
            message: "valid_after must be before valid_before",
          }),
      )
      .default([])
      .describe(
        "Keys whose signatures count: a backup signed by none of them is UNTRUSTED (never latest, never counted by retention).",
      ),
    allow_unsigned_before: isoTime("allow_unsigned_before")
      .optional()
      .describe("Migration: trust unsigned backups the store dated before this UTC time (quoted ISO 8601)."),
  })
  .strict();

export const configSchema = z
  .object({
    version: z
      .literal(1, { errorMap: () => ({ message: "version must be 1" }) })
      .describe("The config format's version: 1."),
    repository: z
      .object({
        url: nonEmpty("url")
          .superRefine((v, ctx) => {
            const file = isFileUrl(v) ? parseFileUrl(v) : undefined;
            if (file && "problem" in file) ctx.addIssue({ code: "custom", message: `url ${file.problem}` });
            else if (!file && !/^s3:\/\/[^/]+(\/.*)?$/.test(v)) {
              ctx.addIssue({ code: "custom", message: "url must be s3://bucket[/prefix] or file:///absolute/path" });
            }
          })
          .describe(
            "Where backups go: s3://bucket[/prefix] (needs `s3`), or file:///absolute/path (a local directory or mounted share).",
          ),
        s3: z
          .object({
            endpoint: urlString("endpoint", ["http:", "https:"])
              .optional()
              .describe(
                "An S3-compatible endpoint, e.g. https://s3.eu-central-1.amazonaws.com; absent: AWS for the region.",
              ),
            region: nonEmpty("region").default("us-east-1").describe("The bucket's region."),
            force_path_style: z
              .boolean()
              .default(false)
              .describe("true: bucket in the path, not the host name (most self-hosted servers: MinIO, Ceph)."),
            credentials: z
              .object({
                writer: credentials("The writer role (backup, copy's destination): PutObject only."),
                reader: credentials("The reader role (list, verify, restore, drill, copy's source): list and get."),
                pruner: credentials("The pruner role (prune): list, get complete.json, delete."),
              })
              .strict()
              .default({})
              .describe(
                "One set of keys per role; a host needs only the roles of the commands it runs. Absent: the AWS SDK's default chain.",
              ),
            object_lock_days: count
              .default(0)
              .describe("Days of COMPLIANCE object-lock retention on each upload; 0: none."),
            part_size_mb: z
              .number()
              .int()
              .min(5, "part_size_mb must be at least 5 (the S3 minimum)")
              .max(5120)
              .default(128)
              .describe("Multipart part size in MiB (5 to 5120); 10,000 parts make the largest object."),
            timeouts: z
              .object({
                connect: timeout("connect")
                  .default("10s")
                  .describe("Time to open a connection (a duration: s, m, h, d, w)."),
                idle: timeout("idle").default("60s").describe("No byte moving for this long fails the request."),
                request: timeout("request").default("15m").describe("The longest one request (one part) may take."),
              })
              .strict()
              .default({})
              .describe('Network timeouts (see README, "When S3 stalls or lies").'),
            retry: z
              .object({
                attempts: z
                  .number()
                  .int()
                  .min(1)
                  .max(50)
                  .default(9)
                  .describe("Attempts per request (1 to 50), including the first."),
                base_delay: duration("base_delay")
                  .default("0.5s")
                  .describe("First backoff delay; it doubles per attempt, with jitter."),
                max_delay: duration("max_delay").default("20s").describe("The longest backoff delay."),
              })
              .strict()
              .default({})
              .describe(
                "Retries of failed S3 requests: exponential backoff with jitter, about a minute in all by default.",
              ),
            verify_after_write: z
              .boolean()
              .default(false)
              .describe(
                "true: check that each upload is really stored (needs reader credentials or the writer's s3:GetObject).",
              ),
          })
          .strict()
          .optional()
          .describe("S3 settings; required for an s3:// url."),
      })
      .strict()
      .describe("Where backups are stored."),
    encryption: z
      .object({
        recipients: z
          .array(
            z.string().superRefine((r, ctx) => {
              if (/example|x{8}/i.test(r))
                ctx.addIssue({
                  code: "custom",
                  message: "is the example recipient: put your own public key (strongbox keygen) here",
                });
              else {
                const problem = recipientProblem(r);
                if (problem) ctx.addIssue({ code: "custom", message: problem });
              }
            }),
          )
          .min(1, "at least one recipient is required")
          .superRefine((rs, ctx) => {
            const problem = rs.every((r) => !recipientProblem(r)) && recipientsProblem(rs, MAX_HEADER);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          })
          .describe(
            "age public keys (strongbox keygen): all X25519 (age1…) or all hybrid post-quantum (age1pq1…). Public keys only.",
          ),
        identity_file: nonEmpty("identity_file")
          .optional()
          .describe(
            "The private age identity; needed only where restore, verify and drill run: keep it off the backup host.",
          ),
        identity_passphrase_file: nonEmpty("identity_passphrase_file")
          .optional()
          .describe("The passphrase of a passphrase-protected identity_file (or set STRONGBOX_IDENTITY_PASSPHRASE)."),
      })
      .strict()
      .describe("Every object is age-encrypted to these recipients."),
    compression,
    sources: z
      .array(source)
      .min(1, "at least one source is required")
      .describe("What to back up: one entry per directory tree or database."),
    on_unreadable: onUnreadable
      .default("fail")
      .describe(`What a files source does with a path it cannot read. ${ON_UNREADABLE}`),
    retention: z
      .object({
        keep_last: count.optional().describe("Keep the newest N complete backups of each source."),
        keep_hourly: count.optional().describe("Keep the newest backup of each of the last N hours that have one."),
        keep_daily: count.optional().describe("Keep the newest backup of each of the last N days that have one."),
        keep_weekly: count.optional().describe("Keep the newest backup of each of the last N weeks that have one."),
        keep_monthly: count.optional().describe("Keep the newest backup of each of the last N months that have one."),
        keep_yearly: count.optional().describe("Keep the newest backup of each of the last N years that have one."),
        timezone: z
          .string()
          .refine(isValidTimezone, "timezone must be an IANA timezone like Europe/Berlin")
          .optional()
          .describe("The IANA timezone of the hours, days, weeks… above, e.g. Europe/Berlin. Default: UTC."),
        /** How far a backup's claimed time may be from the store's time for its complete.json (retention/plausible-time.ts). */
        clock_skew: duration("clock_skew")
          .default("15m")
          .describe("How far a backup's claimed time may be from the store's time (a duration)."),
        /** prune refuses (unless --force) to delete more than this share of one source's trusted complete backups in one run. */
        max_delete_share: z
          .number({ invalid_type_error: "max_delete_share must be a number between 0 and 1, e.g. 0.5" })
          .gt(0, "max_delete_share must be more than 0 (1 switches the check off)")
          .max(1, "max_delete_share must be at most 1 (1 switches the check off)")
          .default(0.5)
          .describe(
            "One prune refuses (unless --force) to delete more than this share of a source's trusted backups; 1: no limit.",
          ),
      })
      .strict()
      .optional()
      .describe(
        "What prune keeps: a backup kept by any keep_* rule stays. Without a keep_* rule, prune refuses to run.",
      ),
    drill: z
      .object({
        postgres_url: urlString("postgres_url", ["postgres:", "postgresql:"])
          .optional()
          .describe(
            "A server where drill may create scratch databases (not a source's own database); or `postgres_url_file`.",
          ),
        max_backup_age: duration("max_backup_age")
          .optional()
          .describe("The newest complete backup must be younger than this (a duration, e.g. 26h)."),
        allow_source_database: z
          .boolean()
          .default(false)
          .describe("true: allow drilling on a source's own server and database (only if really wanted)."),
        checks: z
          .array(
            z
              .object({
                source: sourceName.describe(
                  "The postgres (or postgres-cluster) source whose restored database the query runs on.",
                ),
                name: nonEmpty("name").describe("The check's name in the report."),
                sql: nonEmpty("sql").describe("A query that must return a single true."),
                database: nonEmpty("database")
                  .optional()
                  .describe(
                    "postgres-cluster sources: the database of the recovered cluster the query runs in (default postgres).",
                  ),
              })
              .strict(),
          )
          .default([])
          .describe("SQL checks run on each restored database."),
      })
      .strict()
      .optional()
      .describe("Restore drills (strongbox drill)."),
    signing: signing.optional().describe('Signed backups (see README, "Signed backups").'),
    notify: z
      .array(notifyEntry)
      .default([])
      .describe("Where backup and drill runs (and scheduled jobs) report start, success and failure."),
    audit_log: nonEmpty("audit_log")
      .optional()
      .describe("A file that gets one JSON line per backup, restore, verify, drill and prune (mode 0600)."),
    lock_dir: nonEmpty("lock_dir")
      // Relative, two runs started in different directories would take different locks.
      .refine((p) => p.startsWith("/"), "lock_dir must be absolute")
      .optional()
      .describe(
        "The existing, writable directory (absolute) of the per-repository lock file. Default: $STRONGBOX_LOCK_DIR, else /run/strongbox (as root or when writable), else ~/.local/state/strongbox/locks.",
      ),
    state_dir: nonEmpty("state_dir")
      .refine((p) => p.startsWith("/"), "state_dir must be absolute")
      .optional()
      .describe(
        "Differential backups' local state (absolute). Default: $STATE_DIRECTORY (systemd), else /var/lib/strongbox as root, else $XDG_STATE_HOME/strongbox or ~/.local/state/strongbox.",
      ),
    daemon: z
      .object({
        listen: z
          .string()
          .regex(/^(\[[0-9a-f:]+\]|[0-9.]+|localhost):\d{1,5}$/i, "listen must be host:port, e.g. 127.0.0.1:9465")
          .optional()
          .describe(
            "host:port where strongbox daemon serves /healthz and Prometheus /metrics, e.g. 127.0.0.1:9465; absent: off.",
          ),
        token_file: nonEmpty("daemon.token_file")
          .optional()
          .describe(
            "A file whose first line is an access token (16+ characters, chmod 600). With it the status page is served on any `listen` address and needs the token (HTTP Basic password or Bearer); without it only on 127.0.0.1. /healthz and /metrics never need it.",
          ),
      })
      .strict()
      .optional()
      .describe("strongbox daemon settings."),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.sources.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: "custom",
          path: ["sources", i, "name"],
          message: `duplicate source name '${s.name}' (also sources[${seen.get(s.name)}])`,
        });
      else seen.set(s.name, i);
    });
    if (cfg.repository.url.startsWith("s3://") && !cfg.repository.s3) {
      ctx.addIssue({ code: "custom", path: ["repository", "s3"], message: "is required for an s3:// repository" });
    }
    cfg.drill?.checks.forEach((c, i) => {
      if (!seen.has(c.source))
        ctx.addIssue({
          code: "custom",
          path: ["drill", "checks", i, "source"],
          message: `no source named '${c.source}'`,
        });
    });
  });

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config["sources"][number];
export type FilesSourceConfig = z.infer<typeof filesSource>;
export type PostgresSourceConfig = z.infer<typeof postgresSource>;
export type PostgresClusterSourceConfig = z.infer<typeof postgresClusterSource>;
export type Role = "writer" | "reader" | "pruner";

import { z } from "zod";
import { MAX_HEADER } from "../crypto/age.js";
import { recipientProblem, recipientsProblem } from "../crypto/age-keys.js";
import { parsePublicKeyLine } from "../crypto/ssh-signature.js";
import { parsePgUrl } from "../sources/postgres/url.js";
import { parseDuration } from "./duration.js";
import { isValidTimezone } from "../time/zone.js";

const PLACEHOLDER = /<[^>]*>|example|changeme|xxxxxx/i;

const nonEmpty = (what: string) => z.string({ required_error: `${what} is required` }).min(1, `${what} must not be empty`);

const secret = (what: string) =>
  nonEmpty(what).refine((v) => !PLACEHOLDER.test(v) || v.length > 60, { message: `${what} looks like a placeholder` });

const credentials = z
  .object({ access_key_id: secret("access_key_id"), secret_access_key: secret("secret_access_key") })
  .strict();

const sourceName = z
  .string({ required_error: "name is required" })
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, "name must be letters, digits, '-' or '_' (at most 63), starting with a letter or digit");

const urlString = (what: string, protocols: string[]) =>
  nonEmpty(what).superRefine((v, ctx) => {
    if (/<[^>]*>/.test(v)) return void ctx.addIssue({ code: "custom", message: `${what} contains a placeholder (${v.match(/<[^>]*>/)![0]})` });
    let u: URL;
    try {
      u = protocols.includes("postgres:") ? parsePgUrl(v) : new URL(v);
    } catch {
      return void ctx.addIssue({ code: "custom", message: `${what} is not a valid URL` });
    }
    if (!protocols.includes(u.protocol)) ctx.addIssue({ code: "custom", message: `${what} must use ${protocols.join(" or ")}` });
  });

/** What a files source does with a path it cannot read: fail the source (default), or commit what it could read, marked partial. */
const onUnreadable = z.enum(["fail", "partial"], { errorMap: () => ({ message: "on_unreadable must be 'fail' or 'partial'" }) });

const filesSource = z
  .object({
    name: sourceName,
    type: z.literal("files"),
    path: nonEmpty("path").refine((p) => p.startsWith("/"), "path must be absolute"),
    exclude: z.array(nonEmpty("exclude pattern")).default([]),
    one_file_system: z.boolean().default(false),
    /** Overrides the global on_unreadable for this source. */
    on_unreadable: onUnreadable.optional(),
    /** Store only what changed since the last full (README, "Differential backups"); absent: every backup is full. */
    differential: z
      .object({ full_every: z.string().refine((v) => (parseDuration(v) ?? 0) > 0, "full_every must be a duration like 7d or 36h") })
      .strict()
      .optional(),
  })
  .strict();

const postgresSource = z
  .object({
    name: sourceName,
    type: z.literal("postgres"),
    url: urlString("url", ["postgres:", "postgresql:"]),
    pg_bin_dir: nonEmpty("pg_bin_dir").optional(),
    globals: z.boolean().default(false),
    schemas: z.array(nonEmpty("schema")).default([]),
    exclude_tables: z.array(nonEmpty("table")).default([]),
  })
  .strict();

const source = z.discriminatedUnion("type", [filesSource, postgresSource], {
  errorMap: (issue, ctx) =>
    issue.code === "invalid_union_discriminator" ? { message: "type must be 'files' or 'postgres'" } : { message: ctx.defaultError },
});

const compression = z
  .string()
  .regex(/^(zstd(:([1-9]|1\d|2[0-2]))?|gzip(:[1-9])?|none)$/, "compression must be zstd, gzip or none, optionally with a level (zstd:1-22, gzip:1-9)")
  .default("zstd");

const duration = (what: string) => z.string().refine((v) => parseDuration(v) !== null, `${what} must be a duration like 26h, 90m or 7d`);

const count = z.number().int().min(0);

/** A timeout: 0 would switch it off, and every network call needs one. */
const timeout = (what: string) => duration(what).refine((v) => (parseDuration(v) ?? 0) > 0, `${what} must be longer than 0`);

/** A notification target (README, "Notifications and the audit log"); a schedule job may carry its own list. */
export const notifyEntry = z.object({ type: z.enum(["healthchecks", "webhook"]), url: urlString("url", ["http:", "https:"]) }).strict();

const isoTime = (what: string) =>
  z
    .string({ invalid_type_error: `${what} must be an ISO 8601 UTC time in quotes, e.g. "2026-12-01T00:00:00Z"` })
    .refine((v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(v) && !Number.isNaN(Date.parse(v)), `${what} must be an ISO 8601 UTC time, e.g. 2026-12-01T00:00:00Z`);

/** Signed backups: the key this host signs with, the keys it trusts (rotation: each with a period), the migration cut-off. */
const signing = z
  .object({
    key_file: nonEmpty("key_file").optional(),
    trusted: z
      .array(
        z
          .object({
            key: z.string({ required_error: "key is required" }).superRefine((v, ctx) => {
              try {
                parsePublicKeyLine(v);
              } catch (err) {
                ctx.addIssue({ code: "custom", message: `is not an Ed25519 SSH public key: ${(err as Error).message}` });
              }
            }),
            valid_after: isoTime("valid_after").optional(),
            valid_before: isoTime("valid_before").optional(),
          })
          .strict()
          .refine((t) => !t.valid_after || !t.valid_before || Date.parse(t.valid_after) < Date.parse(t.valid_before), { message: "valid_after must be before valid_before" }),
      )
      .default([]),
    allow_unsigned_before: isoTime("allow_unsigned_before").optional(),
  })
  .strict();

export const configSchema = z
  .object({
    version: z.literal(1, { errorMap: () => ({ message: "version must be 1" }) }),
    repository: z
      .object({
        url: nonEmpty("url").superRefine((v, ctx) => {
          if (!/^(s3:\/\/[^/]+(\/.*)?|file:\/\/\/.+)$/.test(v)) {
            ctx.addIssue({ code: "custom", message: "url must be s3://bucket[/prefix] or file:///absolute/path" });
          }
        }),
        s3: z
          .object({
            endpoint: urlString("endpoint", ["http:", "https:"]).optional(),
            region: nonEmpty("region").default("us-east-1"),
            force_path_style: z.boolean().default(false),
            credentials: z
              .object({ writer: credentials.optional(), reader: credentials.optional(), pruner: credentials.optional() })
              .strict()
              .default({}),
            object_lock_days: count.default(0),
            part_size_mb: z.number().int().min(5, "part_size_mb must be at least 5 (the S3 minimum)").max(5120).default(128),
            timeouts: z
              .object({ connect: timeout("connect").default("10s"), idle: timeout("idle").default("60s"), request: timeout("request").default("15m") })
              .strict()
              .default({}),
            retry: z
              .object({ attempts: z.number().int().min(1).max(50).default(9), base_delay: duration("base_delay").default("0.5s"), max_delay: duration("max_delay").default("20s") })
              .strict()
              .default({}),
            verify_after_write: z.boolean().default(false),
          })
          .strict()
          .optional(),
      })
      .strict(),
    encryption: z
      .object({
        recipients: z
          .array(
            z.string().superRefine((r, ctx) => {
              if (/example|x{8}/i.test(r)) ctx.addIssue({ code: "custom", message: "is the example recipient: put your own public key (strongbox keygen) here" });
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
          }),
        identity_file: nonEmpty("identity_file").optional(),
        identity_passphrase_file: nonEmpty("identity_passphrase_file").optional(),
      })
      .strict(),
    compression,
    sources: z.array(source).min(1, "at least one source is required"),
    on_unreadable: onUnreadable.default("fail"),
    retention: z
      .object({
        keep_last: count.optional(),
        keep_hourly: count.optional(),
        keep_daily: count.optional(),
        keep_weekly: count.optional(),
        keep_monthly: count.optional(),
        keep_yearly: count.optional(),
        timezone: z.string().refine(isValidTimezone, "timezone must be an IANA timezone like Europe/Berlin").optional(),
        /** How far a backup's claimed time may be from the store's time for its complete.json (retention/plausible-time.ts). */
        clock_skew: duration("clock_skew").default("15m"),
        /** prune refuses (unless --force) to delete more than this share of one source's trusted complete backups in one run. */
        max_delete_share: z
          .number({ invalid_type_error: "max_delete_share must be a number between 0 and 1, e.g. 0.5" })
          .gt(0, "max_delete_share must be more than 0 (1 switches the check off)")
          .max(1, "max_delete_share must be at most 1 (1 switches the check off)")
          .default(0.5),
      })
      .strict()
      .optional(),
    drill: z
      .object({
        postgres_url: urlString("postgres_url", ["postgres:", "postgresql:"]).optional(),
        max_backup_age: duration("max_backup_age").optional(),
        allow_source_database: z.boolean().default(false),
        checks: z
          .array(z.object({ source: sourceName, name: nonEmpty("name"), sql: nonEmpty("sql") }).strict())
          .default([]),
      })
      .strict()
      .optional(),
    signing: signing.optional(),
    notify: z.array(notifyEntry).default([]),
    audit_log: nonEmpty("audit_log").optional(),
    lock_dir: nonEmpty("lock_dir").optional(),
    state_dir: nonEmpty("state_dir").refine((p) => p.startsWith("/"), "state_dir must be absolute").optional(),
    daemon: z
      .object({
        listen: z
          .string()
          .regex(/^(\[[0-9a-f:]+\]|[0-9.]+|localhost):\d{1,5}$/i, "listen must be host:port, e.g. 127.0.0.1:9465")
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.sources.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: "custom", path: ["sources", i, "name"], message: `duplicate source name '${s.name}' (also sources[${seen.get(s.name)}])` });
      else seen.set(s.name, i);
    });
    if (cfg.repository.url.startsWith("s3://") && !cfg.repository.s3) {
      ctx.addIssue({ code: "custom", path: ["repository", "s3"], message: "is required for an s3:// repository" });
    }
    cfg.drill?.checks.forEach((c, i) => {
      if (!seen.has(c.source)) ctx.addIssue({ code: "custom", path: ["drill", "checks", i, "source"], message: `no source named '${c.source}'` });
    });
  });

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config["sources"][number];
export type FilesSourceConfig = z.infer<typeof filesSource>;
export type PostgresSourceConfig = z.infer<typeof postgresSource>;
export type Role = "writer" | "reader" | "pruner";

import { z } from "zod";
import { formatPath, parseYamlText, readYamlText } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { notifyEntry, type Config } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { cronErrors } from "../time/cron.js";
import { isValidTimezone } from "../time/zone.js";

const durationKey = (what: string, example: string) =>
  z.string().refine((v) => parseDuration(v) !== null, `${what} must be a duration like ${example}`);

const jobSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, "name must be letters, digits, '-' or '_'"),
    command: z.enum(["backup", "drill", "prune", "verify", "copy"], {
      errorMap: () => ({ message: "command must be backup, drill, prune, verify or copy" }),
    }),
    cron: z.string().superRefine((v, ctx) => {
      for (const e of cronErrors(v)) ctx.addIssue({ code: "custom", message: e });
    }),
    jitter: z
      .string()
      .refine((v) => parseDuration(v) !== null, "jitter must be a duration like 5m or 30s")
      .optional(),
    deadline: z
      .string()
      .refine((v) => (parseDuration(v) ?? 0) > 0, "deadline must be a duration like 6h or 90m")
      .optional(),
    sources: z.array(z.string()).optional(),
    target: z.string().optional(),
    /** copy: the destination, as `copy --to` takes it (a config file or a file:// URL). */
    to: z.string().min(1).optional(),
    /** How long this job waits for a held repository lock (instead of defaults.retry_lock). */
    retry_lock: durationKey("retry_lock", "10m or 0s").optional(),
    /** This job's own notification targets, instead of the config's (an empty list: none). */
    notify: z.array(notifyEntry).optional(),
  })
  .strict()
  .superRefine((j, ctx) => {
    if (j.sources && j.command !== "backup")
      ctx.addIssue({ code: "custom", path: ["sources"], message: "only backup jobs take sources" });
    if (j.target && j.command === "backup")
      ctx.addIssue({ code: "custom", path: ["target"], message: "backup jobs take no target" });
    if (j.command === "copy" && !j.to)
      ctx.addIssue({
        code: "custom",
        path: ["to"],
        message: "copy jobs need `to`: a config file or a file:// URL, as copy --to takes it",
      });
    if (j.to !== undefined && j.command !== "copy")
      ctx.addIssue({ code: "custom", path: ["to"], message: "only copy jobs take `to`" });
  });

const scheduleSchema = z
  .object({
    timezone: z.string().refine(isValidTimezone, "timezone must be an IANA timezone like Europe/Berlin").default("UTC"),
    /** Settings for every job that does not set its own. */
    defaults: z
      .object({ retry_lock: durationKey("retry_lock", "10m or 0s").optional() })
      .strict()
      .optional(),
    jobs: z.array(jobSchema).min(1, "at least one job is required"),
  })
  .strict();

export type Schedule = z.infer<typeof scheduleSchema>;

/** How long a job may run before it is aborted, when its schedule entry sets no `deadline`. */
export const DEFAULT_DEADLINES: Record<"backup" | "drill" | "prune" | "verify" | "copy", string> = {
  backup: "6h",
  verify: "6h",
  drill: "4h",
  prune: "1h",
  copy: "6h",
};
/** How long a daemon job waits for a held repository lock, unless the schedule says otherwise; never beyond the job's deadline. */
export const DEFAULT_RETRY_LOCK = "10m";
export type ScheduleJob = Schedule["jobs"][number];

/** Loads and validates a schedule file (README, "Scheduling and retention"): every problem at once, each with its path. */
export function loadSchedule(file: string, config?: Config, which?: string): Schedule {
  const text = readYamlText(file, `schedule file not found: ${file}${which ? ` (${which})` : ""}`, "schedule file");
  const raw = parseYamlText(text, file);
  const result = scheduleSchema.safeParse(raw ?? {});
  const errors: string[] = [];
  if (!result.success) {
    for (const i of result.error.issues) {
      if (i.code === "unrecognized_keys")
        errors.push(...i.keys.map((k) => `${file}: ${formatPath([...i.path, k])}: unknown key`));
      else
        errors.push(
          `${file}: ${formatPath(i.path)}: ${i.code === "invalid_type" && i.received === "undefined" ? "is required" : i.message}`,
        );
    }
  }
  // Also when the schema found problems: every problem at once, not one kind per run.
  errors.push(...crossChecks((raw as { jobs?: unknown } | null)?.jobs, file, config));
  if (errors.length) throw new ConfigError(errors);
  return result.data!;
}

/** Duplicate job names and sources the config does not have, read from the jobs as written. */
function crossChecks(jobs: unknown, file: string, config?: Config): string[] {
  if (!Array.isArray(jobs)) return [];
  const errors: string[] = [];
  const seen = new Set<string>();
  jobs.forEach((j: { name?: unknown; sources?: unknown } | null, i) => {
    if (typeof j?.name === "string") {
      if (seen.has(j.name)) errors.push(`${file}: jobs[${i}].name: duplicate job name '${j.name}'`);
      seen.add(j.name);
    }
    for (const s of Array.isArray(j?.sources) ? j.sources : [])
      if (typeof s === "string" && config && !config.sources.some((c) => c.name === s))
        errors.push(`${file}: jobs[${i}].sources: no source named '${s}' in the config`);
  });
  return errors;
}

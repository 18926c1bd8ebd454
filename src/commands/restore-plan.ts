import { dirname, join, resolve } from "node:path";
import { fileUrlPath } from "../config/file-url.js";
import type { Config } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { intoTarget, isEmptyDir, type RestorePart } from "../engine/restore-run.js";
import { swapPending } from "../engine/restore-swap.js";
import { realish } from "../repository/lock.js";
import { checkBackupRef, warnSkipped, type Repository, type TrustOptions } from "../repository/repository.js";
import type { RecoveryTarget } from "../sources/source.js";
import type { CommandContext } from "./context.js";
import { clusterTarget, noClusterFlags, recoveryTarget, type ClusterRestoreOptions } from "./cluster-restore.js";
import { partialSelector } from "./restore-select.js";
import { checkSourcePathsFlags, configuredPath, oneParent } from "./restore-source-paths.js";

export type RestoreFlags = {
  source: string[];
  at?: string;
  toDir?: string;
  toDb?: string;
  force?: boolean;
  owner?: boolean;
  jobs?: string;
  keepSetuid?: boolean;
  allowUnsigned?: boolean;
  printScript?: boolean;
  include?: string[];
  exclude?: string[];
  toSourcePaths?: boolean;
} & ClusterRestoreOptions;

/** The flags, checked before keys or network are touched. */
export interface RestoreRequest {
  o: RestoreFlags;
  select?: (path: string) => boolean;
  jobs: number;
  at?: Date;
}

export function checkRestoreFlags(ctx: CommandContext, ref: string, o: RestoreFlags): RestoreRequest {
  // Compiled first: a bad pattern is a usage error before keys or network are touched.
  const select = partialSelector(o.include ?? [], o.exclude ?? []);
  if (select && o.printScript)
    throw new StrongboxError(
      "USAGE",
      "--include/--exclude select what restore writes: they do not apply to --print-script",
    );
  const jobs = o.jobs === undefined ? 1 : Number(o.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)
    throw new StrongboxError("USAGE", `--jobs must be a whole number from 1 to 64, not '${o.jobs}'`);
  checkBackupRef(ref);
  if (o.toDb?.startsWith("env:")) {
    // Keeps the target's password out of strongbox's own argv (visible in ps).
    const name = o.toDb.slice(4);
    const value = ctx.env[name];
    if (!value) throw new StrongboxError("USAGE", `--to-db env:${name}: environment variable ${name} is not set`);
    o = { ...o, toDb: value };
  }
  ctx.config();
  // --print-script restores nothing: the script's environment names the targets (src/engine/restore-script.ts).
  if (o.printScript && (o.toDir || o.toDb || o.force))
    throw new StrongboxError(
      "USAGE",
      "--print-script restores nothing: set TARGET (and TARGET_URL) in the script's environment instead of --to-dir, --to-db or --force",
    );
  checkSourcePathsFlags(o);
  if (!o.printScript && !o.toDir && !o.toDb && !o.toSourcePaths)
    throw new StrongboxError("USAGE", "restore needs a target: --to-dir DIR (files) and/or --to-db URL (databases)");
  const at = o.at === undefined ? undefined : parseAt(o.at);
  if (at && ref !== "latest")
    throw new StrongboxError(
      "USAGE",
      `--at picks a restore point: use it with 'latest', not with a backup id (${ref})`,
    );
  return { o, select, jobs, at };
}

/** The backups a restore reads, with the sources each gives, and the backups a restore point stepped over. */
export async function resolveParts(
  ctx: CommandContext,
  repo: Repository,
  ref: string,
  req: RestoreRequest,
  trust: TrustOptions,
): Promise<{ parts: RestorePart[]; skipped: { id: string; reason: string }[] }> {
  const config = ctx.config();
  const o = req.o;
  if (ref !== "latest") {
    const rec = await repo.resolve(ref, [], trust);
    const missing = o.source.filter((n) => !rec.sources.some((s) => s.name === n));
    if (missing.length)
      throw new StrongboxError(
        "USAGE",
        `backup ${rec.id} has no source ${missing.join(", ")} (it has ${rec.sources.map((s) => s.name).join(", ")})`,
      );
    return { parts: [{ rec, sources: o.source.length ? o.source : rec.sources.map((s) => s.name) }], skipped: [] };
  }
  await checkSourceNames(config, repo, o.source);
  const parts: RestorePart[] = [];
  const wanted = o.source.length ? o.source : config.sources.map((s) => s.name);
  const point = await repo.restorePoint(wanted, req.at, trust);
  warnSkipped((m) => ctx.log.warn(m), point.skipped);
  for (const p of point.picks) {
    const part = parts.find((x) => x.rec.id === p.backup.id);
    if (part) part.sources.push(p.source);
    else parts.push({ rec: p.backup.complete!, sources: [p.source] });
  }
  return { parts, skipped: point.skipped };
}

/**
 * A restore point covers the configured sources. A name outside the config is a typo unless a
 * backup holds it (a source since removed from the config): exit 2, never an empty restore.
 */
async function checkSourceNames(config: Config, repo: Repository, names: string[]): Promise<void> {
  const configured = config.sources.map((s) => s.name);
  const outside = names.filter((n) => !configured.includes(n));
  const held = outside.length
    ? new Set((await repo.listBackups()).flatMap((b) => (b.complete?.sources ?? []).map((s) => s.name)))
    : new Set<string>();
  const unknown = outside.filter((n) => !held.has(n));
  if (unknown.length)
    throw new StrongboxError(
      "USAGE",
      `--source ${unknown.join(", ")}: no such source in the config (configured: ${configured.join(", ")}) nor in any backup`,
    );
}

/** Where each chosen source goes, checked before anything is read. */
export interface RestoreTargets {
  targets: Map<string, string>;
  cluster?: { dir: string; existed: boolean };
  recovery?: RecoveryTarget;
}

export async function planTargets(
  ctx: CommandContext,
  ref: string,
  o: RestoreFlags,
  parts: RestorePart[],
): Promise<RestoreTargets> {
  const config = ctx.config();
  const typeOf = (name: string) =>
    parts.find((p) => p.sources.includes(name))!.rec.sources.find((s) => s.name === name)?.type;
  const targets = new Map<string, string>();
  const dbSources: string[] = [];
  const clusters: string[] = [];
  for (const name of parts.flatMap((p) => p.sources)) {
    const type = typeOf(name);
    if (type === "files") targets.set(name, await filesTarget(config, o, name));
    else if (type === "postgres") {
      if (!o.toDb)
        throw new StrongboxError(
          "USAGE",
          `source ${name} is a database: give --to-db URL (or leave it out with --source)`,
        );
      dbSources.push(name);
    } else if (type === "postgres-cluster") {
      if (!o.toDir)
        throw new StrongboxError(
          "USAGE",
          `source ${name} is a cluster: give --to-dir DATADIR (or leave it out with --source)`,
        );
      clusters.push(name);
    }
  }
  if (clusters.length && (targets.size || clusters.length > 1))
    throw new StrongboxError(
      "USAGE",
      `--to-dir: a cluster (${clusters.join(", ")}) is restored alone into its data directory: choose it with --source`,
    );
  const recovery = clusters.length ? recoveryTarget(o, ctx.configFile) : undefined;
  if (!clusters.length) noClusterFlags(o);
  for (const dir of [...targets.values(), ...(clusters.length ? [o.toDir!] : [])]) notTheRepository(config, dir);
  const cluster = clusters.length ? await intoTarget(o.toDir, clusterTarget(o.toDir!)) : undefined;
  // A target that nothing would be restored into is a mistake to say, never to ignore.
  const what = describeRestore(ref, o, parts);
  if (o.toDb && !dbSources.length) throw new StrongboxError("USAGE", `--to-db: ${what} holds no database source`);
  if ((o.toDir || o.toSourcePaths) && !targets.size && !cluster)
    throw new StrongboxError("USAGE", `${o.toDir ? "--to-dir" : "--to-source-paths"}: ${what} holds no files source`);
  if (o.toSourcePaths) oneParent(targets);
  if (dbSources.length > 1)
    throw new StrongboxError(
      "USAGE",
      `${what} holds ${dbSources.length} databases (${dbSources.join(", ")}): restore them one at a time with --source`,
    );
  return { targets, cluster, recovery };
}

/**
 * A target must not be, hold or lie inside a file:// repository: a restore with --force there would
 * replace the repository's own directories (a source named `backups` into the repository's root).
 * Compared by real path, so a symlink to it is caught too.
 */
function notTheRepository(config: Config, dir: string): void {
  if (!config.repository.url.startsWith("file:")) return;
  const repo = realish(fileUrlPath(config.repository.url));
  const target = realish(dir);
  const within = (a: string, b: string) => a === b || a.startsWith(b === "/" ? b : `${b}/`);
  if (within(target, repo) || within(repo, target))
    throw new StrongboxError(
      "USAGE",
      `${dir}: ${within(target, repo) ? "inside" : "holds"} the repository (${repo}); restore somewhere else`,
    );
}

/** A files source's target directory: it must be empty (or --force), unless a killed restore's journal is there. */
async function filesTarget(config: Config, o: RestoreFlags, name: string): Promise<string> {
  if (!o.toDir && !o.toSourcePaths)
    throw new StrongboxError("USAGE", `source ${name} holds files: give --to-dir DIR (or leave it out with --source)`);
  const dir = o.toSourcePaths ? configuredPath(config, name) : join(resolve(o.toDir!), name);
  // With a killed restore's journal there, the check waits until that restore is completed or undone.
  if (!(await intoTarget(o.toDir, isEmptyDir(dir))) && !o.force && !(await swapPending(dirname(dir))))
    throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
  return dir;
}

function describeRestore(ref: string, o: RestoreFlags, parts: RestorePart[]): string {
  const chosen = parts.flatMap((p) => p.sources);
  const backupOf = new Map(parts.flatMap((p) => p.sources.map((n) => [n, p.rec.id] as const)));
  return ref === "latest"
    ? `the restore point (${chosen.map((n) => `${n} from ${backupOf.get(n)}`).join(", ")})`
    : `backup ${parts[0].rec.id}${o.source.length ? ` (sources ${chosen.join(", ")})` : ""}`;
}

/**
 * `--at TIME`: an ISO 8601 time with its zone (2026-12-05T03:00:00Z, 2026-12-05T04:00+01:00), or a
 * date alone (2026-12-05), which means the end of that day in UTC. A time without a zone is refused:
 * whose local time it is would be a guess.
 */
export function parseAt(text: string, flag = "--at"): Date {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (date) {
    const d = new Date(`${text}T23:59:59.999Z`);
    if (!Number.isNaN(d.getTime()) && d.toISOString().startsWith(text)) return d;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text)) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new StrongboxError(
    "USAGE",
    `${flag} ${JSON.stringify(text).slice(0, 60)}: expected an ISO 8601 time with its zone (2026-12-05T03:00:00Z) or a date (2026-12-05, meaning the end of that day, UTC)`,
  );
}

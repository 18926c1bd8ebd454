import { promises as fsp } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { StrongboxError } from "../errors.js";
import { commitStaging, createStaging, discardStaging, sweepPartials, type Staging } from "../engine/restore-target.js";
import { forEachSource, type SourceOutcome } from "../engine/restore.js";
import type { CompleteRecord } from "../repository/complete.js";
import type { Manifest } from "../repository/manifest.js";
import { commitAll, recoverSwap, swapPending } from "../engine/restore-swap.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { withInterrupt } from "./interrupt.js";
import { runJob } from "./job.js";
import { repositoryOptions } from "../repository/options.js";
import { restoreScript } from "../engine/restore-script.js";
import { describeSystemError, isSystemError } from "../system-error.js";
import { checkSelection, partialSelector } from "./restore-select.js";
import { checkSourcePathsFlags, configuredPath, oneParent } from "./restore-source-paths.js";
import {
  clearTarget,
  clusterTarget,
  noClusterFlags,
  recoveryTarget,
  startCommand,
  type ClusterRestoreOptions,
} from "./cluster-restore.js";

/** A system error on the restore target in one sentence: "cannot restore into DIR: permission denied (EACCES) creating DIR/x". */
function intoTarget<T>(dir: string | undefined, work: Promise<T>): Promise<T> {
  return work.catch((err) => {
    if (dir === undefined || err instanceof StrongboxError || !isSystemError(err)) throw err;
    throw new StrongboxError("SOURCE", `cannot restore into ${resolve(dir)}: ${describeSystemError(err)}`, {
      cause: err,
    });
  });
}

async function isEmptyDir(dir: string): Promise<boolean> {
  // lstat: the swap at the end renames a real directory; a file or symlink there must fail now, not after extracting.
  const st = await fsp.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (!st) return true;
  if (!st.isDirectory()) throw new StrongboxError("USAGE", `${dir} exists and is not a directory`);
  return (await fsp.readdir(dir)).length === 0;
}

export async function restoreCommand(
  ctx: CommandContext,
  ref: string,
  o: {
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
  } & ClusterRestoreOptions,
): Promise<void> {
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
  const config = ctx.config();
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
  const repo = new Repository(await openStore(config, "reader"), repositoryOptions(config));
  if (ref === "latest") {
    // A restore point covers the configured sources. A name outside the config is a typo unless a
    // backup holds it (a source since removed from the config): exit 2, never an empty restore.
    const configured = config.sources.map((s) => s.name);
    const outside = o.source.filter((n) => !configured.includes(n));
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
  const trust = { allowUntrusted: o.allowUnsigned, warn: (m: string) => ctx.log.warn(m) };
  /** The backups used and the sources each gives: one for `restore <id>`, one per distinct pick for a restore point. */
  const parts: { rec: CompleteRecord; sources: string[] }[] = [];
  let skipped: { id: string; reason: string }[] = [];
  if (ref === "latest") {
    const wanted = o.source.length ? o.source : config.sources.map((s) => s.name);
    const point = await repo.restorePoint(wanted, at, trust);
    skipped = point.skipped;
    for (const s of skipped) ctx.log.warn(`skipped backup ${s.id}: ${s.reason}`);
    for (const p of point.picks) {
      const part = parts.find((x) => x.rec.id === p.backup.id);
      if (part) part.sources.push(p.source);
      else parts.push({ rec: p.backup.complete!, sources: [p.source] });
    }
  } else {
    const rec = await repo.resolve(ref, [], trust);
    const missing = o.source.filter((n) => !rec.sources.some((s) => s.name === n));
    if (missing.length)
      throw new StrongboxError(
        "USAGE",
        `backup ${rec.id} has no source ${missing.join(", ")} (it has ${rec.sources.map((s) => s.name).join(", ")})`,
      );
    parts.push({ rec, sources: o.source.length ? o.source : rec.sources.map((s) => s.name) });
  }
  const chosen = parts.flatMap((p) => p.sources);
  if (o.printScript) {
    // Every source with the backup it comes from: a restore point may take them from several backups.
    const picks = parts.flatMap((p) => p.sources.map((source) => ({ source, rec: p.rec })));
    const identityFile = config.encryption.identity_file && resolve(config.encryption.identity_file);
    const script = await restoreScript(repo, picks, {
      identityFile,
      trustedKeys: (config.signing?.trusted ?? []).map((t) => t.key),
      repository: repo.store.description,
      trust,
    });
    if (ctx.json)
      ctx.print(
        {
          id: parts.length === 1 ? parts[0].rec.id : null,
          ids: parts.map((p) => p.rec.id),
          sources: picks.map((p) => p.source),
          script,
        },
        "",
      );
    else ctx.stdout.write(script);
    return;
  }
  const backupOf = new Map(parts.flatMap((p) => p.sources.map((n) => [n, p.rec.id] as const)));
  const typeOf = (name: string) =>
    parts.find((p) => p.sources.includes(name))!.rec.sources.find((s) => s.name === name)?.type;
  const targets = new Map<string, string>();
  const dbSources: string[] = [];
  const clusters: string[] = [];
  for (const name of chosen) {
    const type = typeOf(name);
    if (type === "files") {
      if (!o.toDir && !o.toSourcePaths)
        throw new StrongboxError(
          "USAGE",
          `source ${name} holds files: give --to-dir DIR (or leave it out with --source)`,
        );
      const dir = o.toSourcePaths ? configuredPath(config, name) : join(resolve(o.toDir!), name);
      // With a killed restore's journal there, the check waits until that restore is completed or undone.
      if (!(await intoTarget(o.toDir, isEmptyDir(dir))) && !o.force && !(await swapPending(dirname(dir))))
        throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
      targets.set(name, dir);
    } else if (type === "postgres") {
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
  const cluster = clusters.length ? await intoTarget(o.toDir, clusterTarget(o.toDir!)) : undefined;
  // A target that nothing would be restored into is a mistake to say, never to ignore.
  const what =
    ref === "latest"
      ? `the restore point (${chosen.map((n) => `${n} from ${backupOf.get(n)}`).join(", ")})`
      : `backup ${parts[0].rec.id}${o.source.length ? ` (sources ${chosen.join(", ")})` : ""}`;
  if (o.toDb && !dbSources.length) throw new StrongboxError("USAGE", `--to-db: ${what} holds no database source`);
  if ((o.toDir || o.toSourcePaths) && !targets.size && !cluster)
    throw new StrongboxError("USAGE", `${o.toDir ? "--to-dir" : "--to-source-paths"}: ${what} holds no files source`);
  if (o.toSourcePaths) oneParent(targets);
  if (dbSources.length > 1)
    throw new StrongboxError(
      "USAGE",
      `${what} holds ${dbSources.length} databases (${dbSources.join(", ")}): restore them one at a time with --source`,
    );
  const identities = await ctx.identities();
  const manifests = new Map<string, Manifest>();
  for (const p of parts) manifests.set(p.rec.id, await repo.readManifest(p.rec, identities));
  if (select) checkSelection(select, parts, manifests, [...targets.keys()]);
  for (const p of parts) ctx.log.info(`restoring backup ${p.rec.id}`, { sources: p.sources });
  const ids = parts.map((p) => p.rec.id);
  const staging = new Map<string, Staging>();
  const restoreAll = () =>
    withInterrupt(ctx.log, async (signal) => {
      for (const dir of new Set([...targets.values()].map((d) => dirname(d)))) {
        await recoverSwap(dir, ctx.log); // a killed restore's half-done swap: finished (or undone) first
        await sweepPartials(dir, ctx.log);
      }
      // The sweep may have put back a tree that a killed --force restore had set aside.
      for (const dir of targets.values())
        if (!(await intoTarget(o.toDir, isEmptyDir(dir))) && !o.force)
          throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
      for (const [name, dir] of targets)
        staging.set(name, await intoTarget(o.toDir, createStaging(dir, name, backupOf.get(name)!)));
      const all: (SourceOutcome & { backup_id: string })[] = [];
      for (const p of parts) {
        const manifest = manifests.get(p.rec.id)!;
        const got = await forEachSource({
          repo,
          rec: p.rec,
          manifest,
          identities,
          config,
          only: p.sources,
          log: ctx.log,
          label: "restore",
          signal,
          trust: { allowUntrusted: o.allowUnsigned, warn: (m) => ctx.log.warn(m) },
          ...(select ? { select } : {}),
          consume: (source, data) =>
            source.restore(
              data,
              {
                dir: staging.get(source.name)?.dir ?? cluster?.dir,
                recovery,
                dbUrl: o.toDb,
                force: Boolean(o.force),
                noOwner: o.owner === false,
                jobs,
                keepSetuid: Boolean(o.keepSetuid),
                ...(select ? { select } : {}),
              },
              manifest.sources[source.name],
              { log: ctx.log },
            ),
        });
        all.push(...got.map((x) => ({ ...x, backup_id: p.rec.id })));
      }
      return all;
    });
  let outcomes!: (SourceOutcome & { backup_id: string })[];
  try {
    await runJob(
      ctx,
      "restore",
      "restore",
      async () => {
        outcomes = await restoreAll();
        const bad = outcomes.flatMap((x) => x.checks.filter((c) => !c.ok));
        // Only a tree that matched its manifest replaces anything; otherwise nothing of it stays.
        // Every source's tree at once, or a journal that the next restore completes (restore-swap.ts).
        if (!bad.length) await intoTarget(o.toDir, commitAll([...staging.values()], ids.join("+"), commitStaging));
        return {
          backup_id: ids.length === 1 ? ids[0] : undefined,
          summary: `restore of ${ids.join(", ")}: ${bad.length ? "MISMATCH" : "ok"}`,
          failed: bad.length > 0,
        };
      },
      { notify: false },
    );
  } catch (err) {
    if (cluster) await clearTarget(cluster);
    throw err;
  } finally {
    for (const s of staging.values()) await discardStaging(s);
  }
  const failed = outcomes.flatMap((x) => x.checks.filter((c) => !c.ok));
  if (failed.length && cluster) await clearTarget(cluster);
  // `id`: the one backup used (null when the restore point took sources from several); `ids`: all of them.
  const result = {
    id: ids.length === 1 ? ids[0] : null,
    ids,
    ...(at ? { at: at.toISOString() } : {}),
    skipped,
    ok: failed.length === 0,
    sources: outcomes.map((x) => ({ ...x, target: targets.get(x.source) ?? cluster?.dir ?? o.toDb })),
    ...(cluster && !failed.length ? { start: startCommand(cluster.dir), recovery } : {}),
  };
  ctx.print(result, () =>
    [
      ...outcomes.map(
        (x) =>
          `${x.source} → ${targets.get(x.source) ?? cluster?.dir ?? "database"}: ${x.checks.every((c) => c.ok) ? "restored and checked" : "MISMATCH"} from backup ${x.backup_id} (${x.checks.map((c) => c.detail).join("; ")})`,
      ),
      ...skipped.map((s) => `skipped ${s.id}: ${s.reason}`),
      ...(cluster && !failed.length
        ? [
            `start the restored cluster (it recovers from the WAL archive, then ${(recovery!.time ?? recovery!.lsn ?? recovery!.xid) ? recovery!.action + "s at the target" : "promotes at the end of the archive"}):`,
            `  ${startCommand(cluster.dir)}`,
          ]
        : []),
    ].join("\n"),
  );
  if (failed.length)
    throw new StrongboxError(
      "VERIFY",
      `restored data does not match the manifest (nothing of it was kept): ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`,
    );
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

import { randomInt } from "node:crypto";
import { hostname } from "node:os";
import { Readable } from "node:stream";
import type { Config } from "../../config/schema.js";
import { parseDuration } from "../../config/duration.js";
import type { Identity } from "../../crypto/age-keys.js";
import { describeError, StrongboxError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { drainObject, forEachSource } from "../restore.js";
import { keys, newBackupId } from "../../repository/layout.js";
import type { Repository, TrustOptions } from "../../repository/repository.js";
import { drillSigningKey, signWith } from "../../crypto/signing.js";
import { DRILL_NAMESPACE } from "../../crypto/ssh-signature.js";
import type { Check, RecoveryTarget } from "../../sources/source.js";
import { VERSION } from "../../version.js";
import { backupAgeCheck, runSqlCheck } from "./checks.js";
import { clusterScratch, drillCluster, type ClusterRecoveryReport } from "./cluster.js";
import type { DrillReport } from "./report.js";
import { runPendingCleanups, sameDatabase, scratchDatabase, scratchDir } from "./scratch.js";
import { sweepKilledScratch } from "../../scratch-space.js";

/** Errors that mean the drill could not run (exit 1), as opposed to a backup that does not restore. */
function couldNotRun(err: unknown): boolean {
  return err instanceof StrongboxError && ["STORE", "CRYPTO", "CONFIG", "USAGE", "LOCKED"].includes(err.code);
}

/**
 * Restores a complete backup into scratch space and proves it (README, "Restore drills"): object integrity and age
 * authentication, files against the manifest, row counts, SQL checks, and the newest backup's age.
 * Scratch databases and directories are removed however the drill ends.
 */
export async function runDrill(o: {
  config: Config;
  repo: Repository;
  identities: Identity[];
  ref: string;
  log: Logger;
  now?: () => Date;
  /** An explicit id of an untrusted backup: refused (exit 3) unless allowUntrusted. */
  trust?: TrustOptions;
  /**
   * One backup of a restore point (`drill latest`): SQL checks of a source it does not hold run in
   * the drill of the backup that does, and are left out here.
   */
  partOfPoint?: boolean;
  /** Where a postgres-cluster source's recovery stops (restore_command and target); without it such a backup is not drilled. */
  clusterRecovery?: RecoveryTarget;
  signal?: AbortSignal;
}): Promise<DrillReport> {
  // What killed drills left first, outside the drill's timings.
  await sweepKilledScratch(o.log);
  const now = o.now ?? (() => new Date());
  const started = now();
  const t0 = Date.now();
  const durations: Record<string, number> = {};
  const lap = (name: string, since: number) => (durations[name] = Number(((Date.now() - since) / 1000).toFixed(3)));

  // Read first: a drill host whose key cannot be read fails before it restores anything.
  const signer = drillSigningKey(o.config);
  // An untrusted backup (unsigned, forged, dated wrongly) is never latest or random, nor the newest for max_backup_age.
  const complete = (await o.repo.listBackups()).filter((b) => b.complete);
  // A backup named by its id is read and judged below, damaged or not (a missing object fails the
  // drill as it fails verify and restore, exit 3); only latest and random need one to choose from.
  const named = o.ref !== "latest" && o.ref !== "random";
  if (complete.length === 0 && !named)
    throw new StrongboxError("NOT_FOUND", `no complete backup in ${o.repo.store.description} to drill`);
  // Nor one whose differential chain is broken: it cannot be restored.
  const backups = complete.filter((b) => !b.untrusted?.length && !b.brokenChain);
  if (backups.length === 0 && (o.ref === "latest" || o.ref === "random"))
    throw new StrongboxError(
      "NOT_FOUND",
      `no trusted complete backup in ${o.repo.store.description} to drill (${complete.length} untrusted: see 'strongbox list')`,
    );
  const chosen =
    o.ref === "latest" ? backups[0].id : o.ref === "random" ? backups[randomInt(backups.length)].id : o.ref;
  // A named backup as restore and verify resolve it: trusted first, and "no such backup" (exit 1)
  // told apart from one that never finished (exit 3).
  const rec = chosen === o.ref ? await o.repo.resolve(chosen, [], o.trust) : await o.repo.readComplete(chosen);
  const drillId = newBackupId(started);
  o.log.info(`drill ${drillId}: restoring backup ${rec.id} into scratch space`);
  lap("select", t0);

  const drillCfg = o.config.drill;
  const pgSources = rec.sources.filter((s) => s.type === "postgres").map((s) => s.name);
  if (pgSources.length && !drillCfg?.postgres_url) {
    throw new StrongboxError(
      "CONFIG",
      `drill.postgres_url: required to drill backup ${rec.id}, which holds databases (${pgSources.join(", ")})`,
    );
  }
  if (drillCfg?.postgres_url && !drillCfg.allow_source_database) {
    for (const s of o.config.sources) {
      if (s.type === "postgres" && sameDatabase(s.url, drillCfg.postgres_url)) {
        throw new StrongboxError(
          "CONFIG",
          `drill.postgres_url points at source ${s.name}'s own database; use an admin database on a staging server (or set drill.allow_source_database: true)`,
        );
      }
    }
  }

  const checks: Check[] = [];
  /** Clusters whose SQL checks ran on their recovered server (drillCluster), and where each recovery got to. */
  const clustersDone = new Set<string>();
  const recovered: Record<string, ClusterRecoveryReport> = {};
  const tRestore = Date.now();
  try {
    let integrity: Check = {
      name: "objects match complete.json (SHA-256) and pass age authentication",
      ok: true,
      detail: `${rec.objects.length} objects`,
    };
    let manifest;
    try {
      manifest = await o.repo.readManifest(rec, o.identities);
      for (const x of rec.objects.filter((x) => x.part)) await drainObject(o.repo, rec, x.key, o.identities);
    } catch (err) {
      if (couldNotRun(err)) throw err;
      integrity = { ...integrity, ok: false, detail: describeError(err) };
    }
    const scratch = new Map<
      string,
      { dir?: string; dbUrl?: string; recovery?: RecoveryTarget; cluster?: { dir: string } }
    >();
    if (manifest) {
      for (const s of rec.sources) {
        if (s.type === "files") scratch.set(s.name, { dir: (await scratchDir()).path });
        else if (s.type === "postgres-cluster") {
          if (!o.clusterRecovery)
            throw new StrongboxError("USAGE", `backup ${rec.id} holds a cluster (${s.name}): no recovery settings`);
          const cluster = await clusterScratch();
          scratch.set(s.name, { dir: cluster.dir, recovery: o.clusterRecovery, cluster });
        } else scratch.set(s.name, { dbUrl: (await scratchDatabase(drillCfg!.postgres_url!, rec.id)).url });
      }
      for (const s of rec.sources) {
        try {
          const [outcome] = await forEachSource({
            repo: o.repo,
            rec,
            manifest,
            identities: o.identities,
            config: o.config,
            only: [s.name],
            log: o.log,
            label: "drill",
            trust: o.trust,
            consume: (source, layers) =>
              source.restore(
                layers,
                { ...scratch.get(s.name), force: false, noOwner: true },
                manifest!.sources[s.name],
                { log: o.log },
              ),
          });
          checks.push(...outcome.checks);
          const cluster = scratch.get(s.name)?.cluster;
          const m = manifest.sources[s.name];
          if (cluster && m.type === "postgres-cluster" && outcome.checks.every((c) => c.ok)) {
            const got = await drillCluster({
              name: s.name,
              manifest: m,
              store: o.repo.store,
              identities: o.identities,
              config: o.config,
              recovery: o.clusterRecovery!,
              scratch: cluster,
              started,
              log: o.log,
              signal: o.signal,
            });
            checks.push(...got.checks);
            clustersDone.add(s.name);
            if (got.recovery) recovered[s.name] = got.recovery;
          }
        } catch (err) {
          if (couldNotRun(err)) throw err;
          const verify = err instanceof StrongboxError && err.code === "VERIFY";
          if (verify && integrity.ok) integrity = { ...integrity, ok: false, detail: describeError(err) };
          else checks.push({ name: `${s.name}: restores`, ok: false, detail: describeError(err) });
        }
      }
    }
    checks.unshift(integrity);
    lap("restore", tRestore);

    const tChecks = Date.now();
    for (const c of drillCfg?.checks ?? []) {
      if (o.partOfPoint && !rec.sources.some((s) => s.name === c.source)) continue;
      const target = scratch.get(c.source);
      if (clustersDone.has(c.source)) continue;
      if (!target?.dbUrl) {
        checks.push({
          name: `${c.source}: ${c.name}`,
          ok: false,
          detail: `backup ${rec.id} has no restored database for source ${c.source}`,
        });
        continue;
      }
      checks.push(await runSqlCheck(target.dbUrl, c));
    }
    if (drillCfg?.max_backup_age) {
      // Per source: sources may run on different schedules, and each must be fresh on its own.
      const configured = o.config.sources.map((s) => s.name);
      const names = configured.length
        ? configured
        : [...new Set(backups.flatMap((b) => b.complete!.sources.map((s) => s.name)))];
      for (const name of names) {
        const newest = backups.find((b) => b.complete!.sources.some((s) => s.name === name))?.complete;
        checks.push(
          backupAgeCheck(
            name,
            newest ? new Date(newest.finished_at) : undefined,
            parseDuration(drillCfg.max_backup_age)!,
            drillCfg.max_backup_age,
            now(),
          ),
        );
      }
    }
    lap("checks", tChecks);
  } finally {
    const tClean = Date.now();
    await runPendingCleanups();
    lap("cleanup", tClean);
  }

  lap("total", t0);
  const stored = rec.objects.reduce((n, x) => n + x.size, 0);
  const report: DrillReport = {
    format: "strongbox/1 drill",
    drill_id: drillId,
    backup_id: rec.id,
    ...(rec.objects.some((x) => x.base)
      ? { bases: Object.fromEntries(rec.objects.filter((x) => x.base && x.source).map((x) => [x.source!, x.base!])) }
      : {}),
    ...(rec.partial ? { partial: rec.partial } : {}),
    result: checks.every((c) => c.ok) ? "pass" : "fail",
    started_at: started.toISOString(),
    finished_at: now().toISOString(),
    host: hostname(),
    tool_version: VERSION,
    checks,
    ...(Object.keys(recovered).length ? { recovery: recovered } : {}),
    durations_s: durations,
    stored_bytes: stored,
    restore_mb_per_s: Number((stored / 1e6 / Math.max(durations.restore, 0.001)).toFixed(2)),
    restore_bytes_per_s: Math.round(stored / Math.max(durations.restore, 0.001)),
  };
  const body = Buffer.from(JSON.stringify(report, null, 2) + "\n");
  try {
    // The signature first, so a report that is there always has it; list and prune count only signed reports when signing is configured.
    if (signer)
      await o.repo.store.put(keys.drillSig(drillId), Readable.from([signWith(signer, DRILL_NAMESPACE, body)]));
    else if (o.config.signing)
      o.log.warn(
        `drill report ${keys.drill(drillId)} is unsigned (no signing.key_file on this host): list and prune will not count it`,
      );
    await o.repo.store.put(keys.drill(drillId), Readable.from([body]));
  } catch (err) {
    o.log.warn(`could not store the drill report under drills/: ${describeError(err)}`);
  }
  return report;
}

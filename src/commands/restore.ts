import { StrongboxError } from "../errors.js";
import { restoreParts, type RestorePart } from "../engine/restore-run.js";
import type { ClusterManifest, Manifest } from "../repository/manifest.js";
import { Repository } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import { openStore } from "../stores/open-store.js";
import { configEnvNames } from "../config/load.js";
import { recoveryEnv } from "../sources/postgres-cluster/recover-run.js";
import type { CommandContext } from "./context.js";
import { clearTarget, startToTarget } from "./cluster-restore.js";
import { commandJob, withCommandLock, type CommandRun } from "./lifecycle.js";
import { checkSelection } from "./restore-select.js";
import { checkRestoreFlags, planTargets, resolveParts, type RestoreFlags } from "./restore-plan.js";
import { printRestore, printScript } from "./restore-print.js";

export { parseAt } from "./restore-plan.js";

/**
 * `restore <id|latest>`: the flags are checked first; then, holding the repository lock (which keeps a
 * concurrent prune from deleting what is being read), the backups are resolved and the targets checked,
 * and the restore runs as a job (audit line; no notification) in the engine (engine/restore-run.ts).
 */
export async function restoreCommand(ctx: CommandContext, ref: string, flags: RestoreFlags): Promise<void> {
  const req = checkRestoreFlags(ctx, ref, flags);
  const o = req.o;
  const config = ctx.config();
  const run: CommandRun = { command: "restore", notify: false, interrupt: true };
  await withCommandLock(ctx, run, async (signal) => {
    const repo = new Repository(await openStore(config, "reader"), repositoryOptions(config));
    const trust = { allowUntrusted: o.allowUnsigned, warn: (m: string) => ctx.log.warn(m) };
    const { parts, skipped } = await resolveParts(ctx, repo, ref, req, trust);
    if (o.printScript) return printScript(ctx, repo, parts, trust);
    const { targets, cluster, recovery } = await planTargets(ctx, ref, o, parts);
    const identities = await ctx.identities();
    const manifests = new Map<string, Manifest>();
    for (const p of parts) manifests.set(p.rec.id, await repo.readManifest(p.rec, identities));
    if (req.select) checkSelection(req.select, parts, manifests, [...targets.keys()]);
    for (const p of parts) ctx.log.info(`restoring backup ${p.rec.id}`, { sources: p.sources });
    const ids = parts.map((p) => p.rec.id);
    let done!: Awaited<ReturnType<typeof restoreParts>>;
    let reached: Awaited<ReturnType<typeof startToTarget>> | undefined;
    try {
      await commandJob(ctx, run, signal, async () => {
        done = await restoreParts({
          ...{ repo, config, log: ctx.log, identities, parts, manifests, targets, toDir: o.toDir, trust, signal },
          target: {
            dir: cluster?.dir,
            recovery,
            dbUrl: o.toDb,
            force: Boolean(o.force),
            noOwner: o.owner === false,
            jobs: req.jobs,
            keepSetuid: Boolean(o.keepSetuid),
            ...(req.select ? { select: req.select } : {}),
          },
        });
        // restore --start, inside the job (a recovery that fails is a failed restore in the audit
        // log): the restored cluster recovers on a throwaway server, which is stopped again. If that
        // fails, the restored and checked data directory stays, with the server's log.
        if (cluster && !done.failed.length && o.start)
          reached = await startToTarget(
            cluster.dir,
            clusterManifest(manifests, parts),
            recovery!,
            ctx.log,
            clusterBinDir(ctx, parts),
            signal,
            recoveryEnv(configEnvNames(config, { readerOnly: true })),
          );
        return {
          backup_id: ids.length === 1 ? ids[0] : undefined,
          summary: `restore of ${ids.join(", ")}: ${done.failed.length ? "MISMATCH" : reached ? `ok, recovered to ${reached.target}` : "ok"}`,
          failed: done.failed.length > 0,
        };
      });
    } catch (err) {
      if (cluster && !done) await clearTarget(cluster);
      throw err;
    }
    if (done.failed.length && cluster) await clearTarget(cluster);
    printRestore(ctx, {
      ...{ ids, at: req.at, skipped, outcomes: done.outcomes, targets, cluster, recovery, toDb: o.toDb },
      reached,
    });
    if (done.failed.length)
      throw new StrongboxError(
        "VERIFY",
        `restored data does not match the manifest (nothing of it was kept): ${done.failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`,
      );
  });
}

/** The manifest part of the one cluster a cluster restore holds. */
function clusterManifest(manifests: Map<string, Manifest>, parts: RestorePart[]): ClusterManifest {
  for (const p of parts)
    for (const name of p.sources) {
      const m = manifests.get(p.rec.id)?.sources[name];
      if (m?.type === "postgres-cluster") return m;
    }
  throw new StrongboxError("VERIFY", "the restored backup holds no cluster manifest");
}

/** The configured pg_bin_dir of the cluster source being restored, if the config has it. */
function clusterBinDir(ctx: CommandContext, parts: RestorePart[]): string | undefined {
  const names = new Set(parts.flatMap((p) => p.sources));
  const cfg = ctx.config().sources.find((s) => names.has(s.name) && s.type === "postgres-cluster");
  return cfg?.type === "postgres-cluster" ? cfg.pg_bin_dir : undefined;
}

import { resolve } from "node:path";
import type { RestoreOutcome, RestorePart } from "../engine/restore-run.js";
import { restoreScript } from "../engine/restore-script.js";
import type { Repository, TrustOptions } from "../repository/repository.js";
import type { RecoveryTarget } from "../sources/source.js";
import type { RecoveryPoint } from "../sources/postgres-cluster/recover-run.js";
import type { CommandContext } from "./context.js";
import { startCommand } from "./cluster-restore.js";

/** --print-script: every source with the backup it comes from (a restore point may take them from several). */
export async function printScript(
  ctx: CommandContext,
  repo: Repository,
  parts: RestorePart[],
  trust: TrustOptions,
): Promise<void> {
  const config = ctx.config();
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
}

/** What a finished restore prints (its checks held or not). */
export function printRestore(
  ctx: CommandContext,
  r: {
    ids: string[];
    at?: Date;
    skipped: { id: string; reason: string }[];
    outcomes: RestoreOutcome[];
    targets: Map<string, string>;
    cluster?: { dir: string };
    recovery?: RecoveryTarget;
    toDb?: string;
    reached?: RecoveryPoint & { target: string };
  },
): void {
  const { outcomes, targets, cluster, recovery, skipped, reached } = r;
  const ok = outcomes.every((x) => x.checks.every((c) => c.ok));
  // `id`: the one backup used (null when the restore point took sources from several); `ids`: all of them.
  const result = {
    id: r.ids.length === 1 ? r.ids[0] : null,
    ids: r.ids,
    ...(r.at ? { at: r.at.toISOString() } : {}),
    skipped,
    ok,
    sources: outcomes.map((x) => ({ ...x, target: targets.get(x.source) ?? cluster?.dir ?? r.toDb })),
    ...(cluster && ok ? { start: startCommand(cluster.dir), recovery } : {}),
    ...(reached ? { reached } : {}),
  };
  ctx.print(result, () =>
    [
      ...outcomes.map(
        (x) =>
          `${x.source} → ${targets.get(x.source) ?? cluster?.dir ?? "database"}: ${x.checks.every((c) => c.ok) ? "restored and checked" : "MISMATCH"} from backup ${x.backup_id} (${x.checks.map((c) => c.detail).join("; ")})`,
      ),
      ...skipped.map((s) => `skipped ${s.id}: ${s.reason}`),
      ...(reached
        ? [
            `recovered to ${reached.target} and ${reached.state}: replayed up to LSN ${reached.lsn ?? "(none)"}, last transaction ${reached.time ?? "(none replayed)"}; the server is stopped again`,
          ]
        : []),
      ...(cluster && ok
        ? [
            reached
              ? "start the restored cluster:"
              : `start the restored cluster (it recovers from the WAL archive, then ${(recovery!.time ?? recovery!.lsn ?? recovery!.xid) ? recovery!.action + "s at the target" : "promotes at the end of the archive"}):`,
            `  ${startCommand(cluster.dir)}`,
          ]
        : []),
    ].join("\n"),
  );
}

import { StrongboxError } from "../errors.js";
import { formatBytes } from "../progress.js";
import { Repository } from "../repository/repository.js";
import { hasRules } from "../retention/policy.js";
import { repositoryOptions } from "../repository/options.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { Store } from "../stores/store.js";
import type { CommandContext } from "./context.js";
import type { JobResult } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { pruneJournal } from "../retention/prune-journal.js";
import { stateOwner } from "../differential/owner.js";
import { runCommand } from "./lifecycle.js";
import { walLines } from "../engine/prune-wal.js";
import { runPrune, SHOWN, type PlanRow, type PruneReport } from "../engine/prune.js";

export { ageOf, deleteBackup } from "../engine/prune.js";

/** What a prune run counted and left alone: the daemon's /metrics shows it. */
export interface PruneOutcome {
  /** Backups with a valid complete.json that were not counted (time or signature): kept and flagged. */
  untrusted: number;
  damaged: number;
}

export async function pruneCommand(
  ctx: CommandContext,
  o: { dryRun?: boolean; force?: boolean; job?: string; signal?: AbortSignal },
): Promise<PruneOutcome> {
  const config = ctx.config();
  if (!hasRules(config.retention)) {
    throw new StrongboxError(
      "CONFIG",
      "retention: no keep_* rule is configured; refusing to prune (e.g. retention: { keep_daily: 7, keep_weekly: 4 })",
    );
  }
  const opened = await openStore(config, "pruner");
  const owner = stateOwner(config);
  const deps = (store: Store) => ({
    store,
    repo: new Repository(store, repositoryOptions(config)),
    journal: pruneJournal(owner.stateDir, owner.repository),
    log: ctx.log,
    retention: config.retention!,
    stateDir: owner.stateDir,
    sweep: () => sweepLeftovers(ctx, store, { everywhere: true }),
  });
  const outcome: PruneOutcome = { untrusted: 0, damaged: 0 };
  const run = async (signal: AbortSignal | undefined): Promise<JobResult> => {
    // a deadline or SIGTERM ends even a stalled call; what was deleted stays in the journal for the next run
    const r = await runPrune(deps(abortableStore(opened, signal)), { ...o, signal });
    outcome.untrusted = r.untrusted.length;
    outcome.damaged = r.damaged;
    return r.done ? printDone(ctx, r) : printPlan(ctx, r, Boolean(o.dryRun));
  };
  await runCommand(ctx, { command: "prune", job: o.job, notify: !o.dryRun, signal: o.signal, interrupt: true }, run);
  return outcome;
}

/** The lines after the table that name kept-unproven and untrusted backups. */
function notes(r: PruneReport): { unprovenLines: string[]; flaggedLine: string } {
  const unprovenLines = r.unproven.map(
    (u) =>
      `kept ${u.kept} (${u.source}): newer backup(s) not proven intact (${u.why}); a passed drill of ${u.newest} lets prune delete it`,
  );
  const { untrusted } = r;
  const flaggedLine = untrusted.length
    ? `${untrusted.length} untrusted backup(s) kept and not counted: ${untrusted
        .slice(0, SHOWN)
        .map((u) => u.id)
        .join(", ")}${untrusted.length > SHOWN ? `, and ${untrusted.length - SHOWN} more (strongbox list)` : ""}`
    : "";
  return { unprovenLines, flaggedLine };
}

/** A dry run, or a run refused by max_delete_share: the plan, and nothing deleted. */
function printPlan(ctx: CommandContext, r: Extract<PruneReport, { done: false }>, dryRun: boolean): JobResult {
  const { unprovenLines, flaggedLine } = notes(r);
  const refused = r.excess.length > 0 || r.drillsIncomplete;
  const shown = {
    dry_run: dryRun,
    plan: r.rows,
    untrusted: r.untrusted,
    unproven: r.unproven,
    ...(refused ? { refused: r.excess } : {}),
    ...(r.drillsIncomplete ? { drill_history_incomplete: true } : {}),
    ...(r.wal ? { wal: r.wal } : {}),
  };
  ctx.print(shown, () =>
    [
      table(r.rows),
      ...(r.wal ? walLines(r.wal, true).info : []),
      ...unprovenLines,
      ...(flaggedLine ? [flaggedLine] : []),
    ].join("\n"),
  );
  if (r.excess.length)
    throw new StrongboxError(
      "REFUSED",
      `prune refused: it would delete ${r.excess.map((e) => `${e.drop} of ${e.of} trusted complete backups of source ${e.source}`).join(", ")}, more than retention.max_delete_share (${r.maxShare}); no backup deleted. If that is intended: strongbox prune --force`,
    );
  if (r.drillsIncomplete)
    throw new StrongboxError(
      "REFUSED",
      `prune refused: drills/ holds more drill reports than prune reads and too few of the newest are trusted, so the newest drill-passed backup (never deleted) may be one it did not see; no backup deleted. Find who writes to drills/ (junk signature objects, or a drill host whose key is not in signing.trusted); to delete anyway: strongbox prune --force`,
    );
  return {
    summary: `prune (dry run): would drop ${r.drops.length} of ${r.decisions.length} backups${r.untrusted.length ? `; ${flaggedLine}` : ""}`,
  };
}

function printDone(ctx: CommandContext, r: Extract<PruneReport, { done: true }>): JobResult {
  const { unprovenLines, flaggedLine } = notes(r);
  const { deleted, locked, failed, aborted, freed, wal, untrusted } = r;
  const result = {
    dry_run: false,
    plan: r.rows,
    deleted,
    finished_deleting: r.finished.ids,
    locked,
    failed,
    aborted_uploads: aborted,
    freed_bytes: freed,
    leftovers_removed: r.swept,
    untrusted,
    unproven: r.unproven,
    wal,
  };
  const finishedIds = r.finished.ids;
  ctx.print(result, () =>
    [
      table(r.rows),
      `deleted ${deleted.length} backup(s), ${formatBytes(freed)}; ${locked.length} locked; ${aborted.length} stale upload(s) aborted`,
      ...walLines(wal, false).info,
      ...(finishedIds.length
        ? [
            `finished deleting ${finishedIds.length} backup(s) a killed prune had started to delete: ${finishedIds.join(", ")}`,
          ]
        : []),
      ...unprovenLines,
      ...(flaggedLine ? [flaggedLine] : []),
      ...failed.map((f) => `FAILED ${f.id}: ${f.error}`),
      ...wal.failed.map((f) => `FAILED ${f.key}: ${f.error}`),
    ].join("\n"),
  );
  if (failed.length)
    throw new StrongboxError(
      "STORE",
      `prune could not delete ${failed.length} backup(s): ${failed.map((f) => `${f.id} (${f.error})`).join("; ")}`,
    );
  if (wal.failed.length)
    throw new StrongboxError(
      "STORE",
      `prune could not delete ${wal.failed.length} WAL file(s): ${wal.failed.map((f) => `${f.key} (${f.error})`).join("; ")}`,
    );
  return {
    summary: `prune: deleted ${deleted.length} backup(s) (${formatBytes(freed)}), kept ${r.decisions.length - r.drops.length + locked.length}, ${locked.length} locked, ${aborted.length} stale uploads aborted${untrusted.length ? `; ${flaggedLine}` : ""}`,
    ...(untrusted.length ? { report: { untrusted } } : {}),
  };
}

function table(rows: PlanRow[]): string {
  if (rows.length === 0) return "no backups";
  const head = ["ID", "AGE", "ACTION", "WHY"];
  const body = rows.map((r) => [r.id, r.age, r.action, r.reasons.join("; ")]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((r) => r.map((c, i) => (i === 3 ? c : c.padEnd(w[i]))).join("  ")).join("\n");
}

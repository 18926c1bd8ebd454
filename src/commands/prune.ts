import { StrongboxError, describeError } from "../errors.js";
import { formatBytes } from "../progress.js";
import { keys } from "../repository/layout.js";
import { Repository, notCounted } from "../repository/repository.js";
import {
  applyRetention,
  deleteShareExcess,
  hasRules,
  INCOMPLETE_GRACE_MS,
  type BackupInfo,
} from "../retention/policy.js";
import { repositoryOptions } from "../repository/options.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import type { CommandContext } from "./context.js";
import type { JobResult } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { proveWithBases } from "./prune-proof.js";
import { keepUnprovenPredecessors } from "../retention/unproven-guard.js";
import { pruneJournal, type PruneJournal } from "../retention/prune-journal.js";
import { stateOwner } from "../differential/owner.js";
import type { BackupListing } from "../repository/repository.js";
import { runCommand } from "./lifecycle.js";
import { pruneWal, walLines, type WalPruneOutcome } from "../engine/prune-wal.js";
import { walKeepPlan } from "../wal/retention.js";

/** A backup's age for the plan; a time after `now` is no age at all (and such a backup is flagged untrusted). */
export function ageOf(time: Date, now: Date): string {
  const h = (now.getTime() - time.getTime()) / 3600_000;
  if (h < 0) return "in the future";
  return h < 48 ? `${h.toFixed(1)}h` : `${(h / 24).toFixed(1)}d`;
}

/** What a prune run counted and left alone: the daemon's /metrics shows it. */
export interface PruneOutcome {
  /** Backups with a valid complete.json that were not counted (time or signature): kept and flagged. */
  untrusted: number;
  damaged: number;
}

/** How many flagged backups a log, a summary or a notification names one by one (the --json result names all). */
const SHOWN = 20;

function isDenied(err: unknown): boolean {
  return /AccessDenied|HTTP 403|locked/i.test(describeError(err));
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
  const store = abortableStore(await openStore(config, "pruner"), o.signal);
  const repo = new Repository(store, repositoryOptions(config));
  const maxShare = config.retention!.max_delete_share ?? 0.5;
  const outcome: PruneOutcome = { untrusted: 0, damaged: 0 };
  const owner = stateOwner(config);
  const journal = pruneJournal(owner.stateDir, owner.repository);
  const run = async (): Promise<JobResult> => {
    const now = new Date();
    const swept = o.dryRun ? { count: 0, bytes: 0 } : await sweepLeftovers(ctx, store);
    const listed = await repo.listBackups();
    // Backups a killed prune had started to delete (complete.json already gone): finished first.
    const finished = o.dryRun ? { ids: [], freed: 0 } : await finishStarted(ctx, store, journal, listed);
    const all = listed.filter((b) => !finished.ids.includes(b.id));
    // A backup whose complete.json cannot be trusted is never deleted by retention: an operator looks at it.
    for (const b of all.filter((x) => x.damaged)) ctx.log.warn(`${b.id}: damaged, kept for inspection (${b.damaged})`);
    // Nor is a backup whose claimed time the store contradicts (or whose signature fails): not counted, kept, flagged.
    const untrusted = all
      .filter((x) => !x.damaged && notCounted(x).length)
      .map((b) => ({ id: b.id, reasons: notCounted(b) }));
    for (const u of untrusted.slice(0, SHOWN))
      ctx.log.warn(`${u.id}: untrusted, not counted by retention and kept (${u.reasons.join("; ")})`);
    if (untrusted.length > SHOWN)
      ctx.log.warn(`${untrusted.length - SHOWN} more untrusted backup(s) kept (strongbox list shows each)`);
    outcome.untrusted = untrusted.length;
    outcome.damaged = all.filter((x) => x.damaged).length;
    // A differential whose base cannot serve it is not counted: each source keeps its newest backup that restores.
    for (const b of all.filter((x) => x.brokenChain && !notCounted(x).length).slice(0, SHOWN))
      ctx.log.warn(`${b.id}: broken chain, not counted by retention and kept (${b.brokenChain})`);
    const listing = all.filter((x) => !x.damaged);
    const drills = await repo.lastDrills();
    const infos: BackupInfo[] = listing.map((b) => ({
      id: b.id,
      time: b.time,
      complete: Boolean(b.complete),
      sources: (b.complete?.sources ?? []).map((x) => (typeof x?.name === "string" ? x.name : "?")),
      lastActivity: b.objects.reduce<Date | undefined>(
        (m, x) => (x.lastModified && (!m || x.lastModified > m) ? x.lastModified : m),
        undefined,
      ),
      drillPassed: drills.get(b.id)?.result === "pass",
      bases: [...new Set((b.complete?.objects ?? []).flatMap((x) => (x.base ? [x.base] : [])))],
      ...(notCounted(b).length ? { untrusted: notCounted(b) } : {}),
      ...(b.brokenChain ? { unrestorable: `broken chain: ${b.brokenChain}` } : {}),
    }));
    const decisions = applyRetention(infos, config.retention!, { now, timezone: config.retention!.timezone });
    // Sizes alone cannot show a same-size bit flip: a source's last older backup goes only once a newer one is proven intact.
    const recOf = new Map(listing.map((b) => [b.id, b.complete]));
    const unproven = await keepUnprovenPredecessors(infos, decisions, (b) =>
      proveWithBases(repo, (id) => recOf.get(id) ?? undefined, b.id, Boolean(b.drillPassed), o.signal),
    );
    for (const u of unproven)
      ctx.log.warn(`${u.kept}: kept, the newer backup(s) of ${u.source} are not proven intact (${u.why})`);
    const unprovenLines = unproven.map(
      (u) =>
        `kept ${u.kept} (${u.source}): newer backup(s) not proven intact (${u.why}); a passed drill of ${u.newest} lets prune delete it`,
    );
    const drops = decisions.filter((d) => !d.keep);
    const timeOf = new Map(listing.map((b) => [b.id, b.time]));
    const rows = decisions.map((d) => ({
      id: d.id,
      age: ageOf(timeOf.get(d.id)!, now),
      action: d.keep ? "keep" : "drop",
      reasons: d.reasons,
    }));
    const flaggedLine = untrusted.length
      ? `${untrusted.length} untrusted backup(s) kept and not counted: ${untrusted
          .slice(0, SHOWN)
          .map((u) => u.id)
          .join(", ")}${untrusted.length > SHOWN ? `, and ${untrusted.length - SHOWN} more (strongbox list)` : ""}`
      : "";
    // One run deleting most of a source's backups is what a steered or mistaken retention looks like.
    const excess = o.force ? [] : deleteShareExcess(infos, decisions, maxShare);
    const refusal = excess.length
      ? new StrongboxError(
          "REFUSED",
          `prune refused: it would delete ${excess.map((e) => `${e.drop} of ${e.of} trusted complete backups of source ${e.source}`).join(", ")}, more than retention.max_delete_share (${maxShare}); no backup deleted. If that is intended: strongbox prune --force`,
        )
      : undefined;
    // The bases whose WAL stays: kept by retention (or not deletable), counted, complete.
    const keptBases = (extra: string[]) =>
      listing
        .filter((b) => b.complete && !notCounted(b).length && !b.brokenChain)
        .filter((b) => extra.includes(b.id) || decisions.some((d) => d.id === b.id && d.keep))
        .map((b) => ({ id: b.id, complete: b.complete! }));
    const walPrune = async (extra: string[]): Promise<WalPruneOutcome> => {
      const w = await pruneWal(store, walKeepPlan(keptBases(extra)), {
        dryRun: Boolean(o.dryRun),
        isDenied,
        signal: o.signal,
      });
      for (const line of walLines(w, Boolean(o.dryRun)).warnings) ctx.log.warn(line);
      return w;
    };
    if (o.dryRun || refusal) {
      const wal = refusal ? undefined : await walPrune([]);
      const shown = {
        dry_run: Boolean(o.dryRun),
        plan: rows,
        untrusted,
        unproven,
        ...(refusal ? { refused: excess } : {}),
        ...(wal ? { wal } : {}),
      };
      ctx.print(shown, () =>
        [
          table(rows),
          ...(wal ? walLines(wal, true).info : []),
          ...unprovenLines,
          ...(flaggedLine ? [flaggedLine] : []),
        ].join("\n"),
      );
      if (refusal) throw refusal;
      return {
        summary: `prune (dry run): would drop ${drops.length} of ${decisions.length} backups${untrusted.length ? `; ${flaggedLine}` : ""}`,
      };
    }
    const deleted: string[] = [];
    const locked: string[] = [];
    const failed: { id: string; error: string }[] = [];
    let freed = finished.freed;
    // Recorded on this host before the first delete: a kill part-way leaves the rest to the next prune.
    await journal
      .begin(drops.map((d) => d.id))
      .catch((err) =>
        ctx.log.warn(
          `cannot record the backups being deleted in ${owner.stateDir} (${describeError(err)}): a killed prune would leave them half-deleted for 24 h`,
        ),
      );
    for (const d of drops) {
      const b = listing.find((x) => x.id === d.id)!;
      try {
        freed += await deleteBackup(store, d.id, b.objects);
        deleted.push(d.id);
        ctx.log.info(`pruned ${d.id}`, { reasons: d.reasons });
      } catch (err) {
        if (isDenied(err)) {
          locked.push(d.id);
          ctx.log.warn(`${d.id}: cannot be deleted yet (Object Lock or permissions): kept`);
        } else {
          failed.push({ id: d.id, error: describeError(err) });
        }
      }
    }
    // A backup whose delete failed part-way stays recorded, so the next prune finishes it.
    // So does a locked one: if its delete was refused after complete.json went, the next prune finishes it;
    // one that is still complete is left alone by the next prune (only ids without complete.json are finished).
    const unfinished = [...failed.map((f) => f.id), ...locked];
    await (unfinished.length ? journal.begin(unfinished) : journal.end()).catch(() => undefined);
    // WAL after the backups: a base whose delete failed or was refused still needs its WAL.
    const wal = await walPrune(unfinished);
    const aborted = store.abortStaleUploads
      ? await store.abortStaleUploads(new Date(now.getTime() - INCOMPLETE_GRACE_MS))
      : [];
    const result = {
      dry_run: false,
      plan: rows,
      deleted,
      finished_deleting: finished.ids,
      locked,
      failed,
      aborted_uploads: aborted,
      freed_bytes: freed,
      leftovers_removed: swept,
      untrusted,
      unproven,
      wal,
    };
    ctx.print(result, () =>
      [
        table(rows),
        `deleted ${deleted.length} backup(s), ${formatBytes(freed)}; ${locked.length} locked; ${aborted.length} stale upload(s) aborted`,
        ...walLines(wal, false).info,
        ...(finished.ids.length
          ? [
              `finished deleting ${finished.ids.length} backup(s) a killed prune had started to delete: ${finished.ids.join(", ")}`,
            ]
          : []),
        ...unprovenLines,
        ...(flaggedLine ? [flaggedLine] : []),
        ...failed.map((f) => `FAILED ${f.id}: ${f.error}`),
        ...wal.failed.map((f) => `FAILED ${f.key}: ${f.error}`),
      ].join("\n"),
    );
    if (wal.failed.length && !failed.length)
      throw new StrongboxError(
        "STORE",
        `prune could not delete ${wal.failed.length} WAL file(s): ${wal.failed.map((f) => `${f.key} (${f.error})`).join("; ")}`,
      );
    if (failed.length)
      throw new StrongboxError(
        "STORE",
        `prune could not delete ${failed.length} backup(s): ${failed.map((f) => `${f.id} (${f.error})`).join("; ")}`,
      );
    return {
      summary: `prune: deleted ${deleted.length} backup(s) (${formatBytes(freed)}), kept ${decisions.length - drops.length + locked.length}, ${locked.length} locked, ${aborted.length} stale uploads aborted${untrusted.length ? `; ${flaggedLine}` : ""}`,
      ...(untrusted.length ? { report: { untrusted } } : {}),
    };
  };
  await runCommand(ctx, { command: "prune", job: o.job, notify: !o.dryRun, signal: o.signal }, run);
  return outcome;
}

/**
 * Finishes deleting the backups the journal names whose complete.json is gone (a prune killed while
 * deleting them); one that cannot be deleted now is left to retention (an incomplete backup).
 */
async function finishStarted(
  ctx: CommandContext,
  store: Store,
  journal: PruneJournal,
  listed: BackupListing[],
): Promise<{ ids: string[]; freed: number }> {
  const recorded = await journal.pending();
  const pending = new Set(recorded.ids);
  const since = recorded.startedAt;
  const out = { ids: [] as string[], freed: 0 };
  for (const b of listed.filter((x) => pending.has(x.id) && !x.objects.some((k) => k.key === keys.complete(x.id)))) {
    // An object stored after the killed prune recorded it (the store's clock against this host's) is
    // someone else's upload, e.g. a copy re-sending the backup: left to the incomplete-backup grace.
    if (!since || b.objects.some((k) => !k.lastModified || k.lastModified > since)) {
      ctx.log.warn(
        `${b.id}: a killed prune had started to delete it, but it has objects stored since: left to the grace for incomplete backups`,
      );
      continue;
    }
    try {
      out.freed += await deleteBackup(store, b.id, b.objects);
      out.ids.push(b.id);
      ctx.log.info(`finished deleting ${b.id}, which a killed prune had started to delete`);
    } catch (err) {
      ctx.log.warn(
        `${b.id}: a killed prune had started to delete it, and it cannot be deleted now (${describeError(err)}): kept`,
      );
    }
  }
  return out;
}

/** Deletes a backup's objects, complete.json first: a half-pruned backup must never look complete. */
export async function deleteBackup(store: Store, id: string, objects: ObjectInfo[]): Promise<number> {
  const marker = keys.complete(id);
  const order = [...objects.filter((o) => o.key === marker), ...objects.filter((o) => o.key !== marker)];
  let freed = 0;
  for (const obj of order) {
    await store.delete(obj.key);
    freed += obj.size;
  }
  return freed;
}

function table(rows: { id: string; age: string; action: string; reasons: string[] }[]): string {
  if (rows.length === 0) return "no backups";
  const head = ["ID", "AGE", "ACTION", "WHY"];
  const body = rows.map((r) => [r.id, r.age, r.action, r.reasons.join("; ")]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((r) => r.map((c, i) => (i === 3 ? c : c.padEnd(w[i]))).join("  ")).join("\n");
}

import { StrongboxError, describeError } from "../errors.js";
import { formatBytes } from "../progress.js";
import { backupTime, keys } from "../repository/layout.js";
import { Repository } from "../repository/repository.js";
import { trustPolicy } from "../crypto/signing.js";
import { applyRetention, hasRules, INCOMPLETE_GRACE_MS } from "../retention/policy.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import type { CommandContext } from "./context.js";
import { runJob, type JobResult } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { withRepositoryLock } from "./repository-lock.js";

function ageOf(id: string, now: Date): string {
  const h = (now.getTime() - backupTime(id).getTime()) / 3600_000;
  return h < 48 ? `${h.toFixed(1)}h` : `${(h / 24).toFixed(1)}d`;
}

function isDenied(err: unknown): boolean {
  return /AccessDenied|HTTP 403|locked/i.test(describeError(err));
}

export async function pruneCommand(ctx: CommandContext, o: { dryRun?: boolean; job?: string; signal?: AbortSignal }): Promise<void> {
  const config = ctx.config();
  if (!hasRules(config.retention)) {
    throw new StrongboxError("CONFIG", "retention: no keep_* rule is configured; refusing to prune (e.g. retention: { keep_daily: 7, keep_weekly: 4 })");
  }
  const store = abortableStore(await openStore(config, "pruner"), o.signal);
  const repo = new Repository(store, trustPolicy(config));
  const run = async (): Promise<JobResult> => {
    const now = new Date();
    const swept = o.dryRun ? { count: 0, bytes: 0 } : await sweepLeftovers(ctx, store);
    const all = await repo.listBackups();
    // A backup whose complete.json cannot be trusted is never deleted by retention: an operator looks at it.
    for (const b of all.filter((x) => x.damaged)) ctx.log.warn(`${b.id}: damaged, kept for inspection (${b.damaged})`);
    const listing = all.filter((x) => !x.damaged);
    const drills = await repo.lastDrills();
    const decisions = applyRetention(
      listing.map((b) => ({
        id: b.id,
        time: b.time,
        complete: Boolean(b.complete),
        sources: (b.complete?.sources ?? []).map((x) => (typeof x?.name === "string" ? x.name : "?")),
        lastActivity: b.objects.reduce<Date | undefined>((m, x) => (x.lastModified && (!m || x.lastModified > m) ? x.lastModified : m), undefined),
        drillPassed: drills.get(b.id)?.result === "pass",
        bases: [...new Set((b.complete?.objects ?? []).flatMap((x) => (x.base ? [x.base] : [])))],
      })),
      config.retention!,
      { now, timezone: config.retention!.timezone },
    );
    const drops = decisions.filter((d) => !d.keep);
    const rows = decisions.map((d) => ({ id: d.id, age: ageOf(d.id, now), action: d.keep ? "keep" : "drop", reasons: d.reasons }));
    if (o.dryRun) {
      ctx.print({ dry_run: true, plan: rows }, () => table(rows));
      return { summary: `prune (dry run): would drop ${drops.length} of ${decisions.length} backups` };
    }
    const deleted: string[] = [];
    const locked: string[] = [];
    const failed: { id: string; error: string }[] = [];
    let freed = 0;
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
    const aborted = store.abortStaleUploads ? await store.abortStaleUploads(new Date(now.getTime() - INCOMPLETE_GRACE_MS)) : [];
    const result = { dry_run: false, plan: rows, deleted, locked, failed, aborted_uploads: aborted, freed_bytes: freed, leftovers_removed: swept };
    ctx.print(result, () =>
      [
        table(rows),
        `deleted ${deleted.length} backup(s), ${formatBytes(freed)}; ${locked.length} locked; ${aborted.length} stale upload(s) aborted`,
        ...failed.map((f) => `FAILED ${f.id}: ${f.error}`),
      ].join("\n"),
    );
    if (failed.length) throw new StrongboxError("STORE", `prune could not delete ${failed.length} backup(s): ${failed.map((f) => `${f.id} (${f.error})`).join("; ")}`);
    return { summary: `prune: deleted ${deleted.length} backup(s) (${formatBytes(freed)}), kept ${decisions.length - drops.length + locked.length}, ${locked.length} locked, ${aborted.length} stale uploads aborted` };
  };
  await withRepositoryLock(ctx, "prune", () => runJob(ctx, "prune", o.job ?? "prune", run, { notify: !o.dryRun }));
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


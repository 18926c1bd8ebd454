/**
 * The prune engine: retention's plan over the listed backups, then (unless a dry run or a refusal)
 * the deletes, the journal that makes them crash-safe, the WAL no kept base needs, and stale
 * uploads. It prints nothing: commands/prune.ts parses, calls this, and prints what it returns.
 */
import { describeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Config } from "../config/schema.js";
import { keys } from "../repository/layout.js";
import { newestBySource, notCounted, type BackupListing, type Repository } from "../repository/repository.js";
import {
  applyRetention,
  deleteShareExcess,
  INCOMPLETE_GRACE_MS,
  type BackupInfo,
  type Decision,
  type ShareExcess,
} from "../retention/policy.js";
import type { PruneJournal } from "../retention/prune-journal.js";
import { keepUnprovenPredecessors, type UnprovenKeep } from "../retention/unproven-guard.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import { walKeepPlan } from "../wal/retention.js";
import { proveWithBases } from "./prune-proof.js";
import { pruneWal, walLines, type WalPruneOutcome } from "./prune-wal.js";

/** A backup's age for the plan; a time after `now` is no age at all (and such a backup is flagged untrusted). */
export function ageOf(time: Date, now: Date): string {
  const h = (now.getTime() - time.getTime()) / 3600_000;
  if (h < 0) return "in the future";
  return h < 48 ? `${h.toFixed(1)}h` : `${(h / 24).toFixed(1)}d`;
}

/** How many flagged backups a log, a summary or a notification names one by one (the --json result names all). */
export const SHOWN = 20;

export function isDenied(err: unknown): boolean {
  return /AccessDenied|HTTP 403|locked/i.test(describeError(err));
}

export interface PruneDeps {
  store: Store;
  repo: Repository;
  journal: PruneJournal;
  log: Logger;
  retention: NonNullable<Config["retention"]>;
  /** Where the journal lives, to name in a warning. */
  stateDir: string;
  /** Removes temporary files of killed runs (not in a dry run). */
  sweep(): Promise<{ count: number; bytes: number }>;
}

export interface PruneOptions {
  dryRun?: boolean;
  force?: boolean;
  signal?: AbortSignal;
}

export interface PlanRow {
  id: string;
  age: string;
  action: string;
  reasons: string[];
}

/** Retention's verdict on the listed backups, and what it rests on. */
export interface PrunePlan {
  rows: PlanRow[];
  decisions: Decision[];
  drops: Decision[];
  untrusted: { id: string; reasons: string[] }[];
  damaged: number;
  unproven: UnprovenKeep[];
  /** Sources of which this run would delete more than retention.max_delete_share (empty with --force). */
  excess: ShareExcess[];
  /** The drill history could not be read whole (repository.ts, lastDrills) and something would go: refused (false with --force). */
  drillsIncomplete: boolean;
  maxShare: number;
  finished: { ids: string[]; freed: number };
}

export type PruneReport =
  | (PrunePlan & { done: false; wal?: WalPruneOutcome })
  | (PrunePlan & {
      done: true;
      deleted: string[];
      locked: string[];
      failed: { id: string; error: string }[];
      freed: number;
      aborted: string[];
      swept: { count: number; bytes: number };
      wal: WalPruneOutcome;
    });

/** Plans, and unless a dry run or a refusal, deletes. */
export async function runPrune(deps: PruneDeps, o: PruneOptions): Promise<PruneReport> {
  const now = new Date();
  const swept = o.dryRun ? { count: 0, bytes: 0 } : await deps.sweep();
  const listed = await deps.repo.listBackups();
  // Backups a killed prune had started to delete (complete.json already gone): finished first.
  const finished = o.dryRun ? { ids: [], freed: 0 } : await finishStarted(deps, listed);
  const listing = listed.filter((b) => !finished.ids.includes(b.id));
  const plan = await planPrune(deps, o, listing, now, finished);
  const walPrune = async (extra: string[]): Promise<WalPruneOutcome> => {
    const kept = keptBases(
      listing.filter((b) => !b.damaged),
      plan.decisions,
      extra,
    );
    const w = await pruneWal(deps.store, walKeepPlan(kept), { dryRun: Boolean(o.dryRun), isDenied, signal: o.signal });
    for (const line of walLines(w, Boolean(o.dryRun)).warnings) deps.log.warn(line);
    return w;
  };
  const refused = plan.excess.length > 0 || plan.drillsIncomplete;
  if (o.dryRun || refused) return { ...plan, done: false, ...(refused ? {} : { wal: await walPrune([]) }) };
  const gone = await deleteDrops(deps, plan, listing, o.signal);
  // WAL after the backups: a base whose delete failed or was refused still needs its WAL.
  const wal = await walPrune([...gone.failed.map((f) => f.id), ...gone.locked]);
  const aborted = deps.store.abortStaleUploads
    ? await deps.store.abortStaleUploads(new Date(now.getTime() - INCOMPLETE_GRACE_MS))
    : [];
  return { ...plan, done: true, ...gone, freed: gone.freed + finished.freed, aborted, swept, wal };
}

/**
 * The bases whose WAL stays: every complete backup prune keeps: kept by retention, not deletable, or
 * kept because retention does not count it (untrusted, backdated, broken chain: an operator looks at
 * those, and a real base flagged by a skewed clock still needs its WAL). One more base can only lower
 * the minimum start (wal/retention.ts), so a forged one can make prune keep more WAL, never less.
 */
function keptBases(listing: BackupListing[], decisions: Decision[], extra: string[]) {
  return listing
    .filter((b) => b.complete)
    .filter(
      (b) =>
        notCounted(b).length > 0 ||
        b.brokenChain !== undefined ||
        extra.includes(b.id) ||
        decisions.some((d) => d.id === b.id && d.keep),
    )
    .map((b) => ({ id: b.id, complete: b.complete! }));
}

/** Logs what retention will not count, and returns the untrusted ones. */
function flagged(log: Logger, all: BackupListing[]): { id: string; reasons: string[] }[] {
  // A backup whose complete.json cannot be trusted is never deleted by retention: an operator looks at it.
  const damaged = all.filter((x) => x.damaged);
  for (const b of damaged.slice(0, SHOWN)) log.warn(`${b.id}: damaged, kept for inspection (${b.damaged})`);
  if (damaged.length > SHOWN)
    log.warn(`${damaged.length - SHOWN} more damaged backup(s) kept (strongbox list shows each)`);
  // Nor is a backup whose claimed time the store contradicts (or whose signature fails): not counted, kept, flagged.
  const untrusted = all
    .filter((x) => !x.damaged && notCounted(x).length)
    .map((b) => ({ id: b.id, reasons: notCounted(b) }));
  for (const u of untrusted.slice(0, SHOWN))
    log.warn(`${u.id}: untrusted, not counted by retention and kept (${u.reasons.join("; ")})`);
  if (untrusted.length > SHOWN)
    log.warn(`${untrusted.length - SHOWN} more untrusted backup(s) kept (strongbox list shows each)`);
  // A differential whose base cannot serve it is not counted: each source keeps its newest backup that restores.
  for (const b of all.filter((x) => x.brokenChain && !notCounted(x).length).slice(0, SHOWN))
    log.warn(`${b.id}: broken chain, not counted by retention and kept (${b.brokenChain})`);
  return untrusted;
}

/**
 * The time retention files a backup under. started_at is whatever the writer claimed, and finished_at
 * only within the clock skew of the store's time (plausible-time.ts): a backup stored now that claimed
 * to have started yesterday 23:59 took yesterday's keep_daily slot from the real one, and one stored at
 * 00:10 claiming 23:56 still could. So an unsigned backup is filed under the store's own time for its
 * complete.json, which no writer sets (else, for a store that reports none, its finished_at). A backup
 * signed by a trusted key is filed under its start, which the signature vouches for (a copy is stored
 * later than it finished).
 */
export function retentionTime(b: BackupListing): Date {
  if (b.signedBy || !b.complete) return b.time;
  if (b.serverTime && Number.isFinite(b.serverTime.getTime())) return b.serverTime;
  const finished = Date.parse(b.complete.finished_at);
  return Number.isFinite(finished) ? new Date(finished) : b.time;
}

function infoOf(b: BackupListing, drillPassed: boolean): BackupInfo {
  return {
    id: b.id,
    time: retentionTime(b),
    complete: Boolean(b.complete),
    sources: (b.complete?.sources ?? []).map((x) => (typeof x?.name === "string" ? x.name : "?")),
    lastActivity: b.objects.reduce<Date | undefined>(
      (m, x) => (x.lastModified && (!m || x.lastModified > m) ? x.lastModified : m),
      undefined,
    ),
    drillPassed,
    bases: [...new Set((b.complete?.objects ?? []).flatMap((x) => (x.base ? [x.base] : [])))],
    ...(notCounted(b).length ? { untrusted: notCounted(b) } : {}),
    ...(b.brokenChain ? { unrestorable: `broken chain: ${b.brokenChain}` } : {}),
  };
}

async function planPrune(
  deps: PruneDeps,
  o: PruneOptions,
  all: BackupListing[],
  now: Date,
  finished: { ids: string[]; freed: number },
): Promise<PrunePlan> {
  const untrusted = flagged(deps.log, all);
  const listing = all.filter((x) => !x.damaged);
  const drills = await deps.repo.lastDrills();
  const infos = listing.map((b) => infoOf(b, drills.get(b.id)?.result === "pass"));
  const decisions = applyRetention(infos, deps.retention, { now, timezone: deps.retention.timezone });
  // The newest restorable backup of each source as list and restore latest see it (by its claimed
  // start) is kept too: for unsigned backups retention orders by the store's time, and a forgery that
  // claims an early start must not make the backup that `restore latest` would take a drop.
  const decisionOf = new Map(decisions.map((d) => [d.id, d]));
  for (const [source, b] of newestBySource(listing, [])) {
    const d = b && decisionOf.get(b.id);
    if (d && !d.keep) {
      d.keep = true;
      d.reasons = [`newest restorable of ${source} (restore latest)`];
    }
  }
  // Sizes alone cannot show a same-size bit flip: a source's last older backup goes only once a newer one is proven intact.
  const recOf = new Map(listing.map((b) => [b.id, b.complete]));
  const unproven = await keepUnprovenPredecessors(infos, decisions, (b) =>
    proveWithBases(deps.repo, (id) => recOf.get(id) ?? undefined, b.id, Boolean(b.drillPassed), o.signal),
  );
  for (const u of unproven)
    deps.log.warn(`${u.kept}: kept, the newer backup(s) of ${u.source} are not proven intact (${u.why})`);
  const timeOf = new Map(listing.map((b) => [b.id, b.time]));
  const rows = decisions.map((d) => ({
    id: d.id,
    age: ageOf(timeOf.get(d.id)!, now),
    action: d.keep ? "keep" : "drop",
    reasons: d.reasons,
  }));
  const maxShare = deps.retention.max_delete_share ?? 0.5;
  // One run deleting most of a source's backups is what a steered or mistaken retention looks like.
  const excess = o.force ? [] : deleteShareExcess(infos, decisions, maxShare);
  // drills/ flooded (more signatures than are read, too few of them trusted): the newest drill-passed
  // backup, which retention never deletes, may be one this run did not see. Refused, unless --force.
  const drillsIncomplete = deps.repo.drillHistoryIncomplete && !o.force && decisions.some((d) => !d.keep);
  return {
    rows,
    drillsIncomplete,
    decisions,
    drops: decisions.filter((d) => !d.keep),
    untrusted,
    damaged: all.filter((x) => x.damaged).length,
    unproven,
    excess,
    maxShare,
    finished,
  };
}

/** Deletes what retention dropped, recorded in the journal first: a kill part-way leaves the rest to the next prune. */
async function deleteDrops(deps: PruneDeps, plan: PrunePlan, listing: BackupListing[], signal?: AbortSignal) {
  const deleted: string[] = [];
  const locked: string[] = [];
  const failed: { id: string; error: string }[] = [];
  let freed = 0;
  await deps.journal
    .begin(plan.drops.map((d) => d.id))
    .catch((err) =>
      deps.log.warn(
        `cannot record the backups being deleted in ${deps.stateDir} (${describeError(err)}): a killed prune would leave them half-deleted for 24 h`,
      ),
    );
  for (const d of plan.drops) {
    const b = listing.find((x) => x.id === d.id)!;
    try {
      freed += await deleteBackup(deps.store, d.id, b.objects);
      deleted.push(d.id);
      deps.log.info(`pruned ${d.id}`, { reasons: d.reasons });
    } catch (err) {
      // Stopped (SIGTERM, a deadline): the journal keeps every drop, and the next prune finishes the started one.
      if (signal?.aborted) throw err;
      if (isDenied(err)) {
        locked.push(d.id);
        deps.log.warn(`${d.id}: cannot be deleted yet (Object Lock or permissions): kept`);
      } else {
        failed.push({ id: d.id, error: describeError(err) });
      }
    }
  }
  // A backup whose delete failed part-way stays recorded, so the next prune finishes it.
  // So does a locked one: if its delete was refused after complete.json went, the next prune finishes it;
  // one that is still complete is left alone by the next prune (only ids without complete.json are finished).
  const unfinished = [...failed.map((f) => f.id), ...locked];
  await (unfinished.length ? deps.journal.begin(unfinished) : deps.journal.end()).catch(() => undefined);
  return { deleted, locked, failed, freed };
}

/**
 * Finishes deleting the backups the journal names whose complete.json is gone (a prune killed while
 * deleting them); one that cannot be deleted now is left to retention (an incomplete backup).
 */
async function finishStarted(deps: PruneDeps, listed: BackupListing[]): Promise<{ ids: string[]; freed: number }> {
  const recorded = await deps.journal.pending();
  const pending = new Set(recorded.ids);
  const since = recorded.startedAt;
  const out = { ids: [] as string[], freed: 0 };
  for (const b of listed.filter((x) => pending.has(x.id) && !x.objects.some((k) => k.key === keys.complete(x.id)))) {
    // An object stored after the killed prune recorded it (the store's clock against this host's) is
    // someone else's upload, e.g. a copy re-sending the backup: left to the incomplete-backup grace.
    if (!since || b.objects.some((k) => !k.lastModified || k.lastModified > since)) {
      deps.log.warn(
        `${b.id}: a killed prune had started to delete it, but it has objects stored since: left to the grace for incomplete backups`,
      );
      continue;
    }
    try {
      out.freed += await deleteBackup(deps.store, b.id, b.objects);
      out.ids.push(b.id);
      deps.log.info(`finished deleting ${b.id}, which a killed prune had started to delete`);
    } catch (err) {
      deps.log.warn(
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

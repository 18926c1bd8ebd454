import { describeError } from "../errors.js";
import { formatBytes } from "../progress.js";
import type { Store } from "../stores/store.js";
import { judgeWalKey, type WalKeepPlan } from "../wal/retention.js";

/** What prune did (or, dry run, would do) with one cluster's archived WAL. */
export interface WalClusterOutcome {
  system_identifier: string;
  /** The kept base that starts oldest, and its start segment: everything from there on is kept. */
  oldest_kept_base?: string;
  kept_from?: string;
  deleted: number;
  deleted_bytes: number;
  kept: number;
  locked: number;
  /** No kept base of this cluster: every WAL file kept. */
  no_base?: true;
}

export interface WalPruneOutcome {
  clusters: WalClusterOutcome[];
  /** Keys under wal/ that are not WAL keys of ours: kept, a few named. */
  unparsable: { count: number; sample: string[] };
  failed: { key: string; error: string }[];
  /** Why no WAL was considered at all, when so. */
  skipped?: string;
}

/** At most this many keys wait for their delete: a forged listing of millions costs no more memory. */
const BATCH = 1000;
/** At most this many clusters are tracked: more is a forger's listing; the rest is kept unjudged. */
const MAX_CLUSTERS = 1000;
const SAMPLE = 3;
const FAILED_SHOWN = 20;

type Denied = (err: unknown) => boolean;

/**
 * Deletes (unless `dryRun`) the archived WAL no kept base needs (wal/retention.ts), streaming the
 * listing of wal/ in batches: oldest first within a timeline, so a prune killed part-way leaves no hole,
 * only fewer old files gone; the next prune deletes the rest. A delete refused by Object Lock or
 * permissions is counted as locked and kept, not a failure.
 */
export async function pruneWal(
  store: Store,
  plan: WalKeepPlan,
  o: { dryRun: boolean; isDenied: Denied; signal?: AbortSignal },
): Promise<WalPruneOutcome> {
  const out: WalPruneOutcome = { clusters: [], unparsable: { count: 0, sample: [] }, failed: [] };
  if (plan.unknown.length) {
    out.skipped = `kept cluster base(s) ${plan.unknown.slice(0, SAMPLE).join(", ")} record no WAL start (written by an older strongbox): no WAL deleted`;
    return out;
  }
  const byId = new Map<string, WalClusterOutcome>();
  const cluster = (id: string): WalClusterOutcome | undefined => {
    let c = byId.get(id);
    if (!c && byId.size < MAX_CLUSTERS) {
      const p = plan.points.get(id);
      c = {
        system_identifier: id,
        ...(p ? { oldest_kept_base: p.base, kept_from: p.startWal } : { no_base: true as const }),
        deleted: 0,
        deleted_bytes: 0,
        kept: 0,
        locked: 0,
      };
      byId.set(id, c);
    }
    return c;
  };
  let batch: { key: string; size: number; c: WalClusterOutcome }[] = [];
  const flush = async () => {
    for (const d of batch) await deleteOne(store, d, out, o);
    batch = [];
  };
  for await (const obj of store.list("wal/")) {
    if (o.signal?.aborted) throw o.signal.reason;
    const v = judgeWalKey(obj.key, plan.points);
    if (v.action === "unparsable") {
      out.unparsable.count++;
      if (out.unparsable.sample.length < SAMPLE) out.unparsable.sample.push(JSON.stringify(obj.key.slice(0, 120)));
      continue;
    }
    const c = cluster(v.systemId);
    if (!c) continue;
    if (v.action !== "delete") c.kept++;
    else if (o.dryRun) {
      c.deleted++;
      c.deleted_bytes += obj.size;
    } else {
      batch.push({ key: obj.key, size: obj.size, c });
      if (batch.length >= BATCH) await flush();
    }
  }
  await flush();
  out.clusters = [...byId.values()];
  return out;
}

async function deleteOne(
  store: Store,
  d: { key: string; size: number; c: WalClusterOutcome },
  out: WalPruneOutcome,
  o: { isDenied: Denied; signal?: AbortSignal },
): Promise<void> {
  if (o.signal?.aborted) throw o.signal.reason;
  try {
    await store.delete(d.key);
    d.c.deleted++;
    d.c.deleted_bytes += d.size;
  } catch (err) {
    d.c.kept++;
    if (o.isDenied(err)) d.c.locked++;
    else if (out.failed.length < FAILED_SHOWN) out.failed.push({ key: d.key, error: describeError(err) });
  }
}

/** The lines prune prints (and logs as warnings) about WAL. */
export function walLines(w: WalPruneOutcome, dryRun: boolean): { info: string[]; warnings: string[] } {
  const verb = dryRun ? "would delete" : "deleted";
  const info: string[] = [];
  const warnings: string[] = [];
  if (w.skipped) warnings.push(`WAL: ${w.skipped}`);
  for (const c of w.clusters) {
    if (c.no_base) {
      warnings.push(
        `WAL of cluster ${c.system_identifier}: no kept base backup of this cluster; its ${c.kept} file(s) kept`,
      );
      continue;
    }
    info.push(
      `WAL of cluster ${c.system_identifier}: ${verb} ${c.deleted} file(s) (${formatBytes(c.deleted_bytes)}) before ${c.kept_from} (the start of ${c.oldest_kept_base}); ${c.kept} kept${c.locked ? `, ${c.locked} locked` : ""}`,
    );
  }
  if (w.unparsable.count)
    warnings.push(
      `wal/: ${w.unparsable.count} key(s) that are not WAL files of ours kept (e.g. ${w.unparsable.sample.join(", ")})`,
    );
  return { info, warnings };
}

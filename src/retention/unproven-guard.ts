import { newestFirst } from "../repository/layout.js";
import type { BackupInfo, Decision } from "./policy.js";

/**
 * Whether a backup is proven intact beyond what a listing shows (sizes only): `proven` with the
 * proof, or not, with why. A same-size bit flip passes every size check; only a passed drill or a
 * hash check of the stored bytes tells it apart from an intact backup.
 */
export type ProofVerdict = { proven: true; how: string } | { proven: false; why: string };

/** One predecessor prune keeps because the backups that would remain of a source are not proven intact. */
export interface UnprovenKeep {
  source: string;
  /** The dropped backup that is kept instead. */
  kept: string;
  /** The newest backup of the source, which could not be proven intact. */
  newest: string;
  why: string;
}

/**
 * Retention decided to drop some backups. For each source, the backups it keeps look intact only by
 * their sizes. If none of them can be proven intact (`prove`, newest first, stops at the first proof)
 * and retention would drop the source's last older backup (its last intact-looking predecessor), that
 * predecessor is kept: deleting it would stake the source on a backup nobody has checked. The
 * decisions are changed in place; the result says which were kept, and why.
 * Only trusted, restorable, complete backups take part (untrusted ones are kept anyway).
 */
export async function keepUnprovenPredecessors(
  backups: BackupInfo[],
  decisions: Decision[],
  prove: (b: BackupInfo) => Promise<ProofVerdict>,
): Promise<UnprovenKeep[]> {
  const byId = new Map(decisions.map((d) => [d.id, d]));
  const verdicts = new Map<string, Promise<ProofVerdict>>();
  const verdict = (b: BackupInfo) => {
    if (!verdicts.has(b.id)) verdicts.set(b.id, prove(b));
    return verdicts.get(b.id)!;
  };
  const counted = backups.filter((b) => b.complete && !b.untrusted?.length && !b.unrestorable).sort(newestFirst);
  const sources = [...new Set(counted.flatMap((b) => b.sources))].sort();
  const out: UnprovenKeep[] = [];
  for (const source of sources) {
    const group = counted.filter((b) => b.sources.includes(source));
    const kept = group.filter((b) => byId.get(b.id)?.keep);
    const oldestKept = kept.at(-1);
    if (!oldestKept) continue;
    // The newest dropped backup older than every kept one: after this prune nothing older would remain.
    const predecessor = group.find((b) => !byId.get(b.id)!.keep && b.time < oldestKept.time);
    if (!predecessor) continue;
    const reasons: string[] = [];
    let proven = false;
    for (const b of kept) {
      const v = await verdict(b);
      if (v.proven) {
        proven = true;
        break;
      }
      reasons.push(`${b.id}: ${v.why}`);
    }
    if (proven) continue;
    const why = `kept: the newer backup(s) of ${source} are not proven intact (${reasons.join("; ")}); a passed drill of ${kept[0].id} lets prune delete it`;
    const d = byId.get(predecessor.id)!;
    d.keep = true;
    d.reasons = [why];
    // A differential kept this way keeps its base, as applyRetention keeps the bases of what it keeps.
    for (const baseId of predecessor.bases ?? []) {
      const base = byId.get(baseId);
      if (!base) continue;
      if (!base.keep) base.reasons = [];
      base.keep = true;
      base.reasons.push(`base of ${predecessor.id}`);
    }
    out.push({ source, kept: predecessor.id, newest: kept[0].id, why: reasons.join("; ") });
  }
  return out;
}

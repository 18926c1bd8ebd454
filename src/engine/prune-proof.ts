import { describeError, StrongboxError } from "../errors.js";
import type { CompleteRecord } from "../repository/complete.js";
import { drain, type Repository } from "../repository/repository.js";
import type { ProofVerdict } from "../retention/unproven-guard.js";

const denied = (err: unknown) => /AccessDenied|HTTP 403|EACCES|EPERM/.test(describeError(err));

/**
 * Proves a backup intact for prune: a passed drill (only a trusted, signed report counts when signing
 * is configured: Repository.lastDrills), else the SHA-256 of every object against complete.json, when
 * the pruner's credentials may read them. Reads the whole backup, so it runs only when a predecessor
 * is about to go (retention/unproven-guard.ts).
 */
export async function proveIntact(
  repo: Repository,
  rec: CompleteRecord,
  drillPassed: boolean,
  signal?: AbortSignal,
): Promise<ProofVerdict> {
  if (drillPassed) return { proven: true, how: "its last drill passed" };
  try {
    for (const o of rec.objects) {
      if (signal?.aborted) throw signal.reason;
      await drain(await repo.getChecked(rec, o.key));
    }
    return { proven: true, how: "every object matches its SHA-256" };
  } catch (err) {
    if (signal?.aborted || (err instanceof StrongboxError && err.code === "INTERRUPTED")) throw err;
    if (err instanceof StrongboxError && err.code === "VERIFY")
      return { proven: false, why: `it fails the hash check: ${err.message}` };
    if (denied(err))
      return { proven: false, why: "no passed drill, and the pruner may not read its objects to hash them" };
    return { proven: false, why: `no passed drill, and its objects could not be hashed (${describeError(err)})` };
  }
}

/**
 * proveIntact for a backup and, when the proof is a hash check, every base it names: a differential's
 * own objects are only its layer, and it restores only through an intact base. A passed drill restored
 * through the base, so it proves both.
 */
export async function proveWithBases(
  repo: Repository,
  recOf: (id: string) => CompleteRecord | undefined,
  id: string,
  drillPassed: boolean,
  signal?: AbortSignal,
): Promise<ProofVerdict> {
  const rec = recOf(id);
  if (!rec) return { proven: false, why: "its complete.json could not be read" };
  const own = await proveIntact(repo, rec, drillPassed, signal);
  if (!own.proven || drillPassed) return own;
  const bases = [...new Set(rec.objects.flatMap((o) => (o.base ? [o.base] : [])))];
  for (const baseId of bases) {
    const base = recOf(baseId);
    if (!base) return { proven: false, why: `its base ${baseId} is not in the repository` };
    const v = await proveIntact(repo, base, false, signal);
    if (!v.proven) return { proven: false, why: `its base ${baseId}: ${v.why}` };
  }
  return bases.length ? { proven: true, how: `${own.how}, and so does every object of its base` } : own;
}

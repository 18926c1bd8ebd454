import type { Identity } from "../crypto/age-keys.js";
import type { TrustPolicy } from "../crypto/signing.js";
import { StrongboxError } from "../errors.js";
import type { ClusterManifest, Manifest } from "../repository/manifest.js";
import type { Check } from "../sources/source.js";
import type { Store } from "../stores/store.js";
import { verifyWal } from "../wal/gap.js";
import { parseLsn, segmentName } from "../wal/names.js";

/** PostgreSQL's possible WAL segment sizes (initdb --wal-segsize: 1 MiB to 1 GiB, powers of two). */
const SEGMENT_SIZES = Array.from({ length: 11 }, (_, i) => 2 ** (20 + i));

/**
 * The segment size of the cluster a base backup came from: the one under which its start LSN falls in
 * the start segment the manifest names. Ambiguous or none: the manifest does not hold together.
 */
export function segmentSizeOf(name: string, m: ClusterManifest): number {
  const lsn = parseLsn(m.start_lsn);
  const fits =
    lsn === null ? [] : SEGMENT_SIZES.filter((s) => segmentName(m.timeline, lsn / BigInt(s), s) === m.start_wal);
  if (fits.length !== 1)
    throw new StrongboxError(
      "VERIFY",
      `source ${name}: start WAL segment ${m.start_wal} does not match start LSN ${m.start_lsn} on timeline ${m.timeline} under ${fits.length ? "more than one" : "any"} segment size`,
    );
  return fits[0];
}

/** Where the WAL a base backup needs starts, in verifyWal's terms. */
export function walChainOf(name: string, m: ClusterManifest) {
  return {
    systemId: m.system_identifier,
    start: { timeline: m.timeline, lsn: parseLsn(m.start_lsn)! },
    segmentSize: segmentSizeOf(name, m),
  };
}

/**
 * The WAL part of verifying a cluster backup: every segment from the base's start LSN to the newest
 * archived one is there, on the timelines the history files give, and each decrypts and matches its
 * name, hash and header. A gap or a damaged segment is a VERIFY error naming it: a point-in-time
 * restore from this base could not get past it. With `policy`, only trusted (signed) WAL counts, as
 * for `wal fetch`.
 */
export async function verifyClusterWal(
  store: Store,
  manifest: Manifest,
  identities: Identity[],
  signal?: AbortSignal,
  trust: { policy?: TrustPolicy; warn?: (message: string) => void } = {},
): Promise<Check[]> {
  const checks: Check[] = [];
  for (const [name, m] of Object.entries(manifest.sources)) {
    if (m.type !== "postgres-cluster") continue;
    const report = await verifyWal(store, identities, {
      ...walChainOf(name, m),
      deep: true,
      signal,
      policy: trust.policy,
    });
    if (report.ignored) trust.warn?.(`source ${name}: ${report.ignored}`);
    checks.push({
      name: `${name}: archived WAL from the base backup's start has no gap and every segment reads`,
      ok: true,
      detail: `${report.segments} segments, ${report.first} to ${report.last}, timelines ${report.timelines.join(", ")}${report.ignored ? `; ${report.ignored}` : ""}`,
    });
  }
  return checks;
}

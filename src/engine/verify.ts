import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { trustPolicy } from "../crypto/signing.js";
import type { Logger } from "../log.js";
import type { Repository, TrustOptions } from "../repository/repository.js";
import type { Check } from "../sources/source.js";
import { drainObject, forEachSource } from "./restore.js";
import { verifyClusterWal } from "./verify-wal.js";

/**
 * Checks one backup as restore would read it, writing nothing: trusted (signed, where signing is
 * required), complete.json and manifest read, every object fetched, its size and SHA-256 checked,
 * decrypted and decompressed, and each source's archive checked against its manifest. A damaged
 * or untrusted backup throws a VERIFY error; the checks that ran are returned.
 */
export async function verifyBackup(o: {
  repo: Repository;
  id: string;
  identities: Identity[];
  config: Config;
  log: Logger;
  trust: TrustOptions;
  /** A deadline or SIGTERM: ends the WAL walk (the store's reads end with it when it is abortable). */
  signal?: AbortSignal;
}): Promise<Check[]> {
  const { repo, id, identities } = o;
  // The verdict restore would reach: an untrusted backup is FAILED with its reason (exit 3).
  await repo.checkTrusted(id, o.trust);
  const rec = await repo.readComplete(id);
  const manifest = await repo.readManifest(rec, identities);
  const sources = await forEachSource({
    repo,
    rec,
    manifest,
    identities,
    config: o.config,
    only: [],
    log: o.log,
    label: `verify ${id}`,
    trust: o.trust,
    consume: (source, data) => source.verify(data, manifest.sources[source.name], { log: o.log }),
  });
  const extras = rec.objects.filter((x) => x.part);
  for (const x of extras) await drainObject(repo, rec, x.key, identities);
  // The WAL a recovery from a cluster's base would replay; a failed base is already the verdict.
  const baseOk = sources.every((s) => s.checks.every((c) => c.ok));
  const wal = baseOk
    ? await verifyClusterWal(repo.store, manifest, identities, o.signal, {
        policy: trustPolicy(o.config),
        warn: (m) => o.log.warn(m),
      })
    : [];
  return [
    {
      name: "objects match complete.json (size, SHA-256) and decrypt",
      ok: true,
      detail: `${rec.objects.length} objects`,
    },
    ...sources.flatMap((s) => s.checks),
    ...wal,
  ];
}

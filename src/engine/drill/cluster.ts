import { chmod } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../../config/schema.js";
import type { Identity } from "../../crypto/age-keys.js";
import { trustPolicy } from "../../crypto/signing.js";
import { describeError, StrongboxError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { ClusterManifest } from "../../repository/manifest.js";
import { configEnvNames } from "../../config/load.js";
import { recoveryEnv, withRecoveredServer, type RecoveryPoint } from "../../sources/postgres-cluster/recover-run.js";
import type { Check, RecoveryTarget } from "../../sources/source.js";
import type { Store } from "../../stores/store.js";
import { verifyWal } from "../../wal/gap.js";
import { parseLsn, segmentNumber } from "../../wal/names.js";
import { walChainOf } from "../verify-wal.js";
import { runSqlCheck } from "./checks.js";
import { scratchDir } from "./scratch.js";

/** How long a drill's recovery may run before the drill gives up on it. */
const RECOVERY_TIMEOUT_MS = 6 * 3600_000;

/** What a cluster drill reports beside its checks: where recovery got to, and the real RPO. */
export interface ClusterRecoveryReport {
  /** The recovery target: a time, or "end of archive" (the newest archived WAL). */
  target: string;
  lsn: string | null;
  /** The commit time of the last transaction replayed (UTC). */
  time: string | null;
  state: RecoveryPoint["state"];
  /** The drill's start minus `time`, in seconds: the writes a restore now would lose. */
  rpo_s: number | null;
}

/** A cluster's scratch data directory, reachable by the server's account (the parent is traverse-only). */
export async function clusterScratch(): Promise<{ dir: string }> {
  const scratch = await scratchDir();
  await chmod(scratch.path, 0o711);
  return { dir: join(scratch.path, "data") };
}

/**
 * After a cluster's base was restored into scratch space: the archived WAL from its start has no gap,
 * a throwaway server recovers to the target (default: the end of the archive, which it must reach),
 * and the drill's SQL checks of that source run on it. The server is stopped however this ends.
 */
export async function drillCluster(o: {
  name: string;
  manifest: ClusterManifest;
  store: Store;
  identities: Identity[];
  config: Config;
  recovery: RecoveryTarget;
  scratch: { dir: string };
  started: Date;
  log: Logger;
  signal?: AbortSignal;
}): Promise<{ checks: Check[]; recovery?: ClusterRecoveryReport }> {
  const { name, manifest: m } = o;
  const sqlChecks = (o.config.drill?.checks ?? []).filter((c) => c.source === name);
  const notRun = (why: string) =>
    sqlChecks.map((c) => ({ name: `${name}: ${c.name}`, ok: false, detail: `not run: ${why}` }));
  const chain = walChainOf(name, m);
  let last: string;
  try {
    // Judged as recovery's `wal fetch` will judge it: with signing, only trusted WAL counts.
    const report = await verifyWal(o.store, o.identities, {
      ...chain,
      signal: o.signal,
      policy: trustPolicy(o.config),
    });
    if (report.ignored) o.log.warn(`source ${name}: ${report.ignored}`);
    last = report.last;
  } catch (err) {
    if (!(err instanceof StrongboxError && err.code === "VERIFY")) throw err;
    const check = {
      name: `${name}: archived WAL from the base backup's start has no gap`,
      ok: false,
      detail: err.message,
    };
    return { checks: [check, ...notRun("the WAL archive has a gap")] };
  }
  const hasTarget = o.recovery.time !== undefined;
  const target = hasTarget ? `time ${o.recovery.time}` : `end of archive (${last})`;
  const pgBinDir = o.config.sources.find((s) => s.name === name && s.type === "postgres-cluster") as
    { pg_bin_dir?: string } | undefined;
  try {
    const { point, result } = await withRecoveredServer(
      {
        dataDir: o.scratch.dir,
        major: Number(m.server_version.split(".")[0]),
        pgBinDir: pgBinDir?.pg_bin_dir,
        targetAction: hasTarget ? "pause" : undefined,
        timeoutMs: RECOVERY_TIMEOUT_MS,
        log: o.log,
        signal: o.signal,
        env: recoveryEnv(configEnvNames(o.config, { readerOnly: true })),
      },
      async (server) => {
        const checks: Check[] = [];
        for (const c of sqlChecks) checks.push(await runSqlCheck(server.url(c.database), c));
        return checks;
      },
    );
    const rpo = point.time === null ? null : Math.round((o.started.getTime() - Date.parse(point.time)) / 1000);
    const recovery = { target, lsn: point.lsn, time: point.time, state: point.state, rpo_s: rpo };
    return { checks: [reachedCheck(name, chain.segmentSize, last, hasTarget, recovery), ...result], recovery };
  } catch (err) {
    if (o.signal?.aborted) throw err;
    const check = { name: `${name}: recovers to ${target}`, ok: false, detail: describeError(err) };
    return { checks: [check, ...notRun("recovery failed")] };
  }
}

/**
 * Recovery to the end of the archive must replay into its newest segment: stopping earlier means a
 * segment on the way could not be fetched. A target time is reached when the server paused there.
 */
function reachedCheck(
  name: string,
  segmentSize: number,
  last: string,
  hasTarget: boolean,
  r: ClusterRecoveryReport,
): Check {
  const at = `replayed to LSN ${r.lsn ?? "(none)"}, last transaction ${r.time ?? "(none replayed)"}; RPO ${r.rpo_s ?? "unknown"} s`;
  const check = { name: `${name}: recovers to ${r.target}` };
  if (hasTarget) return { ...check, ok: r.state === "paused", detail: at };
  const lsn = r.lsn === null ? null : parseLsn(r.lsn);
  const reached = lsn !== null && lsn / BigInt(segmentSize) >= segmentNumber(last, segmentSize);
  return {
    ...check,
    ok: reached,
    detail: reached
      ? at
      : `${at}: recovery ended before the newest archived segment ${last} (a segment could not be fetched)`,
  };
}

import type { Config } from "../../config/schema.js";
import type { Identity } from "../../crypto/age-keys.js";
import type { Logger } from "../../log.js";
import { warnSkipped, type Repository, type TrustOptions } from "../../repository/repository.js";
import type { RecoveryTarget } from "../../sources/source.js";
import { runDrill } from "./drill.js";
import type { DrillReport } from "./report.js";

/** What `drill <ref>` found: one report per backup drilled, and the one line its job record and notifications carry. */
export interface DrillOutcome {
  reports: DrillReport[];
  summary: string;
  failed: boolean;
}

/** The one line of a drill's report: all passed, or the checks that failed. */
function reportLine(report: DrillReport): string {
  const failed = report.checks.filter((c) => !c.ok);
  return report.result === "pass"
    ? `drill of backup ${report.backup_id}: all ${report.checks.length} checks passed`
    : `drill of backup ${report.backup_id} FAILED: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
}

/**
 * Drills `ref`. `latest` is the restore point of every configured source: one drill per backup it
 * takes sources from. An interrupted run (its signal aborted) is a failure whatever the checks said:
 * the abort's reason is thrown.
 */
export async function drillRef(o: {
  config: Config;
  repo: Repository;
  identities: Identity[];
  ref: string;
  log: Logger;
  trust: TrustOptions;
  clusterRecovery?: RecoveryTarget;
  signal?: AbortSignal;
}): Promise<DrillOutcome> {
  const { config, repo, ref, log } = o;
  let refs = [ref];
  if (ref === "latest" && config.sources.length) {
    const point = await repo.restorePoint(
      config.sources.map((s) => s.name),
      undefined,
      o.trust,
    );
    warnSkipped((m) => log.warn(m), point.skipped);
    refs = [...new Set(point.picks.map((p) => p.backup.id))];
    if (refs.length > 1)
      log.info(`drilling the restore point: ${point.picks.map((p) => `${p.source} from ${p.backup.id}`).join(", ")}`);
  }
  const reports: DrillReport[] = [];
  for (const r of refs) {
    reports.push(await runDrill({ ...o, ref: r, partOfPoint: ref === "latest" }));
    if (o.signal?.aborted) throw o.signal.reason; // interrupted: a failure, audited and sent to /fail
  }
  const failed = reports.some((r) => r.result !== "pass");
  const summary = (failed ? reports.filter((r) => r.result !== "pass") : reports).map(reportLine).join("; ");
  return { reports, summary, failed };
}

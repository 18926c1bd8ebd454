import { formatReport, type DrillReport } from "../engine/drill/report.js";
import { runDrill } from "../engine/drill/drill.js";
import { runPendingCleanups } from "../engine/drill/scratch.js";
import { InterruptedError, StrongboxError } from "../errors.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { exitCodeOf, onStopSignals } from "./interrupt.js";
import { hardExit } from "../hard-exit.js";
import { failUnfinishedJobs, runJob } from "./job.js";
import { withRepositoryLock } from "./repository-lock.js";
import { repositoryOptions } from "../repository/options.js";
import { recoveryTarget } from "./cluster-restore.js";

/** Time an interrupted drill gets to unwind by itself before cleanup, audit and /fail are forced. */
const UNWIND_MS = 20_000;

/**
 * On SIGINT/SIGTERM: stop child processes and abort the drill, which then fails, drops its scratch
 * database, removes its scratch dir, writes its audit line and sends /fail; exit 130/143.
 * If it does not unwind in time, the same is done here before exiting. A later second signal exits at once.
 */
function interruptOnSignal(ctx: CommandContext, ac: AbortController): () => void {
  let timer: NodeJS.Timeout | undefined;
  const signals = onStopSignals(
    (sig) => {
      ctx.log.warn(`${sig} received: stopping the drill and cleaning up its scratch space`);
      killRunningChildren();
      ac.abort(new InterruptedError(sig, `drill interrupted by ${sig}`));
      timer = setTimeout(() => {
        ctx.log.error(`the drill did not stop within ${UNWIND_MS / 1000} s: cleaning up and exiting`);
        void runPendingCleanups()
          .then(() => failUnfinishedJobs(`drill interrupted by ${sig}`))
          .finally(() =>
            hardExit(
              exitCodeOf(sig),
              `drill interrupted by ${sig}: still running ${UNWIND_MS / 1000} s later, exited at once`,
            ),
          );
      }, UNWIND_MS);
    },
    (sig) => {
      ctx.log.error(`${sig} received again: exiting at once`);
      void failUnfinishedJobs(`drill interrupted by ${sig}`, 3000).finally(() =>
        hardExit(exitCodeOf(sig), `drill interrupted by ${sig} twice: exited at once`),
      );
    },
  );
  return () => {
    clearTimeout(timer);
    signals.release();
  };
}

export async function drillCommand(
  ctx: CommandContext,
  ref = "latest",
  o: { job?: string; daemon?: boolean; signal?: AbortSignal; allowUnsigned?: boolean; targetTime?: string } = {},
): Promise<DrillReport> {
  checkBackupRef(ref, ["random"]);
  // A cluster recovers to the target time, held there (pause), or to the end of the archive.
  const clusterRecovery = recoveryTarget(
    { targetTime: o.targetTime, targetAction: o.targetTime === undefined ? undefined : "pause" },
    ctx.configFile,
  );
  const config = ctx.config();
  const identities = await ctx.identities();
  const ac = new AbortController();
  const signal = o.signal ?? ac.signal;
  const repo = new Repository(abortableStore(await openStore(config, "reader"), signal), repositoryOptions(config));
  const release = o.daemon ? () => {} : interruptOnSignal(ctx, ac);
  try {
    const result = await withRepositoryLock(
      ctx,
      "drill",
      () =>
        runJob(
          ctx,
          "drill",
          o.job ?? "drill",
          async () => {
            const trust = { allowUntrusted: o.allowUnsigned, warn: (m: string) => ctx.log.warn(m) };
            // `latest` is the restore point of every configured source: one drill per backup it takes sources from.
            let refs = [ref];
            if (ref === "latest" && config.sources.length) {
              const point = await repo.restorePoint(
                config.sources.map((s) => s.name),
                undefined,
                trust,
              );
              for (const s of point.skipped) ctx.log.warn(`skipped backup ${s.id}: ${s.reason}`);
              refs = [...new Set(point.picks.map((p) => p.backup.id))];
              if (refs.length > 1)
                ctx.log.info(
                  `drilling the restore point: ${point.picks.map((p) => `${p.source} from ${p.backup.id}`).join(", ")}`,
                );
            }
            const reports: DrillReport[] = [];
            for (const r of refs) {
              reports.push(
                await runDrill({
                  config,
                  repo,
                  identities,
                  ref: r,
                  log: ctx.log,
                  trust,
                  partOfPoint: ref === "latest",
                  clusterRecovery,
                  signal,
                }),
              );
              if (signal.aborted) throw signal.reason; // interrupted: a failure, audited and sent to /fail, whatever the checks said
            }
            const line = (report: DrillReport) => {
              const failed = report.checks.filter((c) => !c.ok);
              return report.result === "pass"
                ? `drill of backup ${report.backup_id}: all ${report.checks.length} checks passed`
                : `drill of backup ${report.backup_id} FAILED: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
            };
            const failed = reports.some((r) => r.result !== "pass");
            const summary = (failed ? reports.filter((r) => r.result !== "pass") : reports).map(line).join("; ");
            return {
              backup_id: reports.length === 1 ? reports[0].backup_id : undefined,
              summary,
              report: reports.length === 1 ? reports[0] : reports,
              failed,
            };
          },
          { signal },
        ),
      signal,
    );
    const reports = (Array.isArray(result.report) ? result.report : [result.report]) as DrillReport[];
    const tty = Boolean((ctx.stdout as NodeJS.WriteStream).isTTY);
    // --json: one report object for one backup (as before); an array when the restore point spans several.
    ctx.print(reports.length === 1 ? reports[0] : reports, () => reports.map((r) => formatReport(r, tty)).join("\n"));
    if (result.failed) throw new StrongboxError("VERIFY", result.summary);
    return reports.find((r) => r.result !== "pass") ?? reports[0];
  } catch (err) {
    if (signal.aborted && signal.reason instanceof InterruptedError && err !== signal.reason) {
      throw new InterruptedError(
        signal.reason.signal,
        `${signal.reason.message}: stopped cleanly, scratch space removed`,
      );
    }
    throw err;
  } finally {
    release();
  }
}

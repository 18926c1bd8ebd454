import { drillRef } from "../engine/drill/point.js";
import { formatReport, type DrillReport } from "../engine/drill/report.js";
import { runPendingCleanups } from "../engine/drill/scratch.js";
import { StrongboxError } from "../errors.js";
import { repositoryOptions } from "../repository/options.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import { recoveryTarget } from "./cluster-restore.js";
import type { CommandContext } from "./context.js";
import { runCommand, type CommandRun } from "./lifecycle.js";

/**
 * From the CLI, SIGINT/SIGTERM stops child processes and aborts the drill, which then fails, drops its
 * scratch database, removes its scratch dir, writes its audit line and sends /fail; exit 130/143. If it
 * does not unwind within 20 s, its scratch space is removed and the job recorded before the exit.
 */
const interrupt = {
  what: "drill",
  stopping: "stopping the drill and cleaning up its scratch space",
  unwindMs: 20_000,
  cleanup: runPendingCleanups,
};

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
  const store = await openStore(config, "reader");
  const trust = { allowUntrusted: o.allowUnsigned, warn: (m: string) => ctx.log.warn(m) };
  const run: CommandRun = { command: "drill", job: o.job, signal: o.signal, interrupt: !o.daemon && interrupt };
  let reports: DrillReport[] = [];
  const result = await runCommand(ctx, run, async (signal) => {
    const repo = new Repository(abortableStore(store, signal), repositoryOptions(config)); // a signal ends even a stalled read
    const outcome = await drillRef({ config, repo, identities, ref, log: ctx.log, trust, clusterRecovery, signal });
    reports = outcome.reports;
    const one = reports.length === 1 ? reports[0] : undefined;
    return { backup_id: one?.backup_id, summary: outcome.summary, report: one ?? reports, failed: outcome.failed };
  });
  const tty = Boolean((ctx.stdout as NodeJS.WriteStream).isTTY);
  // --json: one report object for one backup (as before); an array when the restore point spans several.
  ctx.print(reports.length === 1 ? reports[0] : reports, () => reports.map((r) => formatReport(r, tty)).join("\n"));
  if (result.failed) throw new StrongboxError("VERIFY", result.summary);
  return reports.find((r) => r.result !== "pass") ?? reports[0];
}

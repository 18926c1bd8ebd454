import { formatReport, type DrillReport } from "../drill/report.js";
import { runDrill } from "../drill/drill.js";
import { runPendingCleanups } from "../drill/scratch.js";
import { StrongboxError } from "../errors.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { runJob } from "./job.js";
import { withRepositoryLock } from "./repository-lock.js";

/** On SIGINT/SIGTERM: stop child processes, drop the scratch database, remove the scratch dir, exit 1. */
function cleanupOnSignal(ctx: CommandContext): () => void {
  const handler = (sig: NodeJS.Signals) => {
    ctx.log.warn(`${sig} received: cleaning up the drill's scratch space`);
    killRunningChildren();
    const timer = setTimeout(() => process.exit(1), 30_000);
    void runPendingCleanups().finally(() => {
      clearTimeout(timer);
      process.exit(1);
    });
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

export async function drillCommand(ctx: CommandContext, ref = "latest", o: { job?: string; daemon?: boolean } = {}): Promise<DrillReport> {
  checkBackupRef(ref, ["random"]);
  const config = ctx.config();
  const identities = ctx.identities();
  const repo = new Repository(openStore(config, "reader"));
  const release = o.daemon ? () => {} : cleanupOnSignal(ctx);
  try {
    const result = await withRepositoryLock(ctx, "drill", () => runJob(ctx, "drill", o.job ?? "drill", async () => {
      const report = await runDrill({ config, repo, identities, ref, log: ctx.log });
      const failed = report.checks.filter((c) => !c.ok);
      const summary =
        report.result === "pass"
          ? `drill of backup ${report.backup_id}: all ${report.checks.length} checks passed`
          : `drill of backup ${report.backup_id} FAILED: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
      return { backup_id: report.backup_id, summary, report, failed: report.result !== "pass" };
    }));
    const report = result.report as Parameters<typeof formatReport>[0];
    ctx.print(report, () => formatReport(report, Boolean((ctx.stdout as NodeJS.WriteStream).isTTY)));
    if (result.failed) throw new StrongboxError("VERIFY", result.summary);
    return report;
  } finally {
    release();
  }
}

import { runBackup, type BackupResult } from "../pipeline/run-backup.js";
import { formatBytes } from "../progress.js";
import { selectSources } from "../sources/open-source.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { withInterrupt } from "./interrupt.js";
import { runJob } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { withRepositoryLock } from "./repository-lock.js";

export async function backupNowCommand(ctx: CommandContext, o: { source: string[]; job?: string; signal?: AbortSignal }): Promise<BackupResult> {
  const config = ctx.config();
  const sources = selectSources(config, o.source);
  const store = openStore(config, "writer");
  let result!: BackupResult;
  // The signal handler is installed before the lock is taken, so no signal can leave the lock behind.
  const go = (signal: AbortSignal) =>
    withRepositoryLock(ctx, "backup", () =>
      runJob(ctx, "backup", o.job ?? "backup", async () => {
        await sweepLeftovers(ctx, store);
        result = await runBackup({ config, sources, store, log: ctx.log, signal });
        const warn = result.warnings.length ? ` with ${result.warnings.length} warning(s)` : "";
        return { backup_id: result.id, summary: `backup ${result.id} complete${warn}: ${result.sources.map((s) => `${s.name} ${formatBytes(s.stored_bytes)}`).join(", ")} in ${result.duration_s} s` };
      }),
    );
  await (o.signal ? go(o.signal) : withInterrupt(ctx.log, go));
  ctx.print(result, () => {
    const lines = [result.id];
    if (!ctx.options.quiet) {
      for (const s of result.sources) lines.push(`  ${s.name.padEnd(16)} ${formatBytes(s.source_bytes).padStart(9)} → ${formatBytes(s.stored_bytes).padStart(9)}  ${s.mb_per_s} MB/s`);
      if (result.warnings.length) lines.push(`  ${result.warnings.length} warning(s): ${result.warnings.slice(0, 5).join("; ")}`);
    }
    return lines.join("\n");
  });
  return result;
}

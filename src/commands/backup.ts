import { runBackup, type BackupResult } from "../pipeline/run-backup.js";
import { formatBytes } from "../progress.js";
import { selectSources } from "../sources/open-source.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { withInterrupt } from "./interrupt.js";
import { runJob } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { withRepositoryLock } from "./repository-lock.js";

export async function backupNowCommand(ctx: CommandContext, o: { source: string[]; full?: boolean; job?: string; signal?: AbortSignal }): Promise<BackupResult> {
  const config = ctx.config();
  const sources = selectSources(config, o.source);
  const store = await openStore(config, "writer");
  let result!: BackupResult;
  // The signal handler is installed before the lock is taken, so no signal can leave the lock behind.
  const go = (signal: AbortSignal) =>
    withRepositoryLock(ctx, "backup", () =>
      runJob(ctx, "backup", o.job ?? "backup", async () => {
        await sweepLeftovers(ctx, store);
        result = await runBackup({ config, sources, store, log: ctx.log, signal, full: o.full });
        const warn = result.warnings.length ? ` with ${result.warnings.length} warning(s)` : "";
        const kinds = result.sources.map((s) => `${s.name} ${formatBytes(s.stored_bytes)}${s.kind === "diff" ? ` (diff of ${s.base}, ${s.files_changed} files changed)` : ""}`);
        // The webhook's report says which kind each source's backup was.
        const report = {
          kind: result.sources.some((s) => s.kind === "diff") ? "diff" : "full",
          stored_bytes: result.stored_bytes,
          sources: result.sources.map((s) => ({ name: s.name, kind: s.kind, ...(s.base ? { base: s.base } : {}), files_changed: s.files_changed, stored_bytes: s.stored_bytes })),
        };
        return { backup_id: result.id, summary: `backup ${result.id} complete${warn}: ${kinds.join(", ")} in ${result.duration_s} s`, report };
      }),
    );
  await (o.signal ? go(o.signal) : withInterrupt(ctx.log, go));
  ctx.print(result, () => {
    const lines = [result.id];
    if (!ctx.options.quiet) {
      for (const s of result.sources) {
        const kind = s.kind === "diff" ? `  diff (base ${s.base}, ${s.files_changed} files changed)` : "";
        lines.push(`  ${s.name.padEnd(16)} ${formatBytes(s.source_bytes).padStart(9)} → ${formatBytes(s.stored_bytes).padStart(9)}  ${s.mb_per_s} MB/s${kind}`);
      }
      if (result.warnings.length) lines.push(`  ${result.warnings.length} warning(s): ${result.warnings.slice(0, 5).join("; ")}`);
    }
    return lines.join("\n");
  });
  return result;
}

import { requireResolved } from "../config/deferred.js";
import { EXIT, StrongboxError } from "../errors.js";
import { runBackup, type BackupResult } from "../engine/backup.js";
import { formatBytes } from "../progress.js";
import { selectSources } from "../sources/open-source.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import type { JobResult } from "./job.js";
import { sweepLeftovers } from "./leftovers.js";
import { runCommand } from "./lifecycle.js";

/**
 * A backup that was committed, but not whole: a source failed (exit 1) or left unreadable paths
 * out (on_unreadable: partial, exit 4). Its result was printed already (--json: the one document,
 * with `exit_code` and `error`, to which the CLI adds `ok` and `error_code`); `result` is what was committed.
 */
export class BackupOutcomeError extends StrongboxError {
  constructor(
    code: "SOURCE" | "PARTIAL",
    message: string,
    readonly result: BackupResult,
  ) {
    super(code, message);
  }
}

/** What a committed backup left out, in one line (undefined: nothing), and the error code it carries. */
export function backupShortfall(r: BackupResult): { code: "SOURCE" | "PARTIAL"; message: string } | undefined {
  const failed = r.failed.map((f) => `${f.name} (${f.error})`);
  const partial = r.sources
    .filter((s) => r.partial.includes(s.name))
    .map(
      (s) =>
        `${s.name}: ${s.unreadable} unreadable path(s) left out (${(s.skipped ?? []).slice(0, 5).join(", ")}${s.unreadable! > Math.min(5, s.skipped?.length ?? 0) ? ", …" : ""})`,
    );
  const parts = [
    ...(failed.length ? [`committed without the failed source(s) ${failed.join("; ")}`] : []),
    ...(partial.length ? [`partial: ${partial.join("; ")}`] : []),
  ];
  if (!parts.length) return undefined;
  return { code: failed.length ? "SOURCE" : "PARTIAL", message: `backup ${r.id} ${parts.join("; ")}` };
}

/** A committed backup as a job's outcome: its summary, and the report the webhook gets (which kind each source's backup was). */
function backupJobResult(result: BackupResult): JobResult {
  const warn = result.warnings.length ? ` with ${result.warnings.length} warning(s)` : "";
  const kinds = result.sources.map(
    (s) =>
      `${s.name} ${formatBytes(s.stored_bytes)}${s.kind === "diff" ? ` (diff of ${s.base}, ${s.files_changed} files changed)` : ""}`,
  );
  const report = {
    kind: result.sources.some((s) => s.kind === "diff") ? "diff" : "full",
    stored_bytes: result.stored_bytes,
    sources: result.sources.map((s) => ({
      name: s.name,
      kind: s.kind,
      ...(s.base ? { base: s.base } : {}),
      files_changed: s.files_changed,
      stored_bytes: s.stored_bytes,
      ...(s.unreadable ? { unreadable: s.unreadable, skipped: s.skipped } : {}),
      ...(s.changed ? { changed: s.changed } : {}),
    })),
    partial_sources: result.partial,
    failed_sources: result.failed,
  };
  // Committed but not whole: the failure channel (healthchecks /fail, webhook "failure"), and the summary says what is missing.
  const short = backupShortfall(result);
  if (short)
    return {
      backup_id: result.id,
      summary: `${short.message}; stored: ${kinds.join(", ")} in ${result.duration_s} s`,
      report,
      failed: true,
    };
  return {
    backup_id: result.id,
    summary: `backup ${result.id} complete${warn}: ${kinds.join(", ")} in ${result.duration_s} s`,
    report,
  };
}

export async function backupNowCommand(
  ctx: CommandContext,
  o: { source: string[]; full?: boolean; job?: string; signal?: AbortSignal },
): Promise<BackupResult> {
  const config = ctx.config();
  const sources = selectSources(config, o.source);
  requireResolved(
    config,
    sources.map((s) => ["sources", config.sources.indexOf(s)]),
  );
  const store = await openStore(config, "writer");
  let result!: BackupResult;
  await runCommand(ctx, { command: "backup", job: o.job, signal: o.signal, interrupt: true }, async (signal) => {
    await sweepLeftovers(ctx, store);
    result = await runBackup({ config, sources, store, log: ctx.log, signal, full: o.full });
    return backupJobResult(result);
  });
  const short = backupShortfall(result);
  const exitCode = short ? (short.code === "PARTIAL" ? EXIT.PARTIAL : EXIT.FAILED) : EXIT.OK;
  ctx.print({ ...result, exit_code: exitCode, ...(short ? { error: short.message } : {}) }, () => {
    const lines = [result.id];
    if (!ctx.options.quiet) {
      for (const s of result.sources) {
        const kind = s.kind === "diff" ? `  diff (base ${s.base}, ${s.files_changed} files changed)` : "";
        lines.push(
          `  ${s.name.padEnd(16)} ${formatBytes(s.source_bytes).padStart(9)} → ${formatBytes(s.stored_bytes).padStart(9)}  ${s.mb_per_s} MB/s${kind}`,
        );
      }
      for (const f of result.failed) lines.push(`  ${f.name.padEnd(16)} FAILED, not in this backup: ${f.error}`);
      for (const s of result.sources.filter((x) => result.partial.includes(x.name))) {
        lines.push(
          `  ${s.name.padEnd(16)} PARTIAL: ${s.unreadable} unreadable path(s) left out: ${(s.skipped ?? []).slice(0, 5).join(", ")}${s.unreadable! > Math.min(5, s.skipped?.length ?? 0) ? ", …" : ""}`,
        );
      }
      if (result.warnings.length)
        lines.push(`  ${result.warnings.length} warning(s): ${result.warnings.slice(0, 5).join("; ")}`);
    }
    return lines.join("\n");
  });
  if (short) throw new BackupOutcomeError(short.code, short.message, result);
  return result;
}

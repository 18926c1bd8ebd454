import type { Check } from "../../sources/source.js";
import type { ClusterRecoveryReport } from "./cluster.js";

export interface DrillReport {
  format: "strongbox/1 drill";
  drill_id: string;
  backup_id: string;
  /** Differential sources (docs/format.md, "Differential backups"): the base full each was restored from, by source. */
  bases?: Record<string, string>;
  /** The backup is partial (complete.json `partial`): these sources left unreadable paths out, so the drill proves only what was read. */
  partial?: string[];
  result: "pass" | "fail";
  started_at: string;
  finished_at: string;
  host: string;
  tool_version: string;
  checks: Check[];
  /** postgres-cluster sources, by name: the recovery point the throwaway server reached and the real RPO. */
  recovery?: Record<string, ClusterRecoveryReport>;
  durations_s: Record<string, number>;
  stored_bytes: number;
  restore_mb_per_s: number;
  restore_bytes_per_s: number;
}

/** The readable summary: one line per check, PASS/FAIL coloured on a terminal. */
export function formatReport(r: DrillReport, color: boolean): string {
  const paint = (ok: boolean, s: string) => (color ? `\x1b[${ok ? 32 : 31}m${s}\x1b[0m` : s);
  const width = Math.max(...r.checks.map((c) => c.name.length), 10);
  const lines = [
    `drill ${r.drill_id} of backup ${r.backup_id}${r.bases && Object.keys(r.bases).length ? ` (differential of base ${[...new Set(Object.values(r.bases))].join(", ")})` : ""}${r.partial?.length ? ` (PARTIAL backup: ${r.partial.join(", ")} left out unreadable paths)` : ""}: ${paint(r.result === "pass", r.result.toUpperCase())}`,
    ...r.checks.map((c) => `  ${paint(c.ok, c.ok ? "PASS" : "FAIL")}  ${c.name.padEnd(width)}  ${c.detail ?? ""}`),
    ...Object.entries(r.recovery ?? {}).map(
      ([name, x]) =>
        `  ${name}: recovered to ${x.time ?? "(no transaction replayed)"} (LSN ${x.lsn ?? "none"}, target ${x.target}); RPO ${x.rpo_s === null ? "unknown" : `${x.rpo_s} s`}`,
    ),
    `  restored ${(r.stored_bytes / 1e6).toFixed(1)} MB at ${r.restore_mb_per_s} MB/s; total ${r.durations_s.total} s`,
  ];
  return lines.join("\n");
}

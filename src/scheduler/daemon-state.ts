import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { describeError } from "../errors.js";
import type { DaemonMetrics } from "./health.js";
import { HISTORY_CAP, type RunRecord } from "./run-record.js";

/**
 * The daemon's last results, kept in state_dir so that /metrics, /healthz and the status page survive a
 * restart: a restarted daemon still knows when each source was last backed up and whether the drill passed.
 */
const MAX_BYTES = 4 << 20;
const ms = z.number().finite().nonnegative();
const name = z.string().max(512);
const check = z.object({ name, ok: z.boolean(), detail: z.string().max(4096).optional() });
const run = z.object({
  job: name,
  command: name,
  started: ms,
  duration_s: ms,
  status: z.enum(["success", "failure"]),
  failure: z.string().max(4096).optional(),
  backup: z
    .object({
      id: name,
      stored_bytes: ms,
      partial: z.array(name).max(1000),
      failed: z.array(name).max(1000),
      sources: z.array(z.object({ name, kind: z.enum(["full", "diff"]), stored_bytes: ms })).max(1000),
    })
    .optional(),
  drill: z
    .object({ id: name, backup_id: name, result: z.enum(["pass", "fail"]), checks: z.array(check).max(1000) })
    .optional(),
});
const jobStats = z.object({
  lastStart: ms.optional(),
  lastSuccess: ms.optional(),
  lastDuration: ms.optional(),
  lastStatus: z.enum(["success", "failure"]).optional(),
  deadlineHit: z.boolean().optional(),
  lastFailure: z.string().max(4096).optional(),
});
const sourceState = z.object({
  kind: z.enum(["full", "diff"]),
  filesChanged: ms.optional(),
  storedBytes: ms,
  unreadable: ms.optional(),
  changed: ms.optional(),
});
const stateSchema = z.object({
  format: z.literal("strongbox/1 daemon-state"),
  jobs: z.record(name, jobStats),
  lastBackupBytes: ms.optional(),
  lastBackupFinished: ms.optional(),
  lastBackupPartial: z.boolean().optional(),
  lastBackupSources: z.record(name, sourceState),
  sourceFailed: z.record(name, z.boolean()),
  sourceBackupAt: z.record(name, ms),
  lastDrillPassed: z.boolean().optional(),
  lastDrillAt: ms.optional(),
  lastDrillPassedAt: ms.optional(),
  untrustedBackups: ms.optional(),
  history: z.array(run).max(HISTORY_CAP),
});
type State = z.infer<typeof stateSchema>;

/** The file of one repository (named by its identity, as the differential state is) under state_dir. */
export function daemonStateFile(stateDir: string, repository: string): string {
  return join(stateDir, "daemon", `${createHash("sha256").update(repository).digest("hex").slice(0, 16)}.json`);
}

export function snapshot(m: DaemonMetrics): State {
  return {
    format: "strongbox/1 daemon-state",
    jobs: Object.fromEntries(
      [...m.jobs].map(([n, s]) => [
        n,
        {
          lastStart: s.lastStart,
          lastSuccess: s.lastSuccess,
          lastDuration: s.lastDuration,
          lastStatus: s.lastStatus,
          deadlineHit: s.deadlineHit,
          lastFailure: s.lastFailure,
        },
      ]),
    ),
    lastBackupBytes: m.lastBackupBytes,
    lastBackupFinished: m.lastBackupFinished,
    lastBackupPartial: m.lastBackupPartial,
    lastBackupSources: Object.fromEntries(m.lastBackupSources),
    sourceFailed: Object.fromEntries(m.sourceFailed),
    sourceBackupAt: Object.fromEntries(m.sourceBackupAt),
    lastDrillPassed: m.lastDrillPassed,
    lastDrillAt: m.lastDrillAt,
    lastDrillPassedAt: m.lastDrillPassedAt,
    untrustedBackups: m.untrustedBackups,
    history: m.history,
  };
}

/** Writes the snapshot atomically (a new file renamed over the old); a failure is returned, never thrown. */
export function saveDaemonState(file: string, m: DaemonMetrics): string | undefined {
  try {
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(snapshot(m)), { mode: 0o600 });
    renameSync(tmp, file);
    return undefined;
  } catch (err) {
    return `cannot save the daemon's results to ${file}: ${describeError(err)}`;
  }
}

/**
 * Restores what a previous daemon saved. No file: nothing to restore. A file that is too large, not JSON,
 * or not this shape is reported (and ignored): the daemon starts afresh rather than trust it.
 */
export function loadDaemonState(file: string, m: DaemonMetrics): { restored: boolean; problem?: string } {
  let text: string;
  try {
    if (statSync(file).size > MAX_BYTES) return { restored: false, problem: `${file}: larger than ${MAX_BYTES} bytes` };
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { restored: false };
    return { restored: false, problem: `${file}: ${describeError(err)}` };
  }
  let parsed: ReturnType<typeof stateSchema.safeParse>;
  try {
    parsed = stateSchema.safeParse(JSON.parse(text));
  } catch {
    return { restored: false, problem: `${file}: not JSON` };
  }
  if (!parsed.success)
    return { restored: false, problem: `${file}: not a daemon state (${parsed.error.issues[0]?.path.join(".")})` };
  apply(parsed.data, m);
  return { restored: true };
}

function apply(s: State, m: DaemonMetrics): void {
  for (const [n, j] of Object.entries(s.jobs)) Object.assign(m.job(n), j);
  m.lastBackupBytes = s.lastBackupBytes;
  m.lastBackupFinished = s.lastBackupFinished;
  m.lastBackupPartial = s.lastBackupPartial;
  for (const [n, v] of Object.entries(s.lastBackupSources)) m.lastBackupSources.set(n, v);
  for (const [n, v] of Object.entries(s.sourceFailed)) m.sourceFailed.set(n, v);
  for (const [n, v] of Object.entries(s.sourceBackupAt)) m.sourceBackupAt.set(n, v);
  m.lastDrillPassed = s.lastDrillPassed;
  m.lastDrillAt = s.lastDrillAt;
  m.lastDrillPassedAt = s.lastDrillPassedAt;
  m.untrustedBackups = s.untrustedBackups;
  m.history.push(...(s.history as RunRecord[]));
}

import type { Server } from "node:http";
import { formatDuration } from "../config/duration.js";
import { http } from "../net/builtins.js";
import type { LastPushed } from "../wal/last-pushed.js";

export interface JobStats {
  lastStart?: number;
  lastSuccess?: number;
  lastDuration?: number;
  lastStatus?: "success" | "failure";
  nextRun?: number | null;
  /** The last run was aborted at its deadline (cleared by the next success). */
  deadlineHit?: boolean;
  /** Why the last run failed, as its failure notification said it (failureReason); cleared by the next success. */
  lastFailure?: string;
}

/** What /healthz needs to know about a job to judge it. */
export interface WatchedJob {
  name: string;
  command: string;
  deadlineMs: number;
  jitterMs: number;
  /** The first scheduled run after `t`. */
  nextAfter(t: number): number | null;
}

const secs = formatDuration;

/** What the daemon knows, for /healthz and Prometheus /metrics: the numbers people alert on. */
export class DaemonMetrics {
  readonly jobs = new Map<string, JobStats>();
  lastBackupBytes?: number;
  lastBackupFinished?: number;
  /** Per source of the last successful backup: full or differential, files read and stored, bytes stored. */
  lastBackupSources = new Map<
    string,
    { kind: "full" | "diff"; filesChanged?: number; storedBytes: number; unreadable?: number; changed?: number }
  >();
  /** Per source: whether its last backup run failed (the source was left out of the backup), or stored it. */
  sourceFailed = new Map<string, boolean>();
  /** Whether the last committed backup was partial (a source left unreadable paths out). */
  lastBackupPartial?: boolean;
  lastDrillPassed?: boolean;
  /** Backups with a valid complete.json that the last prune did not count (time or signature): flagged, kept. */
  untrustedBackups?: number;
  /** postgres-cluster sources: the newest WAL file `wal push` archived per cluster, and the lag allowed (wal.max_lag). */
  wal?: { maxLagMs: number; newest: LastPushed[] };
  /** Called before each /healthz and /metrics answer (re-reads the WAL records). */
  refresh?: () => Promise<void>;
  running?: string;
  runningSince?: number;
  watched: WatchedJob[] = [];
  readonly startedAt = Date.now();
  /** Each watched job's due run after its base (last success or start): computed once per base, not per request. */
  private readonly due = new WeakMap<WatchedJob, { base: number; at: number | null }>();

  private dueAfter(w: WatchedJob, base: number): number | null {
    let d = this.due.get(w);
    if (d?.base !== base) this.due.set(w, (d = { base, at: w.nextAfter(base) }));
    return d.at;
  }

  /**
   * Unhealthy when a job runs past its deadline, when a job's last run was aborted at its deadline,
   * or when a backup job is overdue: the first run scheduled after its last success (or after the
   * daemon started) has not succeeded within its jitter and deadline.
   */
  health(now = Date.now()): { ok: boolean; reasons: string[] } {
    const reasons: string[] = [];
    for (const w of this.watched) {
      const s = this.jobs.get(w.name) ?? {};
      if (this.running === w.name && this.runningSince !== undefined && now - this.runningSince > w.deadlineMs) {
        reasons.push(
          `job ${w.name} has been running for ${secs(now - this.runningSince)}, past its deadline of ${secs(w.deadlineMs)}`,
        );
      }
      if (s.deadlineHit)
        reasons.push(
          s.lastFailure ?? `job ${w.name}: its last run was aborted at its deadline of ${secs(w.deadlineMs)}`,
        );
      // A backup that is running within its deadline is not overdue yet: if it runs past its
      // deadline, the line above says so.
      const runningInTime =
        this.running === w.name && this.runningSince !== undefined && now - this.runningSince <= w.deadlineMs;
      if (w.command === "backup" && !runningInTime) {
        const base = s.lastSuccess ?? this.startedAt;
        const due = this.dueAfter(w, base);
        if (due !== null && now > due + w.jitterMs + w.deadlineMs) {
          reasons.push(
            `backup job ${w.name} is overdue: no successful run since ${new Date(base).toISOString()}${s.lastSuccess ? "" : " (daemon start)"}; a run was due at ${new Date(due).toISOString()}`,
          );
        }
      }
    }
    reasons.push(...this.walReasons(now));
    return { ok: reasons.length === 0, reasons };
  }

  /** The archive lags when its newest WAL file is older than wal.max_lag (or none came since the daemon started). */
  private walReasons(now: number): string[] {
    if (!this.wal) return [];
    const { maxLagMs, newest } = this.wal;
    if (newest.length === 0)
      return now - this.startedAt > maxLagMs
        ? [`no WAL file archived by wal push on this host (wal.max_lag ${secs(maxLagMs)})`]
        : [];
    return newest
      .filter((w) => now - w.at > maxLagMs)
      .map(
        (w) =>
          `WAL archiving of cluster ${w.systemId} lags: the newest archived file ${w.name} is ${secs(now - w.at)} old, more than wal.max_lag ${secs(maxLagMs)}`,
      );
  }

  /** A committed backup (whole, partial, or without a failed source): what /metrics says of its sources. */
  recordBackup(r: {
    stored_bytes: number;
    finished_at: string;
    sources: {
      name: string;
      kind: "full" | "diff";
      files_changed?: number;
      stored_bytes: number;
      unreadable?: number;
      changed?: number;
    }[];
    partial: string[];
    failed: { name: string }[];
  }): void {
    this.lastBackupBytes = r.stored_bytes;
    this.lastBackupFinished = Date.parse(r.finished_at);
    this.lastBackupPartial = r.partial.length > 0;
    for (const s of r.sources) {
      this.lastBackupSources.set(s.name, {
        kind: s.kind,
        filesChanged: s.files_changed,
        storedBytes: s.stored_bytes,
        unreadable: s.unreadable,
        changed: s.changed,
      });
      this.sourceFailed.set(s.name, false);
    }
    for (const f of r.failed) this.sourceFailed.set(f.name, true);
  }

  job(name: string): JobStats {
    if (!this.jobs.has(name)) this.jobs.set(name, {});
    return this.jobs.get(name)!;
  }

  prometheus(now = Date.now()): string {
    const lines: string[] = [];
    const metric = (name: string, help: string, type: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    const per = (f: (s: JobStats) => number | undefined) =>
      [...this.jobs].filter(([, s]) => f(s) !== undefined).map(([n, s]) => [`{job="${n}"}`, f(s)!] as [string, number]);
    metric(
      "strongbox_job_last_success_timestamp_seconds",
      "Unix time of the job's last success",
      "gauge",
      per((s) => (s.lastSuccess ? s.lastSuccess / 1000 : undefined)),
    );
    metric(
      "strongbox_job_last_duration_seconds",
      "Duration of the job's last run",
      "gauge",
      per((s) => s.lastDuration),
    );
    metric(
      "strongbox_job_last_run_success",
      "1 if the job's last run succeeded, 0 if it failed",
      "gauge",
      per((s) => (s.lastStatus ? (s.lastStatus === "success" ? 1 : 0) : undefined)),
    );
    metric(
      "strongbox_job_next_run_timestamp_seconds",
      "Unix time of the job's next scheduled run",
      "gauge",
      per((s) => (s.nextRun ? s.nextRun / 1000 : undefined)),
    );
    if (this.lastBackupBytes !== undefined)
      metric("strongbox_backup_stored_bytes", "Bytes stored by the last successful backup", "gauge", [
        ["", this.lastBackupBytes],
      ]);
    const sources = [...this.lastBackupSources];
    const label = (name: string, extra = "") => `{source="${name.replace(/["\\\n]/g, "_")}"${extra}}`;
    if (sources.length) {
      metric(
        "strongbox_backup_kind",
        "1 for the kind (full or diff) of the source's last backup, 0 for the other",
        "gauge",
        sources.flatMap(([n, s]) =>
          (["full", "diff"] as const).map((k) => [label(n, `,kind="${k}"`), s.kind === k ? 1 : 0] as [string, number]),
        ),
      );
      metric(
        "strongbox_backup_source_stored_bytes",
        "Bytes stored for the source by the last successful backup",
        "gauge",
        sources.map(([n, s]) => [label(n), s.storedBytes]),
      );
      const changed = sources.filter(([, s]) => s.filesChanged !== undefined);
      if (changed.length)
        metric(
          "strongbox_backup_files_changed",
          "Files read and stored for the source by the last backup (every file for a full)",
          "gauge",
          changed.map(([n, s]) => [label(n), s.filesChanged!]),
        );
      const files = sources.filter(([, s]) => s.unreadable !== undefined);
      if (files.length) {
        metric(
          "strongbox_backup_unreadable_paths",
          "Paths of the source that could not be read and were left out of its last backup (on_unreadable: partial); > 0 means that backup is partial",
          "gauge",
          files.map(([n, s]) => [label(n), s.unreadable!]),
        );
        metric(
          "strongbox_backup_files_changed_while_read",
          "Files of the source that changed while its last backup read them",
          "gauge",
          files.map(([n, s]) => [label(n), s.changed ?? 0]),
        );
      }
    }
    if (this.lastBackupPartial !== undefined)
      metric(
        "strongbox_backup_partial",
        "1 if the last committed backup is partial (a source left unreadable paths out), 0 if whole",
        "gauge",
        [["", this.lastBackupPartial ? 1 : 0]],
      );
    if (this.sourceFailed.size)
      metric(
        "strongbox_backup_source_failed",
        "1 if the source failed in its last backup run (left out of that backup), 0 if it was stored",
        "gauge",
        [...this.sourceFailed].map(([n, f]) => [label(n), f ? 1 : 0]),
      );
    if (this.lastBackupFinished !== undefined)
      metric("strongbox_newest_backup_age_seconds", "Age of the newest backup this daemon completed", "gauge", [
        ["", Math.round((now - this.lastBackupFinished) / 1000)],
      ]);
    if (this.lastDrillPassed !== undefined)
      metric("strongbox_last_drill_passed", "1 if the last drill passed, 0 if it failed", "gauge", [
        ["", this.lastDrillPassed ? 1 : 0],
      ]);
    if (this.untrustedBackups !== undefined)
      metric(
        "strongbox_untrusted_backups",
        "Backups the last prune did not count (claimed time contradicted by the store, or signature): kept and flagged, see 'strongbox list'",
        "gauge",
        [["", this.untrustedBackups]],
      );
    if (this.wal?.newest.length)
      metric(
        "strongbox_wal_newest_archived_age_seconds",
        "Age of the newest WAL file wal push archived on this host, per cluster (system id)",
        "gauge",
        this.wal.newest.map((w) => [`{system_id="${w.systemId}"}`, Math.round((now - w.at) / 1000)]),
      );
    metric("strongbox_job_running", "1 while a job runs", "gauge", [["", this.running ? 1 : 0]]);
    metric(
      "strongbox_healthy",
      "1 if /healthz is ok, 0 if a job is past its deadline or a backup is overdue",
      "gauge",
      [["", this.health(now).ok ? 1 : 0]],
    );
    return lines.join("\n") + "\n";
  }
}

export async function startHealthServer(listen: string, metrics: DaemonMetrics): Promise<Server> {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  const server = http.createServer(async (req, res) => {
    await metrics.refresh?.().catch(() => {});
    if (req.url === "/healthz") {
      const h = metrics.health();
      res.statusCode = h.ok ? 200 : 503;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          status: h.ok ? "ok" : "unhealthy",
          reasons: h.reasons,
          running: metrics.running ?? null,
          jobs: Object.fromEntries(metrics.jobs),
        }),
      );
    } else if (req.url === "/metrics") {
      res.setHeader("content-type", "text/plain; version=0.0.4");
      res.end(metrics.prometheus());
    } else {
      res.statusCode = 404;
      res.end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return server;
}

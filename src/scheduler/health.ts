import { createServer, type Server } from "node:http";

export interface JobStats {
  lastStart?: number;
  lastSuccess?: number;
  lastDuration?: number;
  lastStatus?: "success" | "failure";
  nextRun?: number | null;
}

/** What the daemon knows, for /healthz and Prometheus /metrics: the numbers people alert on. */
export class DaemonMetrics {
  readonly jobs = new Map<string, JobStats>();
  lastBackupBytes?: number;
  lastBackupFinished?: number;
  lastDrillPassed?: boolean;
  running?: string;

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
    metric("strongbox_job_last_success_timestamp_seconds", "Unix time of the job's last success", "gauge", per((s) => (s.lastSuccess ? s.lastSuccess / 1000 : undefined)));
    metric("strongbox_job_last_duration_seconds", "Duration of the job's last run", "gauge", per((s) => s.lastDuration));
    metric("strongbox_job_last_run_success", "1 if the job's last run succeeded, 0 if it failed", "gauge", per((s) => (s.lastStatus ? (s.lastStatus === "success" ? 1 : 0) : undefined)));
    metric("strongbox_job_next_run_timestamp_seconds", "Unix time of the job's next scheduled run", "gauge", per((s) => (s.nextRun ? s.nextRun / 1000 : undefined)));
    if (this.lastBackupBytes !== undefined) metric("strongbox_backup_stored_bytes", "Bytes stored by the last successful backup", "gauge", [["", this.lastBackupBytes]]);
    if (this.lastBackupFinished !== undefined) metric("strongbox_newest_backup_age_seconds", "Age of the newest backup this daemon completed", "gauge", [["", Math.round((now - this.lastBackupFinished) / 1000)]]);
    if (this.lastDrillPassed !== undefined) metric("strongbox_last_drill_passed", "1 if the last drill passed, 0 if it failed", "gauge", [["", this.lastDrillPassed ? 1 : 0]]);
    metric("strongbox_job_running", "1 while a job runs", "gauge", [["", this.running ? 1 : 0]]);
    return lines.join("\n") + "\n";
  }
}

export async function startHealthServer(listen: string, metrics: DaemonMetrics): Promise<Server> {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ status: "ok", running: metrics.running ?? null, jobs: Object.fromEntries(metrics.jobs) }));
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

import { parseDuration } from "../config/duration.js";
import type { Config } from "../config/schema.js";
import { defaultStateDir } from "../differential/state.js";
import type { DaemonMetrics } from "../scheduler/health.js";
import { readPushed } from "../wal/last-pushed.js";

/**
 * With a postgres-cluster source, /metrics shows the age of the newest WAL file `wal push` archived
 * on this host, and /healthz fails past the smallest wal.max_lag: read from the state directory on
 * each request (the writer cannot list the repository, so the pushes record it there).
 */
export function watchWal(metrics: DaemonMetrics, config: Config, env: NodeJS.ProcessEnv): void {
  const lags = config.sources.flatMap((s) => (s.type === "postgres-cluster" ? [parseDuration(s.wal.max_lag)!] : []));
  if (lags.length === 0) return;
  const stateDir = config.state_dir ?? defaultStateDir(env);
  const wal = { maxLagMs: Math.min(...lags), newest: [] as Awaited<ReturnType<typeof readPushed>> };
  metrics.wal = wal;
  metrics.refresh = async () => void (wal.newest = await readPushed(stateDir));
}

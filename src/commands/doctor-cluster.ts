import type { PostgresClusterSourceConfig } from "../config/schema.js";
import { parseDuration } from "../config/duration.js";
import type { LastPushed } from "../wal/last-pushed.js";
import { probeServer, type Finding } from "./doctor-probe.js";

export type ClusterFinding = Finding;

interface Settings {
  wal_level?: string;
  archive_mode?: string;
  archive_command?: string;
  archive_timeout?: string;
}

/**
 * What a cluster needs for point-in-time recovery with strongbox (what `pitr setup` prints): WAL
 * for replicas, archiving on, `wal push` as archive_command, an archive_timeout within wal.max_lag,
 * and a role that may stream a base backup. Pure: the settings as the server reports them.
 */
export function judgeClusterSettings(
  name: string,
  s: Settings,
  replication: boolean,
  maxLagMs: number,
): ClusterFinding[] {
  const area = `source ${name}`;
  const out: ClusterFinding[] = [];
  const bad = (detail: string) => out.push({ area, status: "fail", detail });
  if (s.wal_level !== "replica" && s.wal_level !== "logical")
    bad(`wal_level is ${s.wal_level ?? "unknown"}: set wal_level = replica (a restart) so WAL can be archived`);
  if (s.archive_mode !== "on" && s.archive_mode !== "always")
    bad(`archive_mode is ${s.archive_mode ?? "unknown"}: set archive_mode = on (a restart; see strongbox pitr setup)`);
  if (!/\bwal push\b/.test(s.archive_command ?? ""))
    bad(
      `archive_command is ${s.archive_command ? `'${s.archive_command}'` : "empty"}: set it to strongbox's wal push (strongbox pitr setup prints it)`,
    );
  const timeout = Number(s.archive_timeout ?? "0");
  if (!(timeout > 0) || timeout * 1000 > maxLagMs)
    out.push({
      area,
      status: "warn",
      detail: `archive_timeout is ${timeout}s: a quiet cluster may archive less often than wal.max_lag (${maxLagMs / 1000}s) allows; set it below that`,
    });
  if (!replication)
    bad(
      "the source's role lacks REPLICATION: pg_basebackup needs it (ALTER ROLE … REPLICATION, or strongbox pitr setup)",
    );
  return out;
}

/** The newest WAL file this host's `wal push` recorded, against wal.max_lag. */
export function judgeWalLag(name: string, pushed: LastPushed[], maxLagMs: number, now = Date.now()): ClusterFinding {
  const area = `source ${name} WAL`;
  if (!pushed.length)
    return {
      area,
      status: "warn",
      detail:
        "no WAL archived by wal push recorded in this host's state_dir (on the database host it must be the one PostgreSQL's wal push uses)",
    };
  const newest = pushed.reduce((a, b) => (b.at > a.at ? b : a));
  const age = now - newest.at;
  return {
    area,
    status: age > maxLagMs ? "fail" : "ok",
    detail: `newest archived ${newest.name} ${Math.round(age / 1000)}s ago (wal.max_lag ${maxLagMs / 1000}s)`,
  };
}

/** doctor's checks of a postgres-cluster source: the server, its archiving settings, pg_basebackup, WAL lag. */
export async function clusterFindings(s: PostgresClusterSourceConfig, pushed: LastPushed[]): Promise<ClusterFinding[]> {
  const maxLagMs = parseDuration(s.wal.max_lag) ?? 300_000;
  const out = await probeServer(s, "pg_basebackup", async (c, server, tool) => {
    const rows = await c.query<{ name: keyof Settings; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_timeout')",
    );
    const settings: Settings = Object.fromEntries(rows.rows.map((r) => [r.name, r.setting]));
    const role = await c.query<{ r: boolean }>(
      "SELECT rolreplication OR rolsuper AS r FROM pg_roles WHERE rolname = current_user",
    );
    const problems = judgeClusterSettings(s.name, settings, Boolean(role.rows[0]?.r), maxLagMs);
    return [
      ...(problems.some((p) => p.status === "fail")
        ? []
        : [
            {
              area: `source ${s.name}`,
              status: "ok" as const,
              detail: `PostgreSQL ${server.version}; ${tool.path} ${tool.version}; archiving with wal push`,
            },
          ]),
      ...problems,
    ];
  });
  out.push(judgeWalLag(s.name, pushed, maxLagMs));
  return out;
}

// A live PostgreSQL that archives with `strongbox wal push`, for the drill and `restore --start` tests.
import { BIN } from "./cli.js";
import type { TestCluster } from "./pg-cluster.js";
import { until } from "./until.js";

/** Server settings: archive every closed segment with this config's `wal push` (5 s archive_timeout). */
export function pushSettings(configFile: string): string[] {
  const command = `${process.execPath} ${BIN} -c ${configFile} wal push %p`;
  return ["wal_level=replica", "archive_mode=on", `archive_command='${command}'`, "archive_timeout=5", "fsync=off"];
}

/** Closes the current WAL segment and waits until the archiver reports it stored. */
export async function closeSegment(c: TestCluster): Promise<string> {
  const [{ wal }] = await c.query<{ wal: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS wal");
  await until(async () => {
    const [row] = await c.query<{ last: string | null }>("SELECT last_archived_wal AS last FROM pg_stat_archiver");
    return row.last !== null && row.last >= wal;
  }, 60_000);
  return wal;
}

/** The UTC clock of the server, ISO 8601 with microseconds. */
export async function serverNow(c: TestCluster): Promise<string> {
  const [{ t }] = await c.query<{ t: string }>(
    "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t",
  );
  return t;
}

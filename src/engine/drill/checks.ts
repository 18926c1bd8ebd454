import { connect } from "../../sources/postgres/connection.js";
import type { Check } from "../../sources/source.js";

/** A configured SQL check: one row, one column, true. A query error is a failed check, not a crash. */
export async function runSqlCheck(url: string, check: { source: string; name: string; sql: string }): Promise<Check> {
  const name = `${check.source}: ${check.name}`;
  const client = await connect(url, `check '${check.name}'`);
  try {
    await client.query("BEGIN READ ONLY");
    await client.query("SET LOCAL statement_timeout = '120s'");
    const res = await client.query({ text: check.sql, rowMode: "array" });
    await client.query("ROLLBACK");
    const rows = res.rows as unknown[][];
    if (rows.length !== 1 || rows[0].length !== 1)
      return { name, ok: false, detail: `expected one row with one value, got ${rows.length} row(s)` };
    const v = rows[0][0];
    return { name, ok: v === true || v === "t" || v === "true", detail: `returned ${JSON.stringify(v)}` };
  } catch (err) {
    return { name, ok: false, detail: `query failed: ${(err as Error).message}` };
  } finally {
    await client.end().catch(() => {});
  }
}

/** One source's newest complete backup must be younger than the limit (a stale database fails even if files are fresh). */
export function backupAgeCheck(
  source: string,
  newestFinishedAt: Date | undefined,
  maxAgeMs: number,
  maxAgeText: string,
  now: Date,
): Check {
  const name = `${source}: newest backup is at most ${maxAgeText} old`;
  if (!newestFinishedAt) return { name, ok: false, detail: `no complete backup holds ${source}` };
  const age = now.getTime() - newestFinishedAt.getTime();
  const hours = (age / 3600_000).toFixed(1);
  return { name, ok: age <= maxAgeMs, detail: `newest complete backup of ${source} finished ${hours} h ago` };
}

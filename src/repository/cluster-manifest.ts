import { isLsn, lsnValue } from "./lsn.js";

const VERSION = /^\d{1,3}(\.\d{1,4}){0,2}$/;
const isText = (v: unknown, max = 256): v is string => typeof v === "string" && v.length <= max;
const isTime = (v: unknown): v is string => isText(v, 40) && !Number.isNaN(Date.parse(v));

/**
 * A postgres-cluster source's manifest part, hostile like the rest: versions, the system
 * identifier, the timeline, the WAL range (start <= stop, the start segment the one that holds the
 * start LSN on that timeline) and the times. `fail` throws with the reason.
 */
export function checkClusterManifest(m: Record<string, unknown>, at: string, fail: (why: string) => never): void {
  for (const k of ["server_version", "pg_basebackup_version"])
    if (!isText(m[k]) || !VERSION.test(m[k])) fail(`${at}.${k} is not a version`);
  if (
    !isText(m.system_identifier, 20) ||
    !/^[1-9]\d{0,19}$/.test(m.system_identifier) ||
    BigInt(m.system_identifier) >= 2n ** 64n
  )
    fail(`${at}.system_identifier is not a 64-bit number`);
  if (typeof m.timeline !== "number" || !Number.isInteger(m.timeline) || m.timeline < 1 || m.timeline > 0xffffffff)
    fail(`${at}.timeline is not a timeline number`);
  if (!isLsn(m.start_lsn) || !isLsn(m.stop_lsn)) fail(`${at}: start_lsn or stop_lsn is not an LSN`);
  if (lsnValue(m.stop_lsn as string) < lsnValue(m.start_lsn as string))
    fail(`${at}: stop_lsn ${m.stop_lsn} is before start_lsn ${m.start_lsn}`);
  // The segment size is the cluster's (initdb --wal-segsize): only the form and the timeline are checked here.
  if (
    !isText(m.start_wal, 24) ||
    !/^[0-9A-F]{24}$/.test(m.start_wal) ||
    !m.start_wal.startsWith(hex8(m.timeline as number))
  )
    fail(
      `${at}.start_wal ${JSON.stringify(String(m.start_wal).slice(0, 40))} is not a WAL segment name of timeline ${m.timeline}`,
    );
  if (!isTime(m.start_time) || !isTime(m.stop_time)) fail(`${at}: start_time or stop_time is not a time`);
  if (Date.parse(m.stop_time as string) < Date.parse(m.start_time as string))
    fail(`${at}: stop_time is before start_time`);
}

export const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

// The clock a backup's id and claimed times (created_at, started_at) are read from.
import { StrongboxError } from "../errors.js";

/** Test-only: the suite sets it; it has no use on a host. See backupClock. */
export const TEST_CLOCK_OFFSET_VAR = "STRONGBOX_TEST_CLOCK_OFFSET_MS";
/** Well inside retention.clock_skew's default (15 min): a shifted backup still looks plausible to prune. */
const MAX_TEST_OFFSET_MS = 10 * 60_000;

/**
 * Now, for a new backup. STRONGBOX_TEST_CLOCK_OFFSET_MS (test-only, whole milliseconds, at most ±10 min)
 * moves it: the suite gives consecutive backups distinct, increasing seconds (ids have one-second
 * resolution) without sleeping a second between them. It moves only what the backup claims, never the
 * store's own clock (LastModified, an mtime) that prune and the trust rules judge those claims against.
 */
export function backupClock(env: NodeJS.ProcessEnv = process.env): Date {
  const raw = env[TEST_CLOCK_OFFSET_VAR];
  if (raw === undefined || raw === "") return new Date();
  if (!/^-?\d{1,9}$/.test(raw) || Math.abs(Number(raw)) > MAX_TEST_OFFSET_MS) {
    throw new StrongboxError(
      "USAGE",
      `${TEST_CLOCK_OFFSET_VAR}=${raw}: this test-only setting takes whole milliseconds, at most ±${MAX_TEST_OFFSET_MS}; unset it`,
    );
  }
  return new Date(Date.now() + Number(raw));
}

/** A working value for each ${VAR} that `strongbox init`'s sample uses in its commented-out blocks. */
export const SAMPLE_ENV: Record<string, string> = {
  ...Object.fromEntries(
    ["WRITER", "READER", "PRUNER"].flatMap((r) => [
      [`BACKUP_${r}_KEY_ID`, `AKIA7Q3ZK2PL${r}`],
      [`BACKUP_${r}_SECRET`, `wJalrXUtnFEMI7K7MDENGbPxRfiCY1${r}`],
    ]),
  ),
  DATABASE_URL: "postgres://app:pw@127.0.0.1:5432/app",
  DRILL_ADMIN_URL: "postgres://admin:pw@127.0.0.1:5432/postgres",
  HEALTHCHECKS_URL: "https://hc-ping.com/0a1b2c3d",
};

/** The sample's text with "# " taken off each line that differs from the uncommented rendering (and nothing else). */
export function uncommentLike(written: string, enabled: string): string {
  const b = enabled.split("\n");
  return written
    .split("\n")
    .map((line, i) => (line === b[i] ? line : line.replace(/^(\s*)# /, "$1")))
    .join("\n");
}

import { promises as fsp } from "node:fs";
import { resolve } from "node:path";
import { StrongboxError } from "../errors.js";
import { isLsn } from "../repository/lsn.js";
import type { Logger } from "../log.js";
import type { ClusterManifest } from "../repository/manifest.js";
import type { RecoveryTarget } from "../sources/source.js";
import { withRecoveredServer, type RecoveryPoint } from "../sources/postgres-cluster/recover-run.js";

export interface ClusterRestoreOptions {
  targetTime?: string;
  targetLsn?: string;
  targetXid?: string;
  targetAction?: string;
  /** Run the server until it reaches the target, then stop it (restore --start). */
  start?: boolean;
}

/** A word as one POSIX shell word. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Text PostgreSQL passes through archive_command/restore_command as it is: its own %f, %p and %% stay for the rest. */
export const percentLiteral = (s: string) => s.replace(/%/g, "%%");

/** This strongbox as a command another process (the restored server's restore_command) can run. */
export function selfCommand(): string {
  const script = process.argv[1];
  const words = script && script !== process.execPath ? [process.execPath, resolve(script)] : [process.execPath];
  return words.map(shellWord).join(" ");
}

/**
 * The recovery settings of a cluster restore from --target-time/--target-lsn/--target-xid (at most
 * one) and --target-action; a malformed value is a usage error naming the flag.
 */
export function recoveryTarget(o: ClusterRestoreOptions, configFile: string): RecoveryTarget {
  const given = [o.targetTime, o.targetLsn, o.targetXid].filter((v) => v !== undefined);
  if (given.length > 1)
    throw new StrongboxError("USAGE", "give at most one of --target-time, --target-lsn and --target-xid");
  let time: string | undefined;
  if (o.targetTime !== undefined) {
    if (
      !/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i.test(o.targetTime) ||
      Number.isNaN(Date.parse(o.targetTime))
    )
      throw new StrongboxError(
        "USAGE",
        `--target-time ${JSON.stringify(o.targetTime.slice(0, 60))}: expected an ISO 8601 time with its zone (2026-12-05T03:00:00Z)`,
      );
    // PostgreSQL refuses the ISO "T" and "Z" in recovery_target_time: the same instant in its own form.
    time = o.targetTime.replace(/[Tt]/, " ").replace(/[Zz]$/, "+00");
  }
  if (o.targetLsn !== undefined && !isLsn(o.targetLsn))
    throw new StrongboxError(
      "USAGE",
      `--target-lsn ${JSON.stringify(String(o.targetLsn).slice(0, 40))}: expected an LSN such as 0/3000028`,
    );
  if (o.targetXid !== undefined && !/^[1-9]\d{0,19}$/.test(o.targetXid))
    throw new StrongboxError(
      "USAGE",
      `--target-xid ${JSON.stringify(o.targetXid.slice(0, 40))}: expected a transaction id (a number)`,
    );
  const action = o.targetAction ?? "promote";
  if (action !== "promote" && action !== "pause" && action !== "shutdown")
    throw new StrongboxError(
      "USAGE",
      `--target-action must be promote, pause or shutdown, not ${JSON.stringify(String(action).slice(0, 40))}`,
    );
  if (o.targetAction !== undefined && !given.length)
    throw new StrongboxError("USAGE", "--target-action needs --target-time, --target-lsn or --target-xid");
  return {
    ...(time !== undefined ? { time } : {}),
    ...(o.targetLsn !== undefined ? { lsn: o.targetLsn.toUpperCase() } : {}),
    ...(o.targetXid !== undefined ? { xid: o.targetXid } : {}),
    action,
    restoreCommand: `${percentLiteral(selfCommand())} -c ${percentLiteral(shellWord(resolve(configFile)))} wal fetch %f %p`,
  };
}

/** Recovery target flags on a restore that holds no cluster would be ignored: a usage error instead. */
export function noClusterFlags(o: ClusterRestoreOptions): void {
  const given = (
    [
      ["--target-time", o.targetTime],
      ["--target-lsn", o.targetLsn],
      ["--target-xid", o.targetXid],
      ["--target-action", o.targetAction],
      ["--start", o.start || undefined],
    ] as const
  ).find(([, v]) => v !== undefined);
  if (given)
    throw new StrongboxError(
      "USAGE",
      `${given[0]} ${given[0] === "--start" ? "starts a restored cluster's recovery" : "says where a cluster's recovery stops"}, but this restore holds no postgres-cluster source`,
    );
}

/** The data directory a cluster restore writes: absent or empty (a cluster is never restored over another). */
export async function clusterTarget(toDir: string): Promise<{ dir: string; existed: boolean }> {
  const dir = resolve(toDir);
  const st = await fsp.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (st && !st.isDirectory()) throw new StrongboxError("USAGE", `${dir} exists and is not a directory`);
  if (st && (await fsp.readdir(dir)).length)
    throw new StrongboxError("USAGE", `${dir} is not empty; a cluster is restored into an empty or new data directory`);
  return { dir, existed: Boolean(st) };
}

/** After a failed cluster restore: nothing of it stays (the directory was empty or absent before). */
export async function clearTarget(t: { dir: string; existed: boolean }): Promise<void> {
  if (!t.existed) return void (await fsp.rm(t.dir, { recursive: true, force: true }));
  for (const name of await fsp.readdir(t.dir).catch(() => [] as string[]))
    await fsp.rm(`${t.dir}/${name}`, { recursive: true, force: true });
}

/** How to start the restored cluster (printed after the restore). */
export function startCommand(dir: string, pgCtl = "pg_ctl"): string {
  const asOwner = process.getuid?.() === 0 ? "runuser -u postgres -- " : "";
  return `${asOwner}${pgCtl} -D ${shellWord(dir)} -l ${shellWord(`${dir}.log`)} start`;
}

/** How long `restore --start` lets recovery run before it gives up (a long archive replays for hours). */
const START_TIMEOUT_MS = 12 * 3600_000;

/** What a recovery target means in words: the target, or the end of the archive. */
export function targetText(t: RecoveryTarget): string {
  if (t.time !== undefined) return `time ${t.time}`;
  if (t.lsn !== undefined) return `LSN ${t.lsn}`;
  if (t.xid !== undefined) return `transaction ${t.xid}`;
  return "the end of the WAL archive";
}

/**
 * restore --start: a throwaway server recovers the restored data directory to its target and is
 * stopped again. `shutdown` ends as `pause` does: a stopped server held at the target.
 */
export async function startToTarget(
  dir: string,
  m: ClusterManifest,
  t: RecoveryTarget,
  log: Logger,
  pgBinDir?: string,
  signal?: AbortSignal,
  env?: Record<string, string>,
): Promise<RecoveryPoint & { target: string }> {
  const { point } = await withRecoveredServer(
    {
      dataDir: dir,
      major: Number(m.server_version.split(".")[0]),
      pgBinDir,
      targetAction: t.action === "shutdown" ? "pause" : undefined,
      timeoutMs: START_TIMEOUT_MS,
      log,
      signal,
      env,
    },
    async () => {},
  );
  return { ...point, target: targetText(t) };
}

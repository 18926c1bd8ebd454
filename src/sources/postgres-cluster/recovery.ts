import { promises as fsp } from "node:fs";
import { join } from "node:path";
import type { RecoveryTarget } from "../source.js";

/** A value as a postgresql.conf string literal. */
export function confString(v: string): string {
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** The lines a restored cluster's postgresql.auto.conf gets: where WAL comes from, where recovery stops, no archiving. */
export function recoveryLines(t: RecoveryTarget, note: string): string[] {
  const lines = [`# ${note}`, `restore_command = ${confString(t.restoreCommand)}`];
  if (t.time !== undefined) lines.push(`recovery_target_time = ${confString(t.time)}`);
  if (t.lsn !== undefined) lines.push(`recovery_target_lsn = ${confString(t.lsn)}`);
  if (t.xid !== undefined) lines.push(`recovery_target_xid = ${confString(t.xid)}`);
  if (t.time !== undefined || t.lsn !== undefined || t.xid !== undefined)
    lines.push(`recovery_target_action = ${confString(t.action)}`);
  // Never archive into the production repository from a restored copy: the operator turns it back on.
  lines.push(`archive_mode = 'off'`);
  return lines;
}

/** Writes recovery.signal and appends the recovery settings to postgresql.auto.conf (the last setting wins). */
export async function writeRecovery(
  dataDir: string,
  t: RecoveryTarget,
  note: string,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const signal = join(dataDir, "recovery.signal");
  const auto = join(dataDir, "postgresql.auto.conf");
  await fsp.writeFile(signal, "", { mode: 0o600 });
  await fsp.appendFile(auto, `\n${recoveryLines(t, note).join("\n")}\n`, { mode: 0o600 });
  if (owner) for (const f of [signal, auto]) await fsp.chown(f, owner.uid, owner.gid).catch(() => {});
}

import { constants, promises as fsp } from "node:fs";
import { hostname, userInfo } from "node:os";
import { dirname } from "node:path";
import type { Logger } from "./log.js";
import { redact } from "./secrets.js";

export interface AuditRecord {
  command: string;
  backup_id?: string;
  result: "success" | "failure";
  duration_s: number;
  error?: string;
  [k: string]: unknown;
}

/** Appends one JSON line (O_APPEND, mode 0600) per job; a failure to write is logged, not fatal. */
export async function appendAudit(file: string | undefined, rec: AuditRecord, log: Logger): Promise<void> {
  if (!file) return;
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  const line = redact(JSON.stringify({ time: new Date().toISOString(), host: hostname(), user, ...rec })) + "\n";
  try {
    await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const fh = await fsp.open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      await fh.write(line);
    } finally {
      await fh.close();
    }
  } catch (err) {
    log.warn(`cannot append to audit log ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

import { createHash } from "node:crypto";
import { constants, promises as fsp } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { StrongboxError } from "../errors.js";

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function lockPath(repositoryUrl: string, dir?: string): string {
  const h = createHash("sha256").update(repositoryUrl).digest("hex").slice(0, 16);
  return join(dir ?? process.env.STRONGBOX_LOCK_DIR ?? tmpdir(), `strongbox-${h}.lock`);
}

/**
 * One job per repository on this host at a time (scheduled or manual). The lock file names its
 * holder; a lock left by a dead process (same host, PID gone) is taken over.
 */
export async function acquireLock(repositoryUrl: string, command: string, dir?: string): Promise<() => Promise<void>> {
  const path = lockPath(repositoryUrl, dir);
  const me: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return async () => {
        try {
          const cur = JSON.parse(await fsp.readFile(path, "utf8")) as LockInfo;
          if (cur.pid === me.pid && cur.host === me.host) await fsp.unlink(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new StrongboxError("LOCKED", `cannot create lock file ${path}: ${(err as NodeJS.ErrnoException).code}`);
    }
    let holder: LockInfo | undefined;
    try {
      holder = JSON.parse(await fsp.readFile(path, "utf8"));
    } catch {
      holder = undefined; // half-written or vanished: treat as stale
    }
    if (holder && (holder.host !== hostname() || alive(holder.pid))) {
      throw new StrongboxError("LOCKED", `another strongbox run holds the repository lock (${holder.command}, pid ${holder.pid} on ${holder.host}, since ${holder.since}); lock file ${path}`);
    }
    await fsp.unlink(path).catch(() => {}); // stale: its process is gone
  }
  throw new StrongboxError("LOCKED", `could not take the repository lock ${path}`);
}

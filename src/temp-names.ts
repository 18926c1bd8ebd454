import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { processAlive } from "./process-alive.js";

/** Temp files of another host (a shared mount) or of an old naming are left this long before they count as orphaned. */
export const FOREIGN_LEFTOVER_AGE_MS = 24 * 3600_000;

const hostTag = () => createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** `<prefix><host>-<pid>-<random>`: whoever finds it later can tell whether its writer still runs. */
export function tempName(prefix: string): string {
  return `${prefix}${hostTag()}-${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** A temp file whose writer is gone: this host and its PID dead, or (another host, old name) older than a day. */
export function isOrphan(name: string, prefix: string, mtime: Date, now = Date.now()): boolean {
  if (!name.startsWith(prefix)) return false;
  const m = /^([0-9a-f]{8})-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
  if (m && m[1] === hostTag()) return Number(m[2]) !== process.pid && !processAlive(Number(m[2]));
  return now - mtime.getTime() > FOREIGN_LEFTOVER_AGE_MS;
}

export interface LeftoverCount {
  count: number;
  bytes: number;
}

/**
 * Entries named `tempName(prefix)` in `dir` whose writer is gone: counted, and removed when asked.
 * Only this user's own entries of `kind` are touched: a spool file (unlinked), or block-pipe's private
 * directory (mode 0700), from which only its FIFO `out` is unlinked before the directory itself is
 * removed; never a recursive removal, which another local user could steer through a symlink swapped
 * into a directory of theirs. Anything else under the prefix (a symlink, another owner) stays.
 */
export async function sweepOrphans(
  dir: string,
  prefix: string,
  kind: "file" | "dir",
  o: { remove: boolean },
): Promise<LeftoverCount> {
  const out = { count: 0, bytes: 0 };
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    const st = await fsp.lstat(path).catch(() => null);
    if (!st || (uid !== undefined && st.uid !== uid) || !isOrphan(name, prefix, st.mtime)) continue;
    if (kind === "file" ? !st.isFile() : !st.isDirectory() || (st.mode & 0o777) !== 0o700) continue;
    if (o.remove && !(await (kind === "file" ? removed(fsp.unlink(path)) : removePipeDir(path)))) continue;
    out.count++;
    if (kind === "file") out.bytes += st.size;
  }
  return out;
}

const removed = (p: Promise<unknown>): Promise<boolean> =>
  p.then(
    () => true,
    () => false,
  );

/** A pipe directory holds at most its FIFO: that name alone goes, then the (then empty) directory. */
async function removePipeDir(path: string): Promise<boolean> {
  await fsp.unlink(join(path, "out")).catch(() => {});
  return removed(fsp.rmdir(path));
}

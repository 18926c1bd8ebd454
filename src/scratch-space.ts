import { existsSync, promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "./log.js";
import { isOrphan, tempName } from "./temp-names.js";

/**
 * Scratch space: the plaintext trees a drill restores and a cluster's verify unpacks (under TMPDIR),
 * and the private run directory of a throwaway PostgreSQL server that recovers a cluster (under /tmp:
 * its socket's path must stay short). Named `tempName(prefix)`, so that a run killed before its
 * cleanup (kill -9, the OOM killer) leaves a directory that the next drill, verify or recovery can
 * tell is orphaned, and removes: otherwise every such kill would leave a restored copy of the backup
 * (a whole cluster, for a cluster drill) in TMPDIR.
 */
export const SCRATCH_PREFIXES = ["strongbox-drill-", "strongbox-verify-cluster-", "strongbox-pgrun-"] as const;
type ScratchPrefix = (typeof SCRATCH_PREFIXES)[number];

/** Where the server's run directory goes: /tmp, as a socket path must be short (107 bytes), else TMPDIR. */
export const runDirParent = () => (existsSync("/tmp") ? "/tmp" : tmpdir());

/** Modes a scratch directory is created with: 0700, or 0711 when a server account must reach a data directory inside. */
const SCRATCH_MODES = new Set([0o700, 0o711]);

export async function makeScratch(prefix: ScratchPrefix, parent = tmpdir()): Promise<string> {
  const path = join(parent, tempName(prefix));
  await fsp.mkdir(path, { mode: 0o700 });
  await fsp.chmod(path, 0o700); // whatever the umask
  return path;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Removes a scratch tree, never through a path that another account can change underneath. As root,
 * the tree may hold directories of another account (a cluster's data directory belongs to the server's
 * account), which could swap one of its directories for a symlink while a recursive removal walks it,
 * steering root's unlinks elsewhere. So the tree is locked first (lockTree), and only then removed.
 */
export async function removeScratch(path: string): Promise<void> {
  await lockTree(path);
  await fsp.rm(path, { recursive: true, force: true });
}

const gone = (err: unknown) => (err as NodeJS.ErrnoException)?.code === "ENOENT";

/**
 * Makes every directory of the tree this user's (root: chown) and 0700, from the top down. A
 * directory is changed only after its parent is this user's alone, when its name can no longer be
 * replaced (chmod follows a symlink; the listing, made after the parent was locked, has just shown
 * a directory). Afterwards nothing in the tree can change but by this user; a 0555 directory a
 * restore made no longer stops the removal. A directory it cannot read or change fails the whole
 * call: nothing is walked unlocked.
 */
export async function lockTree(top: string): Promise<void> {
  const root = isRoot();
  /** false: it is gone (another sweep, or the run's own removal, got there first). */
  const lock = async (dir: string) => {
    try {
      if (root) await fsp.lchown(dir, 0, 0);
      await fsp.chmod(dir, 0o700);
      return true;
    } catch (err) {
      if (gone(err)) return false;
      throw err;
    }
  };
  const st = await fsp.lstat(top).catch((err) => {
    if (gone(err)) return null;
    throw err;
  });
  if (!st?.isDirectory() || !(await lock(top))) return;
  const pending = [top];
  while (pending.length) {
    const dir = pending.pop()!;
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch((err) => {
      if (gone(err)) return [];
      throw err;
    });
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = join(dir, e.name);
      if (await lock(child)) pending.push(child);
    }
  }
}

/**
 * Whether no other account can rename entries in `dir` (owned by root or this user, and not writable
 * by others unless sticky): else the sweep's checks of an entry could be about another one by the
 * time it is removed.
 */
async function steadyParent(dir: string): Promise<boolean> {
  const st = await fsp.stat(dir).catch(() => null);
  if (!st) return false;
  return (st.uid === 0 || st.uid === process.getuid?.()) && ((st.mode & 0o022) === 0 || (st.mode & 0o1000) !== 0);
}

export interface ScratchSweep {
  removed: string[];
  /** Leftovers it could not remove, with why: left for the next sweep. */
  failed: { path: string; reason: string }[];
}

/**
 * Removes the scratch directories of drills, verifies and recovery servers whose process is gone (this host's, by the
 * PID in the name; another host's on a shared TMPDIR, or one of an older naming, once nothing changed
 * it for a day: its ctime, which a restore's setting of the directory's recorded mtime does not age).
 * Only this user's own directories with a scratch mode are touched, in a TMPDIR where no other account
 * can rename them; anything else under the names stays.
 */
export async function sweepScratch(dir = tmpdir()): Promise<ScratchSweep> {
  const out: ScratchSweep = { removed: [], failed: [] };
  const uid = process.getuid?.();
  const found = (await fsp.readdir(dir).catch(() => [] as string[])).flatMap((name) => {
    const prefix = SCRATCH_PREFIXES.find((p) => name.startsWith(p));
    return prefix ? [{ name, prefix }] : [];
  });
  if (!found.length || !(await steadyParent(dir))) return out;
  for (const { name, prefix } of found) {
    const path = join(dir, name);
    const st = await fsp.lstat(path).catch(() => null);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid) || !SCRATCH_MODES.has(st.mode & 0o777)) continue;
    if (!isOrphan(name, prefix, st.ctime)) continue;
    try {
      await removeScratch(path);
      out.removed.push(path);
    } catch (err) {
      out.failed.push({ path, reason: (err as Error).message });
    }
  }
  return out;
}

/** sweepScratch of TMPDIR and of the run directories' parent, saying what it removed, and what it could not and why. */
export async function sweepKilledScratch(log: Logger): Promise<void> {
  const removed: string[] = [];
  const failed: ScratchSweep["failed"] = [];
  for (const dir of new Set([tmpdir(), runDirParent()])) {
    const r = await sweepScratch(dir);
    removed.push(...r.removed);
    failed.push(...r.failed);
  }
  for (const path of removed)
    log.warn(
      `removed ${path}: the scratch space of a drill, verify or recovery that was killed before it could clean up`,
    );
  for (const { path, reason } of failed)
    log.warn(`cannot remove ${path}, the scratch space of a killed drill, verify or recovery: ${reason}`);
}

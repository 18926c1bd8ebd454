import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOrphan, tempName } from "./temp-names.js";

/**
 * Scratch space under TMPDIR: the plaintext trees a drill restores and a cluster's verify unpacks.
 * Named `tempName(prefix)`, so that a run killed before its cleanup (kill -9, the OOM killer) leaves a
 * directory that the next drill or verify can tell is orphaned, and removes: otherwise every such
 * kill would leave a restored copy of the backup (a whole cluster, for a cluster drill) in TMPDIR.
 */
export const SCRATCH_PREFIXES = ["strongbox-drill-", "strongbox-verify-cluster-"] as const;
type ScratchPrefix = (typeof SCRATCH_PREFIXES)[number];

/** Modes a scratch directory is created with: 0700, or 0711 when a server account must reach a data directory inside. */
const SCRATCH_MODES = new Set([0o700, 0o711]);

export async function makeScratch(prefix: ScratchPrefix): Promise<string> {
  const path = join(tmpdir(), tempName(prefix));
  await fsp.mkdir(path, { mode: 0o700 });
  await fsp.chmod(path, 0o700); // whatever the umask
  return path;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Removes a scratch tree, never through a path that another account can change underneath. As root,
 * the tree may hold directories of another account (a cluster's data directory belongs to the server's
 * account), which could swap one of its directories for a symlink while a recursive removal walks it,
 * steering root's unlinks elsewhere. So every directory is first made root's and 0700, from the top
 * down: a directory is changed only after its parent is root's alone, when its name can no longer be
 * replaced (chmod follows a symlink, and lstat has just shown a directory). Then nothing in the tree can
 * change but by root, and the recursive removal is safe. Not root: every directory in it is this
 * user's own, and the top one is 0700 or 0711.
 */
export async function removeScratch(path: string): Promise<void> {
  if (isRoot()) await lockTree(path);
  await fsp.rm(path, { recursive: true, force: true });
}

async function lockTree(top: string): Promise<void> {
  const st = await fsp.lstat(top).catch(() => null);
  if (!st?.isDirectory()) return;
  await fsp.lchown(top, 0, 0);
  await fsp.chmod(top, 0o700);
  const pending = [top];
  while (pending.length) {
    const dir = pending.pop()!;
    for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory()) continue;
      const child = join(dir, e.name);
      const cst = await fsp.lstat(child).catch(() => null);
      if (!cst?.isDirectory()) continue;
      await fsp.lchown(child, 0, 0);
      await fsp.chmod(child, 0o700);
      pending.push(child);
    }
  }
}

/**
 * Removes the scratch directories of drills and verifies whose process is gone (this host's, by the
 * PID in the name; another host's on a shared TMPDIR, once a day old). Only this user's own
 * directories with a scratch mode are touched; anything else under the names stays. Returns the paths removed.
 */
export async function sweepScratch(dir = tmpdir()): Promise<string[]> {
  const uid = process.getuid?.();
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const prefix = SCRATCH_PREFIXES.find((p) => name.startsWith(p));
    if (!prefix) continue;
    const path = join(dir, name);
    const st = await fsp.lstat(path).catch(() => null);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid) || !SCRATCH_MODES.has(st.mode & 0o777)) continue;
    if (!isOrphan(name, prefix, st.mtime)) continue;
    try {
      await removeScratch(path);
      removed.push(path);
    } catch {
      // Another run removing it at the same moment, or a tree root cannot change: left for the next sweep.
    }
  }
  return removed;
}

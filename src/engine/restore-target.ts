import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";
import { toSeconds } from "../archive/extract.js";
import { mtimeString } from "../archive/walk.js";
import { describeError, StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { processAlive } from "../process-alive.js";
import { quoteShort } from "../terminal-safe.js";

/**
 * File restores go into a staging directory next to their target, `<to-dir>/.strongbox-partial-
 * <source>-<pid>-<rand>`, and are renamed into place only once every file was written and checked
 * against the manifest. A failed or interrupted restore removes its staging directory; one left by
 * a killed run is named after its process, and the next restore into that directory removes it.
 */
export const PARTIAL_PREFIX = ".strongbox-partial-";
export const OLD_PREFIX = ".strongbox-replaced-";
/** An old tree being deleted once the new one is in place: never put back, only deleted (again). */
export const DELETING_PREFIX = ".strongbox-deleting-";
/** Written into a staging directory when it is made, so a user who finds one sees what it is. */
export const MARKER_NAME = ".strongbox-restore-unfinished";

/** Removes what killed restores left in `parent` (staging and set-aside directories of dead processes). */
export async function sweepPartials(parent: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const prefix = [PARTIAL_PREFIX, OLD_PREFIX, DELETING_PREFIX].find((p) => name.startsWith(p));
    if (!prefix) continue;
    const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    if (!pid || processAlive(pid)) continue;
    const path = join(parent, name);
    if (prefix === OLD_PREFIX) {
      // Killed between setting the old tree aside and putting the new one in place: put it back.
      const target = join(parent, name.slice(OLD_PREFIX.length).replace(/-\d+-[0-9a-f]+$/, ""));
      if (!(await fsp.lstat(target).catch(() => null))) {
        log.warn(`putting ${path} back as ${target}: a restore with --force was killed while it swapped the trees`);
        await fsp.rename(path, target);
        continue;
      }
    }
    if (prefix === DELETING_PREFIX) {
      log.warn(`removing ${path}: an old tree a restore with --force was deleting when it was killed or failed`);
      await removeDoomed(path, log);
      continue;
    }
    log.warn(
      prefix === OLD_PREFIX
        ? `removing ${path}: a tree set aside by a restore with --force that was killed after the new tree was in place`
        : `removing ${path}: left by a restore that was killed before it finished (never part of a restored tree)`,
    );
    if (prefix === OLD_PREFIX) await removeAside(path, log);
    else await fsp.rm(path, { recursive: true, force: true });
  }
}

export interface Staging {
  /** Where the archive is extracted. */
  dir: string;
  /** Where it goes once checked. */
  target: string;
  /** The marker's inode: an archive file of the same name replaces it and is then kept. */
  markerIno: number;
}

export async function createStaging(target: string, source: string, backupId: string): Promise<Staging> {
  await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
  const dir = join(dirname(target), `${PARTIAL_PREFIX}${source}-${process.pid}-${randomBytes(4).toString("hex")}`);
  await fsp.mkdir(dir, { mode: 0o700 });
  const marker = join(dir, MARKER_NAME);
  await fsp.writeFile(
    marker,
    `strongbox: unfinished restore of backup ${backupId}, source ${source}, into ${target} (pid ${process.pid}, started ${new Date().toISOString()}).\n` +
      "This is not a restored tree; the next restore into this directory removes it.\n",
    { flag: "wx", mode: 0o600 },
  );
  return { dir, target, markerIno: (await fsp.lstat(marker)).ino };
}

/**
 * Removes a tree set aside by a --force restore, once the new tree is in place. One that cannot be
 * removed (a directory inside it without write permission) stays, with a warning: the restore is
 * done, and its exit code must say so; the next restore's sweep tries again, and warns again.
 */
export async function removeAside(path: string, log?: Logger): Promise<void> {
  // Renamed first: a tree half deleted must never be taken for one to put back (the sweep puts back
  // only a set-aside tree whose target is missing), whatever stops the deletion.
  // Named after this process, which is alive while it deletes: no other restore's sweep takes it.
  const source = basename(path)
    .slice(OLD_PREFIX.length)
    .replace(/-\d+-[0-9a-f]+$/, "");
  const doomed = join(dirname(path), `${DELETING_PREFIX}${source}-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await fsp.rename(path, doomed);
  } catch (err) {
    // Gone already; else left whole where it is (deleting it there could leave half a tree to put back).
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      log?.warn(
        `could not rename ${quoteShort(path)} to delete it (${describeError(err)}): the restored tree is in place; remove the old one by hand`,
      );
    return;
  }
  await removeDoomed(doomed, log);
}

async function removeDoomed(path: string, log?: Logger): Promise<void> {
  try {
    await fsp.rm(path, { recursive: true, force: true });
  } catch (err) {
    log?.warn(
      `could not remove ${quoteShort(path)}, the old tree a --force restore replaced (${describeError(err)}): the restored tree is in place; remove the old one by hand`,
    );
  }
}

/**
 * Puts a checked staging directory in place. An existing target (only with --force) is first set
 * aside, then deleted once the new tree is in place, so a failure never leaves a mixed tree.
 */
export async function commitStaging(s: Staging, log?: Logger): Promise<void> {
  await removeMarker(s);
  await fsp.chmod(s.dir, 0o755);
  const existing = await fsp.lstat(s.target).catch(() => null);
  if (!existing) {
    await fsp.rename(s.dir, s.target);
    return;
  }
  if (!existing.isDirectory()) throw new StrongboxError("USAGE", `${s.target} exists and is not a directory`);
  const aside = join(
    dirname(s.target),
    `${OLD_PREFIX}${basename(s.target)}-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  await fsp.rename(s.target, aside);
  await fsp.rename(s.dir, s.target);
  await removeAside(aside, log);
}

/**
 * Removes the staging directory's marker (unless an archive file of its name replaced it), keeping
 * the directory's times: the restore set them to the source root's.
 */
export async function removeMarker(s: Staging): Promise<void> {
  const marker = join(s.dir, MARKER_NAME);
  if ((await fsp.lstat(marker).catch(() => null))?.ino !== s.markerIno) return;
  const st = await fsp.stat(s.dir, { bigint: true });
  await fsp.unlink(marker);
  // The nearest double of the time read back is the one the restore set (see toSeconds, archive/extract.ts).
  const seconds = (ns: bigint) => toSeconds(mtimeString({ mtimeNs: ns }));
  await fsp.utimes(s.dir, seconds(st.atimeNs), seconds(st.mtimeNs));
}

export async function discardStaging(s: Staging): Promise<void> {
  await fsp.rm(s.dir, { recursive: true, force: true }).catch(() => {});
}

import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { tempName } from "../temp-names.js";

/** Spool files' names: `tempName`, so the next backup or prune removes one that a kill -9 left (commands/leftovers.ts). */
export const SPOOL_PREFIX = "strongbox-part-";

/** One multipart part (ciphertext only) on disk, so memory stays flat however big the part. */
export interface SpoolFile {
  path: string;
  fh: fsp.FileHandle;
  size: number;
  /**
   * Content-MD5 on every upload: the server stores our exact bytes or nothing. Updated as the part is
   * written, unless the body came with its parts' MD5s (PutOptions.partMd5).
   */
  md5: ReturnType<typeof createHash>;
}

export async function newSpool(dir: string): Promise<SpoolFile> {
  const path = join(dir, tempName(SPOOL_PREFIX)); // names its PID, so the next run can remove it after a kill -9
  const fh = await fsp.open(path, "wx+", 0o600);
  return { path, fh, size: 0, md5: createHash("md5") };
}

export async function discardSpool(s: SpoolFile): Promise<void> {
  await s.fh.close().catch(() => {});
  await fsp.unlink(s.path).catch(() => {});
}

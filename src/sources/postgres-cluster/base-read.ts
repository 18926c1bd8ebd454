import { dirname } from "node:path";
import { safeRelativePath } from "../../archive/safe-path.js";
import type { TarEntry } from "../../archive/tar-header.js";
import { TarReader } from "../../archive/tar-read.js";
import type { TreeSink } from "../../archive/tree-pass.js";
import { StrongboxError } from "../../errors.js";
import { parseBackupLabel, parseWalRanges } from "../../repository/lsn.js";
import type { ClusterManifest } from "../../repository/manifest.js";
import { quoteName } from "../../terminal-safe.js";

/** More entries than any real cluster's base backup holds: a forged archive cannot grow the name set without bound. */
export const MAX_BASE_ENTRIES = 5_000_000;
const LABEL_MAX = 64 * 1024;
const MANIFEST_TAIL = 64 * 1024;

export interface BaseFacts {
  entries: number;
  bytes: number;
  /** The owner of the cluster's files in the archive (PG_VERSION's), for a restore as root. */
  owner?: { uid: number; gid: number };
}

/**
 * The one pass restore and verify make over a base backup (pg_basebackup's tar): every name safe
 * and relative, nothing twice, nothing below a file, no symlinks (tablespaces are refused at backup
 * time), and the backup_label and backup_manifest inside agree with the manifest's WAL range, system
 * identifier and timeline. Entries go to `sink` (a disk sink for restore, nothing for verify), so both
 * reach the same verdict. Memory: the set of names (at most MAX_BASE_ENTRIES) and a few small files.
 */
export async function readBase(
  archive: AsyncIterable<Buffer>,
  m: ClusterManifest,
  sink: TreeSink,
  onBytes?: (n: number) => void,
): Promise<BaseFacts> {
  const r = new TarReader(archive);
  const files = new Set<string>();
  const dirs = new Set<string>();
  const facts: BaseFacts = { entries: 0, bytes: 0 };
  let label: Buffer | undefined;
  let manifestTail: Buffer | undefined;
  let control: Buffer | undefined;
  for (let e = await r.next(); e; e = await r.next()) {
    const rel = admit(e, files, dirs);
    if (++facts.entries > MAX_BASE_ENTRIES)
      throw new StrongboxError("VERIFY", `base backup holds more than ${MAX_BASE_ENTRIES} entries: refusing`);
    if (e.type === "dir") {
      await sink.dir(rel, e);
      continue;
    }
    if (rel === "PG_VERSION") facts.owner = { uid: e.uid, gid: e.gid };
    const out = await sink.file(rel, e);
    let kept = Buffer.alloc(0);
    for await (const chunk of r.body()) {
      facts.bytes += chunk.length;
      onBytes?.(chunk.length);
      if (rel === "backup_label" || rel === "global/pg_control")
        kept = Buffer.concat([kept, chunk]).subarray(0, LABEL_MAX + 1);
      else if (rel === "backup_manifest") kept = Buffer.concat([kept, chunk]).subarray(-MANIFEST_TAIL);
      await out.write(chunk);
    }
    await out.end();
    if (rel === "backup_label") label = kept;
    if (rel === "backup_manifest") manifestTail = kept;
    if (rel === "global/pg_control") control = kept;
  }
  await sink.finish();
  checkAgainstManifest(m, label, manifestTail, control);
  return facts;
}

function admit(e: TarEntry, files: Set<string>, dirs: Set<string>): string {
  const rel = safeRelativePath(e.path);
  if (e.type === "symlink")
    throw new StrongboxError(
      "VERIFY",
      `base backup entry ${quoteName(rel)} is a symlink (a tablespace?): strongbox base backups hold none; refusing`,
    );
  if (files.has(rel) || dirs.has(rel))
    throw new StrongboxError("VERIFY", `base backup holds ${quoteName(rel)} twice: refusing`);
  for (let d = rel.includes("/") ? dirname(rel) : ""; d; d = d.includes("/") ? dirname(d) : "")
    if (files.has(d))
      throw new StrongboxError(
        "VERIFY",
        `base backup entry ${quoteName(rel)} lies below the file ${quoteName(d)}: refusing`,
      );
  (e.type === "dir" ? dirs : files).add(rel);
  return rel;
}

/** The backup's own records (backup_label, backup_manifest, pg_control) must say what the manifest says. */
function checkAgainstManifest(
  m: ClusterManifest,
  label: Buffer | undefined,
  manifestTail: Buffer | undefined,
  control: Buffer | undefined,
): void {
  const bad = (why: string) => new StrongboxError("VERIFY", `base backup ${m.object}: ${why} (forged or damaged)`);
  if (!label || label.length > LABEL_MAX) throw bad("no backup_label of a sane size");
  if (!manifestTail) throw bad("no backup_manifest");
  if (!control || control.length < 8) throw bad("no global/pg_control");
  let parsed;
  let range;
  try {
    parsed = parseBackupLabel(label.toString("utf8"));
    range = parseWalRanges(manifestTail.toString("utf8"));
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (parsed.startLsn !== m.start_lsn || parsed.timeline !== m.timeline || parsed.startSegment !== m.start_wal)
    throw bad(
      `backup_label starts at ${parsed.startLsn} on timeline ${parsed.timeline}, the manifest says ${m.start_lsn} on timeline ${m.timeline}`,
    );
  if (range.startLsn !== m.start_lsn || range.endLsn !== m.stop_lsn || range.timeline !== m.timeline)
    throw bad(
      `backup_manifest's WAL range is ${range.startLsn}-${range.endLsn} on timeline ${range.timeline}, the manifest says ${m.start_lsn}-${m.stop_lsn} on timeline ${m.timeline}`,
    );
  const sysid = control.readBigUInt64LE(0).toString();
  if (sysid !== m.system_identifier)
    throw bad(`pg_control's system identifier is ${sysid}, the manifest says ${m.system_identifier}`);
}

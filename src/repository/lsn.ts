import { StrongboxError } from "../errors.js";

/** A PostgreSQL LSN as text ("16/B374D848"): two hex numbers of at most 8 digits. */
const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

export function isLsn(text: unknown): text is string {
  return typeof text === "string" && LSN.test(text);
}

/** An LSN as a bigint, for comparing; a malformed one is a usage error naming `what`. */
export function lsnValue(text: string, what = "LSN"): bigint {
  const m = LSN.exec(text);
  if (!m)
    throw new StrongboxError("USAGE", `${what} ${JSON.stringify(text.slice(0, 40))} is not an LSN such as 0/3000028`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** What a backup_label says about where its WAL starts. */
export interface BackupLabel {
  startLsn: string;
  timeline: number;
  /** The segment file that holds the start LSN ("000000010000000000000002"). */
  startSegment: string;
}

/**
 * Parses pg_basebackup's backup_label (small, text): "START WAL LOCATION: 0/2000028 (file
 * 000000010000000000000002)" and "START TIMELINE: 1". Anything else is an error naming the problem.
 */
export function parseBackupLabel(text: string): BackupLabel {
  const loc = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/im.exec(text);
  const tli = /^START TIMELINE: (\d{1,10})$/im.exec(text);
  if (!loc || !tli || !isLsn(loc[1]))
    throw new StrongboxError("SOURCE", "backup_label has no START WAL LOCATION or START TIMELINE line");
  const timeline = Number(tli[1]);
  if (timeline < 1 || timeline > 0xffffffff)
    throw new StrongboxError("SOURCE", `backup_label: timeline ${tli[1]} out of range`);
  return { startLsn: loc[1].toUpperCase(), timeline, startSegment: loc[2].toUpperCase() };
}

/** The WAL range a backup_manifest records: the last "WAL-Ranges" entry's timeline, start and end. */
export function parseWalRanges(manifestTail: string): { timeline: number; startLsn: string; endLsn: string } {
  const ranges = [
    ...manifestTail.matchAll(
      /\{\s*"Timeline":\s*(\d{1,10}),\s*"Start-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)",\s*"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"\s*\}/gi,
    ),
  ];
  if (!ranges.length) throw new StrongboxError("SOURCE", "backup_manifest has no WAL-Ranges entry");
  const first = ranges[0];
  const last = ranges[ranges.length - 1];
  return { timeline: Number(last[1]), startLsn: first[2].toUpperCase(), endLsn: last[3].toUpperCase() };
}

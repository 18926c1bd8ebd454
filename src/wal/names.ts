/**
 * WAL file names and their repository keys (docs/wal-archiving.md, "Layout").
 *
 * A segment is `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, then the segment number split in two); PostgreSQL
 * also archives `<segment>.partial` (the last, unfinished segment of an old timeline), `<segment>.<8 hex>.backup`
 * (a base backup's label) and `TTTTTTTT.history` (a timeline's ancestry). Nothing else is a WAL file:
 * every other name is refused before it reaches a key or a path.
 */

export type WalKind = "segment" | "partial" | "backup" | "history";

export interface WalName {
  name: string;
  kind: WalKind;
  timeline: number;
  /** The segment's 24 hex digits (absent for a history file). */
  segment?: string;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{24})\.partial$/;
const BACKUP = /^([0-9A-F]{24})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** The WAL file a name stands for, or null: never a path, never lower case, never anything else. */
export function parseWalName(name: string): WalName | null {
  let m: RegExpExecArray | null;
  const tli = (hex: string) => parseInt(hex.slice(0, 8), 16);
  if ((m = SEGMENT.exec(name))) return { name, kind: "segment", timeline: tli(name), segment: name };
  if ((m = PARTIAL.exec(name))) return { name, kind: "partial", timeline: tli(m[1]), segment: m[1] };
  if ((m = BACKUP.exec(name))) return { name, kind: "backup", timeline: tli(m[1]), segment: m[1] };
  if ((m = HISTORY.exec(name))) return tli(m[1]) > 0 ? { name, kind: "history", timeline: tli(m[1]) } : null;
  return null;
}

export const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

/** Segments per "xlog id" (the middle 8 hex digits) for a segment size. */
const perId = (segSize: number) => 0x1_0000_0000n / BigInt(segSize);

/** The segment number of a 24-hex segment name. */
export function segmentNumber(segment: string, segSize: number): bigint {
  return BigInt(`0x${segment.slice(8, 16)}`) * perId(segSize) + BigInt(`0x${segment.slice(16, 24)}`);
}

/** The 24-hex name of segment `segno` on `timeline`. */
export function segmentName(timeline: number, segno: bigint, segSize: number): string {
  const id = segno / perId(segSize);
  const seg = segno % perId(segSize);
  return hex8(timeline) + hex8(Number(id)) + hex8(Number(seg));
}

/** "16/B374D848" → bigint; null when it is not an LSN. */
export function parseLsn(text: string): bigint | null {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text);
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : null;
}

export const formatLsn = (lsn: bigint) =>
  `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;

/** Where the WAL of one cluster lives: `wal/<system identifier>/`. */
export const walRoot = (systemId: string) => `wal/${systemId}/`;

/**
 * The key of one archived WAL file: `wal/<sysid>/<timeline>/<name>.<sha256 of the plaintext>[.<signature>].<ext>.age`.
 * The content is part of the key, so a create-only put of the same file again finds it stored (a retry:
 * success), and a different file under the same name lands beside it (never over it). A host with a
 * signing key puts its raw Ed25519 signature (128 hex digits, wal/signature.ts) in the key too:
 * deterministic, so a retry still computes the same key.
 */
export function walKey(systemId: string, w: WalName, sha256: string, ext: string, signature?: string): string {
  return `${walRoot(systemId)}${hex8(w.timeline)}/${w.name}.${sha256}${signature ? `.${signature}` : ""}${ext}.age`;
}

export interface ParsedWalKey {
  key: string;
  systemId: string;
  wal: WalName;
  sha256: string;
  /** The raw Ed25519 signature in the key (128 hex digits), absent in an unsigned key. */
  signature?: string;
  ext: "" | ".zst" | ".gz";
}

/** The longest key `walKey` writes; anything longer is refused before a regular expression sees it. */
export const MAX_WAL_KEY = 320;

const KEY =
  /^wal\/([1-9][0-9]{0,19})\/([0-9A-F]{8})\/([0-9A-F.a-z]{8,48})\.([0-9a-f]{64})(?:\.([0-9a-f]{128}))?(\.zst|\.gz|)\.age$/;

/** A key as `walKey` writes it, or null (anything else under wal/ is not a WAL file of ours). */
export function parseWalKey(key: string): ParsedWalKey | null {
  const m = key.length <= MAX_WAL_KEY ? KEY.exec(key) : null;
  if (!m) return null;
  const wal = parseWalName(m[3]);
  if (!wal || hex8(wal.timeline) !== m[2]) return null;
  const ext = m[6] as ParsedWalKey["ext"];
  return { key, systemId: m[1], wal, sha256: m[4], ...(m[5] ? { signature: m[5] } : {}), ext };
}

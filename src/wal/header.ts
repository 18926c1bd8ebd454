import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { StrongboxError } from "../errors.js";
import { reasonOf } from "../system-error.js";
import { segmentNumber, type WalName } from "./names.js";

/** XLogLongPageHeaderData: the first page of every segment (PostgreSQL's access/xlog_internal.h). */
export const LONG_HEADER_BYTES = 40;
const XLP_LONG_HEADER = 0x0002;
/** wal_segment_size: a power of two from 1 MiB to 1 GiB. */
export const MIN_SEGMENT = 1 << 20;
export const MAX_SEGMENT = 1 << 30;
/** pg_control is always written as 8 KiB (PG_CONTROL_FILE_SIZE); system_identifier is its first field. */
const PG_CONTROL_FILE_SIZE = 8192;

export interface SegmentHeader {
  systemId: string;
  timeline: number;
  pageAddress: bigint;
  segmentSize: number;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * The long page header of a segment's first page, checked against the segment's name: the flag, the
 * timeline, the page address (the segment's own start) and a plausible segment size. `what` names
 * the file in the one-line error.
 */
export function readSegmentHeader(first: Buffer, w: WalName, what: string): SegmentHeader {
  const bad = (why: string) => new StrongboxError("VERIFY", `${what}: not a WAL segment of ${w.name} (${why})`);
  if (first.length < LONG_HEADER_BYTES) throw bad(`${first.length} bytes, shorter than a page header`);
  const info = first.readUInt16LE(2);
  if (!(info & XLP_LONG_HEADER)) throw bad("its first page has no long header");
  const timeline = first.readUInt32LE(4);
  if (timeline !== w.timeline) throw bad(`header timeline ${timeline}, name timeline ${w.timeline}`);
  const segmentSize = first.readUInt32LE(32);
  if (!isPow2(segmentSize) || segmentSize < MIN_SEGMENT || segmentSize > MAX_SEGMENT)
    throw bad(`implausible segment size ${segmentSize}`);
  const pageAddress = first.readBigUInt64LE(8);
  const expected = segmentNumber(w.segment!, segmentSize) * BigInt(segmentSize);
  if (pageAddress !== expected)
    throw bad(`page address ${pageAddress.toString(16)}, the name says ${expected.toString(16)}`);
  const sysid = first.readBigUInt64LE(24);
  if (sysid === 0n) throw bad("system identifier 0");
  return { systemId: sysid.toString(), timeline, pageAddress, segmentSize };
}

/**
 * The system identifier in `<dataDir>/global/pg_control`. PostgreSQL runs archive_command and
 * restore_command in the data directory, so `.` is the cluster being archived or restored.
 */
export async function controlSystemId(dataDir: string): Promise<string> {
  const path = join(dataDir, "global", "pg_control");
  let bytes: Buffer;
  try {
    const fh = await fsp.open(path, "r");
    try {
      const st = await fh.stat();
      if (st.size !== PG_CONTROL_FILE_SIZE)
        throw new StrongboxError("SOURCE", `${path}: ${st.size} bytes, not a pg_control file (8192)`);
      bytes = Buffer.alloc(8);
      await fh.read(bytes, 0, 8, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof StrongboxError) throw err;
    throw new StrongboxError(
      "SOURCE",
      `cannot read the system identifier from ${path} (${reasonOf(err)}); run in the data directory or pass --system-id`,
    );
  }
  const id = bytes.readBigUInt64LE(0);
  if (id === 0n) throw new StrongboxError("SOURCE", `${path}: system identifier 0, not a pg_control file`);
  return id.toString();
}

/** A --system-id value: PostgreSQL's decimal 64-bit system identifier. */
export function parseSystemId(text: string): string {
  if (!/^[1-9][0-9]{0,19}$/.test(text) || BigInt(text) >= 1n << 64n)
    throw new StrongboxError("USAGE", `--system-id must be the cluster's decimal system identifier, not '${text}'`);
  return text;
}

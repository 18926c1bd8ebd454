import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SEG = 16 * 1024 * 1024;

/** The 24-hex name of segment `segno` on `tli` (16 MiB segments). */
export function segName(tli: number, segno: number): string {
  const h = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return h(tli) + h(Math.floor(segno / 256)) + h(segno % 256);
}

/**
 * A WAL segment as PostgreSQL archives it, as far as strongbox looks: a long page header (flag,
 * timeline, page address, system identifier, segment size) and `fill` bytes after it (random by default).
 */
export function makeSegment(o: { sysid: bigint; tli: number; segno: number; size?: number; fill?: Buffer }): Buffer {
  const size = o.size ?? SEG;
  const b = Buffer.alloc(size);
  (o.fill ?? randomBytes(64 * 1024)).copy(b, 64);
  b.writeUInt16LE(0xd110, 0); // PostgreSQL 15's magic
  b.writeUInt16LE(0x0002 | 0x0004, 2); // XLP_LONG_HEADER | XLP_BKP_REMOVABLE
  b.writeUInt32LE(o.tli, 4);
  b.writeBigUInt64LE(BigInt(o.segno) * BigInt(SEG), 8);
  b.writeBigUInt64LE(o.sysid, 24);
  b.writeUInt32LE(SEG, 32);
  b.writeUInt32LE(8192, 36);
  return b;
}

/** A data directory with just `global/pg_control` (8 KiB, system identifier first) and `pg_wal/`. */
export function makeDataDir(dir: string, sysid: bigint): string {
  mkdirSync(join(dir, "global"), { recursive: true });
  mkdirSync(join(dir, "pg_wal"), { recursive: true });
  const control = Buffer.alloc(8192);
  control.writeBigUInt64LE(sysid, 0);
  writeFileSync(join(dir, "global", "pg_control"), control);
  return dir;
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
export const SYSID = 7_300_000_000_000_000_123n;

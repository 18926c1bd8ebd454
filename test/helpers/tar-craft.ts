// Builds tar archives byte by byte, including ones no honest writer makes, for the hostile-archive tests.
import { BLOCK } from "../../src/archive/tar-header.js";

export interface RawFields {
  name: string;
  typeflag?: string;
  /** The 12-byte size field as written (octal text), or raw bytes (e.g. base-256). */
  size?: string | Buffer;
  mode?: string;
  uid?: string;
  mtime?: string;
  linkname?: string;
  magic?: "ustar\u000000" | "ustar  \u0000" | "";
  prefix?: string;
  /** Corrupt the checksum on purpose. */
  badChecksum?: boolean;
}

function field(h: Buffer, off: number, len: number, v: string | Buffer) {
  if (typeof v === "string") h.write(v, off, len, "utf8");
  else v.copy(h, off, 0, Math.min(len, v.length));
}

/** One 512-byte header with a correct checksum (unless asked otherwise). */
export function rawHeader(f: RawFields): Buffer {
  const h = Buffer.alloc(BLOCK);
  field(h, 0, 100, f.name);
  field(h, 100, 8, f.mode ?? "0000644\0");
  field(h, 108, 8, f.uid ?? "0000000\0");
  field(h, 116, 8, "0000000\0");
  field(h, 124, 12, f.size ?? "00000000000\0");
  field(h, 136, 12, f.mtime ?? "14621403000\0");
  h.write(f.typeflag ?? "0", 156, 1, "latin1");
  field(h, 157, 100, f.linkname ?? "");
  const magic = f.magic ?? "ustar\u000000";
  if (magic) h.write(magic, 257, 8, "latin1");
  if (f.prefix) field(h, 345, 155, f.prefix);
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (f.badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return h;
}

export function octalSize(n: number): string {
  return n.toString(8).padStart(11, "0") + "\0";
}

export function padTo512(b: Buffer): Buffer {
  const pad = (BLOCK - (b.length % BLOCK)) % BLOCK;
  return Buffer.concat([b, Buffer.alloc(pad)]);
}

/** A PAX record, length prefix computed. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** A PAX extended header ('x') block with its body. */
export function paxHeader(records: string): Buffer {
  const body = Buffer.from(records, "utf8");
  return Buffer.concat([rawHeader({ name: "PaxHeader", typeflag: "x", size: octalSize(body.length) }), padTo512(body)]);
}

/** A GNU long name ('L') or long link ('K') header with its body. */
export function gnuLong(kind: "L" | "K", value: string): Buffer {
  const body = Buffer.from(value + "\0", "utf8");
  return Buffer.concat([
    rawHeader({ name: "././@LongLink", typeflag: kind, size: octalSize(body.length), magic: "ustar  \u0000" }),
    padTo512(body),
  ]);
}

/** A regular file entry with a body. */
export function fileEntry(name: string, body: string | Buffer, extra: Partial<RawFields> = {}): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  return Buffer.concat([rawHeader({ name, size: octalSize(b.length), ...extra }), padTo512(b)]);
}

export const END = Buffer.alloc(BLOCK * 2);

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

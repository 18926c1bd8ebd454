// POSIX ustar headers with PAX extended records, the subset strongbox writes and reads.
import { StrongboxError } from "../errors.js";

export const BLOCK = 512;
export type EntryType = "file" | "dir" | "symlink";

export interface TarEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, with up to 9 fractional digits, as PAX writes it. */
  mtime: string;
  linkname?: string;
  /**
   * Directories of a differential (GNU incremental) archive: the dumpdir, every entry of the
   * directory as a kind letter (Y stored here, N unchanged since the full, D directory) and its
   * name, each NUL-terminated, then a final NUL. Written as the PAX record GNU.dumpdir.
   */
  dumpdir?: string;
}

const TYPEFLAG: Record<EntryType, number> = { file: 0x30, dir: 0x35, symlink: 0x32 }; // "0", "5", "2"

/** `value` as len-1 octal digits and a NUL; false (nothing written) when it does not fit. */
function octal(buf: Buffer, off: number, len: number, value: number): boolean {
  let v = Math.floor(value);
  if (v >= 8 ** (len - 1)) return false;
  buf[off + len - 1] = 0;
  for (let i = off + len - 2; i >= off; i--) {
    buf[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  return true;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let len = bytes + 1;
  while (String(len).length + bytes !== len) len = String(len).length + bytes;
  return `${len}${body}`;
}

const PLAIN = /^[\x20-\x7e]*$/;

function isPlainAscii(s: string, max: number): boolean {
  return s.length <= max && PLAIN.test(s); // plain ASCII: one byte a character
}

const USTAR = Buffer.from("ustar\0" + "00", "latin1");

/** One 512-byte ustar header at buf[off], which must be zero. */
function rawHeader(
  buf: Buffer,
  off: number,
  name: string,
  e: Omit<TarEntry, "path">,
  typeflag: number,
  size: number,
): void {
  buf.write(name, off, 100, "utf8");
  octal(buf, off + 100, 8, e.mode & 0o7777);
  if (!octal(buf, off + 108, 8, e.uid)) octal(buf, off + 108, 8, 0);
  if (!octal(buf, off + 116, 8, e.gid)) octal(buf, off + 116, 8, 0);
  octal(buf, off + 124, 12, size);
  octal(buf, off + 136, 12, Math.max(0, Math.floor(Number(e.mtime))));
  buf[off + 156] = typeflag;
  if (e.linkname && isPlainAscii(e.linkname, 100)) buf.write(e.linkname, off + 157, 100, "utf8");
  USTAR.copy(buf, off + 257);
  buf.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += buf[i]; // indexed: a Buffer's iterator costs ~10× more per header
  octal(buf, off + 148, 7, sum); // six digits and a NUL (the largest sum, 512 × 255, has six), then the space
}

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export function paddingFor(size: number): Buffer {
  return Buffer.alloc(pad(size));
}

/** What an entry's header needs: its PAX records (when ustar cannot hold a field exactly) and its length. */
export interface HeaderPlan {
  entry: TarEntry;
  name: string;
  pax: string;
  paxBytes: number;
  /** Bytes of the whole header: 512, or a PAX header, its padded records and then the 512. */
  length: number;
}

export function planHeader(e: TarEntry): HeaderPlan {
  const name = e.type === "dir" ? `${e.path}/` : e.path;
  let pax = "";
  if (!isPlainAscii(name, 100)) pax += paxRecord("path", name);
  if (e.linkname !== undefined && !isPlainAscii(e.linkname, 100)) pax += paxRecord("linkpath", e.linkname);
  if (e.size > 0o77777777777) pax += paxRecord("size", String(e.size));
  // ustar's field holds whole seconds from 1970 to 2242 (11 octal digits): anything else goes in PAX.
  if (e.mtime.includes(".") || e.mtime.startsWith("-") || Number(e.mtime) >= 8 ** 11)
    pax += paxRecord("mtime", e.mtime);
  if (e.uid > 0o7777777) pax += paxRecord("uid", String(e.uid));
  if (e.gid > 0o7777777) pax += paxRecord("gid", String(e.gid));
  if (e.type === "dir" && e.dumpdir !== undefined) pax += paxRecord("GNU.dumpdir", e.dumpdir);
  const paxBytes = pax ? Buffer.byteLength(pax) : 0;
  return { entry: e, name, pax, paxBytes, length: pax ? BLOCK + blocksFor(paxBytes) + BLOCK : BLOCK };
}

/** Writes a planned header at buf[off] (plan.length bytes, zeroed here first). */
export function writeHeader(buf: Buffer, off: number, plan: HeaderPlan): void {
  const e = plan.entry;
  buf.fill(0, off, off + plan.length);
  if (plan.pax) {
    rawHeader(buf, off, "PaxHeader", { ...e, mtime: e.mtime.split(".")[0] }, 0x78 /* x */, plan.paxBytes);
    buf.write(plan.pax, off + BLOCK, plan.paxBytes, "utf8");
    off += BLOCK + blocksFor(plan.paxBytes);
  }
  rawHeader(
    buf,
    off,
    isPlainAscii(plan.name, 100) ? plan.name : "strongbox-long-name",
    e,
    TYPEFLAG[e.type],
    e.type === "file" ? e.size : 0,
  );
}

/** The header block(s) for an entry: a PAX header first whenever ustar cannot hold a field exactly. */
export function encodeHeader(e: TarEntry): Buffer {
  const plan = planHeader(e);
  const buf = Buffer.allocUnsafe(plan.length);
  writeHeader(buf, 0, plan);
  return buf;
}

export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  typeflag: string;
  linkname: string;
}

function readString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString("utf8", off, end < 0 || end > off + len ? off + len : end);
}

/** The largest value any numeric field may take: beyond it JavaScript numbers lose integers. */
const MAX_FIELD = Number.MAX_SAFE_INTEGER;

function corrupt(field: string): StrongboxError {
  return new StrongboxError("VERIFY", `tar: corrupt header (${field} field)`);
}

/**
 * A numeric header field: octal digits (leading spaces or zeros, then NUL/space padding, as every
 * tar writes them), or GNU base-256 when the first byte has its high bit set. Base-256 values
 * carry a sign bit; a negative value, or one past 2^53, is a corrupt header, never a number.
 */
function readOctal(h: Buffer, off: number, len: number, field: string): number {
  if (h[off] & 0x80) {
    if (h[off] & 0x40) throw corrupt(`${field}: negative`);
    let v = h[off] & 0x3f;
    for (let i = off + 1; i < off + len; i++) {
      v = v * 256 + h[i];
      if (v > MAX_FIELD) throw corrupt(`${field}: too large`);
    }
    return v;
  }
  const s = h
    .toString("latin1", off, off + len)
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(field);
  const v = parseInt(s, 8);
  if (v > MAX_FIELD) throw corrupt(`${field}: too large`);
  return v;
}

/** PAX size, uid and gid: plain decimal digits only (no sign, exponent, hex, spaces or fraction). */
export function paxInteger(value: string, field: string): number {
  if (!/^[0-9]{1,16}$/.test(value)) throw corrupt(`PAX ${field}=${JSON.stringify(value.slice(0, 40))}`);
  const v = Number(value);
  if (v > MAX_FIELD) throw corrupt(`PAX ${field}: too large`);
  return v;
}

/** Latest mtime accepted: 9999-12-31T23:59:59Z. Beyond it utimes fails, and no real file has one. */
export const MAX_MTIME = 253402300799;
/** Earliest mtime accepted: 0001-01-01T00:00:00Z (a file from before 1970 has a negative one). */
export const MIN_MTIME = -62135596800;

/** PAX mtime: decimal seconds with an optional fraction ("1700000000.123456789"; "-1.5" before 1970). */
export function paxTime(value: string): string {
  if (!/^-?[0-9]{1,12}(\.[0-9]{1,9})?$/.test(value) || Number(value) > MAX_MTIME || Number(value) < MIN_MTIME)
    throw corrupt(`PAX mtime=${JSON.stringify(value.slice(0, 40))}`);
  return value;
}

export function isZeroBlock(h: Buffer): boolean {
  for (const b of h) if (b !== 0) return false;
  return true;
}

export function decodeHeader(h: Buffer): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  if (readOctal(h, 148, 8, "checksum") !== sum)
    throw new StrongboxError("VERIFY", "tar: header checksum mismatch (archive corrupt)");
  let name = readString(h, 0, 100);
  // Only POSIX ustar ("ustar\0") has a name prefix; old GNU headers ("ustar  ") keep other fields there.
  if (h.toString("latin1", 257, 263) === "ustar\0") {
    const prefix = readString(h, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const mtime = readOctal(h, 136, 12, "mtime");
  if (mtime > MAX_MTIME) throw corrupt("mtime: too large");
  return {
    name,
    mode: readOctal(h, 100, 8, "mode") & 0o7777,
    uid: readOctal(h, 108, 8, "uid"),
    gid: readOctal(h, 116, 8, "gid"),
    size: readOctal(h, 124, 12, "size"),
    mtime: String(mtime),
    typeflag: String.fromCharCode(h[156] || 0x30),
    linkname: readString(h, 157, 100),
  };
}

/** The PAX keys strongbox acts on; every other key (atime, charset, vendor keys) is ignored. */
const PAX_KEYS = new Set(["path", "linkpath", "size", "uid", "gid", "mtime", "GNU.dumpdir"]);

/**
 * Parses PAX records ("<len> <key>=<value>\n") into `into`, in place: later records win, as POSIX
 * says, and the work is linear in the body's size.
 */
export function parsePax(body: Buffer, into: Record<string, string>): void {
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    const digits = sp < 0 ? "" : body.toString("latin1", off, sp);
    if (!/^[1-9][0-9]{0,7}$/.test(digits))
      throw new StrongboxError("VERIFY", "tar: corrupt PAX header (record length)");
    const len = Number(digits);
    if (off + len > body.length || body[off + len - 1] !== 0x0a)
      throw new StrongboxError("VERIFY", "tar: corrupt PAX header (record framing)");
    const rec = body.toString("utf8", sp + 1, off + len - 1);
    const eq = rec.indexOf("=");
    if (eq <= 0) throw new StrongboxError("VERIFY", "tar: corrupt PAX header (record without key)");
    const key = rec.slice(0, eq);
    if (PAX_KEYS.has(key)) into[key] = rec.slice(eq + 1);
    off += len;
  }
}

export function blocksFor(size: number): number {
  return size + pad(size);
}

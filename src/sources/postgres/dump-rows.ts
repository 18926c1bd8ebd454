// Rows per table, counted from pg_dump's own output as it streams to the repository: the custom format
// without compression (`pg_dump -Fc -Z0`, what the postgres source runs) is a header, a table of
// contents, then one block per TABLE DATA entry holding its COPY text in length-prefixed chunks. A COPY
// text row ends with the one newline it holds (a newline inside a value is written as `\n`), so a table's
// rows are the newlines of its block. Layout: PostgreSQL's src/bin/pg_dump/pg_backup_archiver.c
// (WriteHead, WriteToc, WriteInt, WriteStr) and pg_backup_custom.c (_StartData, _EndData, the LO blocks).
//
// This reads the output of the pg_dump strongbox itself started, never a repository object. Anything it
// does not expect (another archive version, compression, a malformed block, a TOC over the bound) makes
// it stop and say why; the source then counts with SELECT count(*) in the dump's snapshot, as before.

/** Archive versions whose TOC layout this knows: 1.12 (PostgreSQL 9.5) to 1.16 (17, 18). */
const MIN_VERSION = 12;
const MAX_VERSION = 16;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
/** A larger table of contents (a schema of tens of thousands of objects) is counted the old way. */
const TOC_LIMIT = 32 * 1024 * 1024;

class NeedMore extends Error {}

/** pg_dump's WriteInt: a sign byte, then `size` bytes, least significant first. */
function intAt(bytes: ArrayLike<number>, at: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v += bytes[at + 1 + i] * 2 ** (8 * i);
  return bytes[at] ? -v : v;
}

/** The newlines in bytes [s, e) of `b`. pg_dump writes a row a chunk: the first is then the last byte. */
function newlinesIn(b: Buffer, s: number, e: number): number {
  let i = b.indexOf(10, s);
  if (i === e - 1) return 1;
  let n = 0;
  for (; i !== -1 && i < e; i = b.indexOf(10, i + 1)) n++;
  return n;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A table's name as the TOC gives it, or null where it cannot be matched to the catalog's. */
type TableName = { schema: string; name: string } | null;

/** A cursor over the bytes held so far; running past their end throws NeedMore. */
class Cursor {
  pos = 0;
  intSize = 4;
  constructor(readonly buf: Buffer) {}
  byte(): number {
    if (this.pos >= this.buf.length) throw new NeedMore();
    return this.buf[this.pos++];
  }
  int(): number {
    this.skip(1 + this.intSize);
    return intAt(this.buf, this.pos - 1 - this.intSize, this.intSize);
  }
  /** A string (NULL is null); one that is not UTF-8 is undefined. */
  str(): string | null | undefined {
    const at = this.pos;
    if (!this.skipStr()) return null;
    try {
      return UTF8.decode(this.buf.subarray(at + 1 + this.intSize, this.pos));
    } catch {
      return undefined;
    }
  }
  /** Past a string; false if it was NULL. */
  skipStr(): boolean {
    const n = this.int();
    if (n < 0) return false;
    this.skip(n);
    return true;
  }
  skip(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMore();
    this.pos += n;
  }
}

/**
 * The TABLE DATA entries of the table of contents (dumpId → schema and table), and where the data
 * begins. Names are in the dump's encoding (its ENCODING entry) and the catalog's (node-postgres) in
 * UTF-8: outside UTF-8 only an ASCII name is taken as what it says; any other is null (not matched).
 */
function readToc(c: Cursor): { tables: Map<number, TableName>; end: number } {
  c.skip(5);
  if (c.buf.toString("latin1", 0, 5) !== "PGDMP") throw new Error("not a pg_dump custom-format archive");
  const [major, minor] = [c.byte(), c.byte()];
  c.byte();
  if (major !== 1 || minor < MIN_VERSION || minor > MAX_VERSION) throw new Error(`archive version 1.${minor}`);
  c.intSize = c.byte();
  const offSize = c.byte();
  if (c.intSize < 1 || c.intSize > 6 || offSize < 1 || offSize > 16) throw new Error("unexpected int or offset size");
  if (c.byte() !== 1) throw new Error("not the custom format");
  const compression = minor >= 15 ? c.byte() : c.int();
  if (compression !== 0) throw new Error("a compressed archive");
  for (let i = 0; i < 7; i++) c.int(); // creation time
  for (let i = 0; i < 3; i++) c.skipStr(); // database, server version, pg_dump version
  const count = c.int();
  const data = new Map<number, { schema: string | null | undefined; name: string | null | undefined }>();
  let utf8 = false;
  for (let i = 0; i < count; i++) {
    const dumpId = c.int();
    c.int(); // had a data dumper
    c.skipStr(); // table oid
    c.skipStr(); // oid
    const tag = c.str();
    const desc = c.str();
    c.int(); // section
    const definition = desc === "ENCODING" ? c.str() : c.skipStr();
    if (desc === "ENCODING") utf8 = /^SET client_encoding = '(UTF8|UTF-8|UNICODE)';/i.test(String(definition));
    c.skipStr(); // drop statement
    c.skipStr(); // copy statement
    const namespace = c.str();
    c.skipStr(); // tablespace
    if (minor >= 14) c.skipStr(); // table access method
    if (minor >= 16) c.int(); // relkind
    c.skipStr(); // owner
    c.skipStr(); // with oids
    while (c.skipStr()); // dependencies, to a NULL
    c.byte(); // data offset: its state, then offSize bytes
    c.skip(offSize);
    if (desc === "TABLE DATA") {
      if (data.has(dumpId)) throw new Error("an unexpected TABLE DATA entry");
      data.set(dumpId, { schema: namespace, name: tag });
    }
  }
  const usable = (s: string | null | undefined): s is string =>
    typeof s === "string" && (utf8 || /^[\x00-\x7f]*$/.test(s));
  const tables = new Map<number, TableName>();
  for (const [id, t] of data)
    tables.set(id, usable(t.schema) && usable(t.name) ? { schema: t.schema, name: t.name } : null);
  return { tables, end: c.pos };
}

type State = "block" | "id" | "len" | "body" | "lo" | "lolen" | "lobody";

/** What pg_dump writes after a table's COPY rows: the end-of-data line `\.` and two empty lines. */
const TERMINATOR = Buffer.from("\\.\n\n\n", "latin1");

/**
 * Fed every byte of pg_dump's output in order (push), it knows at the end (result) how many rows each
 * table's block held. It never throws: what it cannot follow it records, and stops. It keeps no
 * reference to a chunk after push returns (chunks may be pooled and reused).
 */
export class DumpRowCounter {
  private head: Buffer[] = [];
  private headBytes = 0;
  private nextTry = 0;
  private tables: Map<number, TableName> | null = null;
  private rows = new Map<number, number>();
  private failed: string | null = null;
  private intSize = 4;
  private state: State = "block";
  private blockType = 0;
  private current = -1;
  private newlines = 0;
  private left = 0;
  /** A number split between two chunks: its bytes so far. */
  private partial: number[] = [];
  /** The last bytes (up to 6) of the current block's content: a reference into the chunk, or a copy. */
  private tailOf: Buffer | null = null;
  private tailEnd = 0;
  private tail: number[] = [];

  push(chunk: Buffer): void {
    if (this.failed !== null) return;
    try {
      if (this.tables === null) {
        this.head.push(Buffer.from(chunk)); // a copy: the chunk is not ours to keep
        this.headBytes += chunk.length;
        // Parse again only once the bytes held have doubled: linear however small the chunks.
        if (this.headBytes >= this.nextTry) this.toc();
        this.bound();
      } else this.data(chunk, 0);
      this.tail = this.tailBytes(); // the chunk is not ours to keep
      this.tailOf = null;
    } catch (err) {
      this.fail((err as Error).message);
    }
  }

  /** The table of contents, if the bytes held have all of it; then the data after it. */
  private toc(): void {
    const all = Buffer.concat(this.head, this.headBytes);
    const c = new Cursor(all);
    let toc;
    try {
      toc = readToc(c);
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
      this.head = [all];
      this.nextTry = this.headBytes * 2;
      return;
    }
    this.tables = toc.tables;
    this.intSize = c.intSize;
    this.head = [];
    this.data(all, toc.end);
  }

  private bound(): void {
    if (this.tables === null && this.headBytes > TOC_LIMIT)
      this.fail(`a table of contents over ${TOC_LIMIT >> 20} MiB`);
  }

  private fail(why: string): void {
    this.failed = why;
    this.head = [];
  }

  private tailBytes(): number[] {
    if (this.tailOf === null) return this.tail;
    return [...this.tailOf.subarray(Math.max(0, this.tailEnd - 6), this.tailEnd)];
  }

  /** Content bytes [s, e) of the current table's block: its newlines, and its last bytes. */
  private content(b: Buffer, s: number, e: number): void {
    this.newlines += newlinesIn(b, s, e);
    if (e - s >= 6) {
      this.tailOf = b;
      this.tailEnd = e;
    } else {
      const t = this.tailBytes();
      for (let i = s; i < e; i++) t.push(b[i]);
      this.tail = t.slice(-6);
      this.tailOf = null;
    }
  }

  /** The end of a table's block: its rows are its newlines, less the end-of-data lines if they are there. */
  private endBlock(): void {
    const t = this.tailBytes();
    const ends = TERMINATOR.equals(Buffer.from(t.slice(-5))) && (t.length === 5 || t[0] === 10);
    this.rows.set(this.current, this.newlines - (ends ? 3 : 0));
  }

  private data(b: Buffer, pos: number): void {
    const intBytes = 1 + this.intSize;
    while (pos < b.length) {
      if (this.state === "len" && this.intSize === 4) pos = this.rowsFast(b, pos);
      const state = this.state;
      if (pos >= b.length) break;
      if (state === "body" || state === "lobody") {
        const end = Math.min(b.length, pos + this.left);
        if (state === "body") this.content(b, pos, end);
        this.left -= end - pos;
        pos = end;
        if (this.left === 0) this.state = state === "body" ? "len" : "lolen";
      } else if (state === "block") {
        this.blockType = b[pos++];
        if (this.blockType !== BLK_DATA && this.blockType !== BLK_BLOBS)
          throw new Error(`an unknown block type ${this.blockType}`);
        this.state = "id";
      } else if (this.partial.length === 0 && pos + intBytes <= b.length) {
        this.step(intAt(b, pos, this.intSize));
        pos += intBytes;
      } else {
        // A number split between chunks.
        while (this.partial.length < intBytes && pos < b.length) this.partial.push(b[pos++]);
        if (this.partial.length < intBytes) return;
        const p = this.partial;
        this.partial = [];
        this.step(intAt(p, 0, this.intSize));
      }
    }
  }

  /**
   * The hot loop, in a table's block with 4-byte numbers: whole chunks (a row each, as pg_dump writes
   * them) while they lie inside this buffer. Returns where it stopped; anything else is left to data().
   */
  private rowsFast(b: Buffer, pos: number): number {
    let newlines = this.newlines;
    let lastEnd = -1;
    while (this.partial.length === 0 && pos + 5 <= b.length && b[pos] === 0) {
      const len = b[pos + 1] + b[pos + 2] * 0x100 + b[pos + 3] * 0x10000 + b[pos + 4] * 0x1000000;
      const end = pos + 5 + len;
      if (len < 6 || end > b.length) break; // a short chunk (its tail is kept by content()), or split
      newlines += newlinesIn(b, pos + 5, end);
      lastEnd = end;
      pos = end;
    }
    this.newlines = newlines;
    if (lastEnd >= 0) [this.tailOf, this.tailEnd] = [b, lastEnd];
    return pos;
  }

  /** What a number read means, by where it is. */
  private step(v: number): void {
    switch (this.state) {
      case "id":
        if (this.blockType === BLK_DATA) {
          if (!this.tables!.has(v) || this.rows.has(v)) throw new Error(`a data block for entry ${v}`);
          [this.current, this.newlines, this.tail, this.tailOf] = [v, 0, [], null];
          this.state = "len";
        } else this.state = "lo";
        return;
      case "len":
      case "lolen":
        if (v < 0) throw new Error("a negative chunk length");
        if (v > 0) {
          this.left = v;
          this.state = this.state === "len" ? "body" : "lobody";
        } else if (this.state === "lolen") this.state = "lo";
        else {
          this.endBlock();
          this.state = "block";
        }
        return;
      case "lo": // a large object's OID, or 0 at the end of the block
        this.state = v === 0 ? "block" : "lolen";
        return;
    }
  }

  /**
   * Once the output has ended: rows per "schema.name" (every TABLE DATA entry had its block, and the
   * output ended between blocks), or why it could not count.
   */
  result(): { rows: Map<string, number> } | { error: string } {
    if (this.failed === null && this.tables === null && this.headBytes > 0) {
      try {
        this.toc(); // into a buffer of its own: the tail may point into it
      } catch (err) {
        this.fail((err as Error).message);
      }
    }
    if (this.failed !== null) return { error: this.failed };
    if (this.tables === null) return { error: "the output ended inside the table of contents" };
    if (this.state !== "block" || this.partial.length) return { error: "the output ended inside a block" };
    // A name twice (two entries the encoding made alike) says nothing of either: both are left out.
    const rows = new Map<string, number>();
    const twice = new Set<string>();
    for (const [id, t] of this.tables) {
      const n = this.rows.get(id);
      if (n === undefined) return { error: `no data block for ${t ? `${t.schema}.${t.name}` : `entry ${id}`}` };
      if (t === null) continue;
      const key = tableKey(t.schema, t.name);
      if (rows.has(key)) twice.add(key);
      rows.set(key, n);
    }
    for (const key of twice) rows.delete(key);
    return { rows };
  }
}

/** One key per table, whatever its name holds. */
export function tableKey(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

/**
 * Each listed table's rows as its count(*) would give them: its own block's and those of every table
 * that inherits from it (`trees`, from the catalog in the dump's snapshot). null where the dump cannot
 * say (a member without a block of its own: a foreign table, one left out of the dump, a name in
 * another encoding; or a dump that could not be followed): `why` says why, for the first.
 */
export function rowsOf(
  listed: { schema: string; name: string }[],
  trees: Map<string, { schema: string; name: string; kind: string }[]>,
  counted: { rows: Map<string, number> } | { error: string },
): { rows: (number | null)[]; why: string | null } {
  if ("error" in counted) return { rows: listed.map(() => null), why: counted.error };
  let why: string | null = null;
  const rows = listed.map((t) => {
    const tree = trees.get(tableKey(t.schema, t.name));
    if (!tree) {
      why ??= `${t.schema}.${t.name} is not in the catalog`;
      return null;
    }
    let n = 0;
    for (const m of tree) {
      if (m.kind === "p") continue; // a partitioned table holds no rows of its own
      const got = counted.rows.get(tableKey(m.schema, m.name));
      if (got === undefined) {
        why ??= `no data in the dump for ${m.schema}.${m.name}`;
        return null;
      }
      n += got;
    }
    return n;
  });
  return { rows, why };
}

// The dump-stream row counter (src/sources/postgres/dump-rows.ts) on archives built byte by byte: what it
// must count, and every malformed input it must refuse with a reason (the source then counts with
// count(*)), never a throw, and without holding more than its bound. Real pg_dump output: e2e/postgres-dump-rows.
import { describe, expect, it } from "vitest";
import { DumpRowCounter, rowsOf, tableKey } from "../../src/sources/postgres/dump-rows.js";

const int = (v: number) => {
  const b = Buffer.alloc(5);
  b[0] = v < 0 ? 1 : 0;
  b.writeUInt32LE(Math.abs(v), 1);
  return b;
};
const str = (s: string | Buffer | null) =>
  s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);

interface Entry {
  id: number;
  desc: string;
  schema?: string;
  tag?: string | Buffer;
  defn?: string;
}

/** A custom-format archive as pg_dump 15 writes it to a pipe (version 1.14, 4-byte ints, 8-byte offsets). */
function archive(o: { version?: number; compression?: number; entries: Entry[]; blocks: Buffer[] }): Buffer {
  const head = [Buffer.from("PGDMP"), Buffer.from([1, o.version ?? 14, 0, 4, 8, 1])];
  head.push((o.version ?? 14) >= 15 ? Buffer.from([o.compression ?? 0]) : int(o.compression ?? 0));
  for (let i = 0; i < 7; i++) head.push(int(0));
  head.push(str("db"), str("15.0"), str("15.0"), int(o.entries.length));
  for (const e of o.entries) {
    head.push(int(e.id), int(e.desc === "TABLE DATA" ? 1 : 0), str("0"), str("0"), str(e.tag ?? "x"), str(e.desc));
    head.push(
      int(2),
      str(e.defn ?? ""),
      str(""),
      str(null),
      str(e.schema ?? "public"),
      str(""),
      str(null),
      str("o"),
      str("false"),
    );
    head.push(str("1"), str(null), Buffer.from([1]), Buffer.alloc(8));
  }
  return Buffer.concat([...head, ...o.blocks]);
}
/** A table's data block: one chunk per row, then pg_dump's end-of-data lines, then the 0 end marker. */
const data = (id: number, rows: string[], terminator = true) =>
  Buffer.concat([
    Buffer.from([1]),
    int(id),
    ...[...rows, ...(terminator ? ["\\.\n\n\n"] : [])].map((r) =>
      Buffer.concat([int(Buffer.byteLength(r)), Buffer.from(r)]),
    ),
    int(0),
  ]);
/** A large objects block: each object its OID, its data in chunks, 0; then 0. */
const lo = (id: number, objects: Buffer[]) =>
  Buffer.concat([
    Buffer.from([3]),
    int(id),
    ...objects.map((o, i) => Buffer.concat([int(1000 + i), ...(o.length ? [int(o.length), o] : []), int(0)])),
    int(0),
  ]);

const two: Entry[] = [
  { id: 1, desc: "TABLE", tag: "a" },
  { id: 2, desc: "TABLE DATA", tag: "a" },
  { id: 3, desc: "TABLE DATA", tag: "b", schema: "s" },
  { id: 4, desc: "BLOBS", tag: "BLOBS" },
];
const good = () =>
  archive({
    entries: two,
    blocks: [
      data(2, ["1\n", "2\n", "\n", "line with a\\nnewline escaped\n", "a\\\\.\n"]),
      lo(4, [Buffer.from("\n\n\n"), Buffer.alloc(0)]),
      data(3, []),
    ],
  });

function count(bytes: Buffer, size = bytes.length) {
  const c = new DumpRowCounter();
  for (let at = 0; at < bytes.length; at += size) c.push(bytes.subarray(at, at + size));
  return c.result();
}

describe("row counts from a custom-format archive", () => {
  it("counts each table's rows, cut anywhere, skipping large objects and pg_dump's end-of-data lines", () => {
    for (const size of [1, 2, 5, 6, 7, 13, 4096, Infinity]) {
      const r = count(good(), size);
      expect(r, `chunks of ${size}`).toEqual({
        rows: new Map([
          [tableKey("public", "a"), 5],
          [tableKey("s", "b"), 0],
        ]),
      });
    }
    // Without the end-of-data lines (should a pg_dump stop writing them) the count is the same.
    expect(count(archive({ entries: two.slice(0, 2), blocks: [data(2, ["1\n", "2\n"], false)] }))).toEqual({
      rows: new Map([[tableKey("public", "a"), 2]]),
    });
    // Rows that are the end-of-data line's look-alikes stay rows.
    expect(count(archive({ entries: two.slice(0, 2), blocks: [data(2, ["\\\\.\n", "\n", "\n"], false)] }))).toEqual({
      rows: new Map([[tableKey("public", "a"), 3]]),
    });
  });

  const refused: [string, Buffer, RegExp][] = [
    ["not an archive", Buffer.from("random bytes that are not a dump at all, longer than a header"), /not a pg_dump/],
    [
      "an archive version it does not know",
      archive({ version: 17, entries: two, blocks: [] }),
      /archive version 1\.17/,
    ],
    ["an older one", archive({ version: 11, entries: two, blocks: [] }), /archive version 1\.11/],
    ["a compressed archive (int)", archive({ compression: 6, entries: two, blocks: [] }), /compressed/],
    [
      "a compressed archive (1.15 byte)",
      archive({ version: 15, compression: 1, entries: two, blocks: [] }),
      /compressed/,
    ],
    ["the output ends inside the TOC", good().subarray(0, 100), /inside the table of contents/],
    ["the output ends inside a block", good().subarray(0, good().length - 3), /inside a block/],
    ["a block for an entry with no TABLE DATA", archive({ entries: two, blocks: [data(1, ["1\n"])] }), /entry 1/],
    ["a table's block twice", archive({ entries: two, blocks: [data(2, []), data(2, []), data(3, [])] }), /entry 2/],
    ["a table without its block", archive({ entries: two, blocks: [data(2, [])] }), /no data block for s\.b/],
    ["an unknown block type", archive({ entries: two, blocks: [Buffer.from([7])] }), /block type 7/],
    [
      "a negative chunk length",
      archive({ entries: two, blocks: [Buffer.concat([Buffer.from([1]), int(2), int(-5)])] }),
      /negative/,
    ],
    [
      "two TABLE DATA entries with one id",
      archive({ entries: [...two, { id: 2, desc: "TABLE DATA", tag: "c" }], blocks: [] }),
      /unexpected TABLE DATA/,
    ],
  ];
  it.each(refused)("refuses %s, with a reason", (_what, bytes, why) => {
    for (const size of [3, Infinity]) {
      const r = count(bytes, size);
      expect("error" in r && r.error).toMatch(why);
    }
  });

  const encoding = (name: string): Entry => ({
    id: 9,
    desc: "ENCODING",
    tag: "ENCODING",
    defn: `SET client_encoding = '${name}';\n`,
  });
  it("matches a name outside ASCII only in a UTF-8 dump, and leaves out a name given twice", () => {
    const entries = (enc: Entry[], names: (string | Buffer)[]) => [
      ...enc,
      ...names.map((tag, i) => ({ id: 20 + i, desc: "TABLE DATA", tag })),
    ];
    const blocks = (n: number) => Array.from({ length: n }, (_, i) => data(20 + i, ["1\n".repeat(i + 1)]));
    const names = ["a", "é"];
    const rows = (enc: Entry[], tags: (string | Buffer)[] = names) => {
      const r = count(archive({ entries: entries(enc, tags), blocks: blocks(tags.length) }), 5);
      return "rows" in r ? Object.fromEntries([...r.rows].map(([k, v]) => [k.split("\u0000")[1], v])) : r.error;
    };
    expect(rows([encoding("UTF8")])).toEqual({ a: 1, é: 2 });
    expect(rows([encoding("LATIN1")])).toEqual({ a: 1 }); // é's bytes would be another name in LATIN1
    expect(rows([encoding("SQL_ASCII")])).toEqual({ a: 1 });
    expect(rows([])).toEqual({ a: 1 }); // no ENCODING entry: ASCII only
    expect(rows([encoding("UTF8")], ["a", Buffer.from([0xc3, 0x28])])).toEqual({ a: 1 }); // not UTF-8
    expect(rows([encoding("UTF8")], ["a", "b", "a"])).toEqual({ b: 2 }); // a twice: neither
  });

  it("keeps no chunk it was given: each is overwritten as soon as push returns", () => {
    for (const size of [1, 3, 64, 4096]) {
      const bytes = good();
      const c = new DumpRowCounter();
      for (let at = 0; at < bytes.length; at += size) {
        const chunk = Buffer.from(bytes.subarray(at, at + size));
        c.push(chunk);
        chunk.fill(0xaa);
      }
      expect(c.result(), `chunks of ${size}`).toEqual(count(good()));
    }
  });

  it("a table of contents that never ends is refused at 32 MiB, and nothing of it is kept", () => {
    const c = new DumpRowCounter();
    c.push(
      Buffer.concat([archive({ entries: [], blocks: [] }).subarray(0, -5), int(1), int(1), int(0), int(2 ** 31 - 1)]),
    );
    const mib = Buffer.alloc(1 << 20);
    for (let i = 0; i < 40; i++) c.push(mib);
    expect(c.result()).toEqual({ error: "a table of contents over 32 MiB" });
    expect((c as unknown as { head: Buffer[] }).head).toEqual([]);
  });

  it("never throws, whatever bytes it is fed (1,000 mutations of a good archive)", () => {
    const base = good();
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n) | 0;
    let refusedCount = 0;
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k < 1 + rnd(4); k++) b[rnd(b.length)] = rnd(256);
      const r = count(b.subarray(0, b.length - rnd(3)), 1 + rnd(64));
      if ("error" in r) refusedCount++;
      else for (const n of r.rows.values()) expect(Number.isInteger(n)).toBe(true);
    }
    expect(refusedCount).toBeGreaterThan(100);
  });

  it("sums a table with what inherits from it, and says why where the dump cannot", () => {
    const counted = {
      rows: new Map([
        [tableKey("public", "leaf"), 4],
        [tableKey("public", "own"), 1],
      ]),
    };
    const trees = new Map([
      [
        tableKey("public", "root"),
        [
          { schema: "public", name: "root", kind: "p" },
          { schema: "public", name: "leaf", kind: "r" },
        ],
      ],
      [
        tableKey("public", "own"),
        [
          { schema: "public", name: "own", kind: "r" },
          { schema: "public", name: "leaf", kind: "r" },
        ],
      ],
      [tableKey("public", "gap"), [{ schema: "public", name: "gap", kind: "r" }]],
    ]);
    const listed = ["root", "own", "gap", "unknown"].map((name) => ({ schema: "public", name }));
    expect(rowsOf(listed, trees, counted)).toEqual({
      rows: [4, 5, null, null],
      why: "no data in the dump for public.gap",
    });
    expect(rowsOf(listed, trees, { error: "x" })).toEqual({ rows: [null, null, null, null], why: "x" });
  });
});

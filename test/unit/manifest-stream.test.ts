// parseManifestStream against JSON.parse: generated documents in every chunking, truncations,
// corruptions, duplicate keys at the streamed levels, limits, and a large entries array.
import { describe, expect, it } from "vitest";
import { parseManifestStream } from "../../src/repository/manifest-stream.js";

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

// ---- random JSON text generator (text, not values: whitespace, escapes and number spellings vary) ----

const CHARS = [
  "a",
  "Z",
  "0",
  " ",
  '"',
  "\\",
  "/",
  "\n",
  "\t",
  "\u0000",
  "\u001f",
  "é",
  "€",
  "😀",
  "\u2028",
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
];
const NUMBERS = [
  "0",
  "-0",
  "1",
  "-1",
  "1e-7",
  "1E+3",
  "0.5",
  "-12.25e2",
  "123456789012345678901234567890",
  "1.7976931348623157e308",
  "5e-324",
];

function ws(r: Rng): string {
  if (r.next() < 0.6) return "";
  let s = "";
  for (let n = 1 + r.int(3); n > 0; n--) s += r.pick([" ", "\t", "\n", "\r"]);
  return s;
}

function strText(r: Rng, raw: string): string {
  let s = '"';
  for (const ch of raw) {
    const code = ch.codePointAt(0)!;
    const plain = ch !== '"' && ch !== "\\" && code >= 0x20 && (code < 0xd800 || code > 0xdfff); // lone surrogates: escaped only
    if (plain && r.next() < 0.8) {
      s += ch;
      continue;
    }
    const short: Record<string, string> = {
      '"': '\\"',
      "\\": "\\\\",
      "/": "\\/",
      "\n": "\\n",
      "\t": "\\t",
      "\b": "\\b",
      "\f": "\\f",
      "\r": "\\r",
    };
    if (short[ch] && r.next() < 0.5) s += short[ch];
    else
      for (let k = 0; k < ch.length; k++)
        s +=
          "\\u" +
          ch
            .charCodeAt(k)
            .toString(16)
            .padStart(4, "0")
            .replace(/[a-f]/g, (x) => (r.next() < 0.5 ? x.toUpperCase() : x));
  }
  return s + '"';
}

function randomString(r: Rng): string {
  let s = "";
  for (let n = r.int(8); n > 0; n--) s += r.pick(CHARS);
  if (r.next() < 0.1) s += "\ud800"; // lone surrogate (only expressible escaped)
  return s;
}

const KEYS = ["a", "b", "entries", "sources", "path", "__proto__", "1", "é", ""];

function valueText(r: Rng, depth: number): string {
  const t = depth > 4 ? r.int(4) : r.int(7);
  switch (t) {
    case 0:
      return r.pick(NUMBERS);
    case 1:
      return r.pick(["true", "false", "null"]);
    case 2:
    case 3:
      return strText(r, randomString(r));
    case 4:
    case 5: {
      // object, duplicate keys allowed here (JSON.parse semantics)
      const n = r.int(4);
      const members = Array.from(
        { length: n },
        () => ws(r) + strText(r, r.pick(KEYS)) + ws(r) + ":" + ws(r) + valueText(r, depth + 1) + ws(r),
      );
      return "{" + (n ? members.join(",") : ws(r)) + "}";
    }
    default: {
      const n = r.int(4);
      return (
        "[" + (n ? Array.from({ length: n }, () => ws(r) + valueText(r, depth + 1) + ws(r)).join(",") : ws(r)) + "]"
      );
    }
  }
}

/** A random value that is not an object (objects at the streamed levels must not repeat keys). */
function nonObjectText(r: Rng, depth: number): string {
  for (;;) {
    const v = valueText(r, depth);
    if (!v.startsWith("{")) return v;
  }
}

function objectText(r: Rng, members: [string, string][]): string {
  for (let k = members.length - 1; k > 0; k--) {
    const j = r.int(k + 1);
    [members[k], members[j]] = [members[j], members[k]];
  }
  if (!members.length) return "{" + ws(r) + "}";
  return "{" + members.map(([k, v]) => ws(r) + strText(r, k) + ws(r) + ":" + ws(r) + v + ws(r)).join(",") + "}";
}

function entryText(r: Rng, i: number): string {
  if (r.next() < 0.2) return valueText(r, 4);
  const hex = Array.from({ length: 64 }, () => "0123456789abcdef"[r.int(16)]).join("");
  return objectText(r, [
    ["path", strText(r, `dir/${randomString(r)}${i}`)],
    ["type", '"file"'],
    ["size", String(r.int(1e6))],
    ["mode", "420"],
    ["mtime", '"1700000000.5"'],
    ["sha256", `"${hex}"`],
    ...(r.next() < 0.3 ? [["x", valueText(r, 4)] as [string, string]] : []),
  ]);
}

function sourceText(r: Rng): string {
  const roll = r.next();
  if (roll < 0.1) return nonObjectText(r, 2); // not an object: returned as parsed
  const members: [string, string][] = [
    ["type", '"files"'],
    ["path", strText(r, "/srv/" + randomString(r))],
    ["files", "3"],
    ["warnings", valueText(r, 2)],
  ];
  if (roll < 0.2)
    members.push(["entries", r.pick(["{}", "3", "null", '"x"'])]); // entries not an array
  else if (roll < 0.9) {
    const n = r.int(6);
    members.push([
      "entries",
      "[" + (n ? Array.from({ length: n }, (_, i) => ws(r) + entryText(r, i) + ws(r)).join(",") : ws(r)) + "]",
    ]);
  }
  if (r.next() < 0.3) members.push([r.pick(["sources", "1", "__proto__"]), valueText(r, 2)]);
  return objectText(r, members);
}

function documentText(r: Rng): string {
  const roll = r.next();
  if (roll < 0.05) return ws(r) + nonObjectText(r, 1) + ws(r); // root not an object
  const names = [
    ...new Set(Array.from({ length: r.int(4) }, () => r.pick(["db", "files", "1", "__proto__", "é😀", "entries", ""]))),
  ];
  const sources =
    roll < 0.1
      ? nonObjectText(r, 1)
      : objectText(
          r,
          names.map((n) => [n, sourceText(r)]),
        );
  const members: [string, string][] = [
    ["format", '"strongbox/1"'],
    ["id", strText(r, "20240101T000000Z-" + randomString(r))],
    ["created_at", '"2024-01-01T00:00:00Z"'],
    ["host", strText(r, randomString(r))],
  ];
  if (r.next() < 0.95) members.push(["sources", sources]);
  if (r.next() < 0.3) members.push(["extra", valueText(r, 1)]);
  return ws(r) + objectText(r, members) + ws(r);
}

// ---- feeding and the reference ----

async function* chunks(buf: Buffer, sizes: (() => number) | number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length;) {
    const n = Math.max(1, typeof sizes === "number" ? sizes : sizes());
    yield buf.subarray(i, i + n);
    i += n;
  }
}

interface Outcome {
  result: unknown;
  entries: Map<string, unknown[]>;
}

async function run(
  buf: Buffer,
  sizes: (() => number) | number,
  limits?: Parameters<typeof parseManifestStream>[2],
): Promise<Outcome> {
  const entries = new Map<string, unknown[]>();
  const result = await parseManifestStream(
    chunks(buf, sizes),
    (name, value, index) => {
      const list = entries.get(name) ?? [];
      expect(index).toBe(list.length);
      list.push(value);
      entries.set(name, list);
    },
    limits,
  );
  return { result, entries };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON.parse, then the documented replacement of root.sources.<name>.entries arrays by their lengths. */
function reference(text: string): Outcome {
  const result = JSON.parse(text) as unknown;
  const entries = new Map<string, unknown[]>();
  if (isObj(result) && isObj(result.sources)) {
    for (const [name, src] of Object.entries(result.sources)) {
      if (isObj(src) && Array.isArray(src.entries)) {
        if (src.entries.length) entries.set(name, src.entries);
        src.entries = src.entries.length;
      }
    }
  }
  return { result, entries };
}

async function outcome(p: Promise<Outcome>): Promise<Outcome | Error> {
  try {
    return await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
}

describe("parseManifestStream", () => {
  it("equals JSON.parse on generated documents, in every chunking (incl. 1-byte)", async () => {
    const r = rng(1);
    for (let d = 0; d < 300; d++) {
      const text = documentText(r);
      const buf = Buffer.from(text, "utf8");
      const want = reference(text);
      for (const sizes of [1, buf.length, () => 1 + r.int(7), () => 1 + r.int(300)]) {
        const got = await run(buf, sizes);
        expect(got.result, text).toStrictEqual(want.result);
        expect(got.entries, text).toStrictEqual(want.entries);
      }
    }
  });

  it("streams entries whose keys are spelled with escapes, and leaves deeper look-alikes alone", async () => {
    const text = `{"sour\\u0063es":{"s\\u00e9":{"entr\\u0069es":[1,{"entries":[2]}]},"b":[{"entries":[3]}]},"x":{"sources":{"c":{"entries":[4]}}}}`;
    const got = await run(Buffer.from(text), 1);
    expect(got.result).toStrictEqual({
      sources: { sé: { entries: 2 }, b: [{ entries: [3] }] },
      x: { sources: { c: { entries: [4] } } },
    });
    expect(got.entries).toStrictEqual(new Map([["sé", [1, { entries: [2] }]]]));
  });

  it("matches JSON.parse on hand-picked edge cases (both throw or both agree)", async () => {
    const cases = [
      "",
      " ",
      "{",
      "}",
      "[]",
      '"x"',
      "123",
      "-0",
      " 1e-7 ",
      "nul",
      "null",
      "tru e",
      "01",
      "1.",
      "-",
      "[1,]",
      "{,}",
      '{"a":1,}',
      '{"a" 1}',
      '{"a":}',
      '{"a":1 "b":2}',
      "{'a':1}",
      '{"a":1}x',
      '{"a":1}{}',
      '{"a":1}\u00a0',
      "\ufeff{}",
      '{"a":"\\x"}',
      '{"a":"\\u12"}',
      '{"a":"tab\there"}',
      '{"sources":[]}',
      '{"sources":{"a":[1,2]}}',
      '{"sources":{"a":{"entries":{}}}}',
      '{"sources":{"a":{"entries":[1,,2]}}}',
      '{"sources":{"a":{"entries":[1 2]}}}',
      '{"sources":{"a":{"entries":[1"a"]}}}',
      '{"sources":{"a":{"entries":[,]}}}',
      '{"sources":{"a":{"entries":[]}}}',
      '{"sources":{"a":{"entries":[1]]}}}',
      '{"sources":{"a":{"entries":[[}]}}}',
      '{"sources":{"a":{"entries":[{"a":1]]}}}',
      '{"sources":{}}  \n',
      '{"a":[1,{"b":"]"}]}',
      '{"a":tru}',
      '{"a":truex}',
      '{"a":"\\ud83d\\ude00\\ud800"}',
      '{"__proto__":{"x":1},"sources":{"__proto__":{"entries":[1]}}}',
    ];
    for (const text of cases) {
      let want: Outcome | Error;
      try {
        want = reference(text);
      } catch (e) {
        want = e as Error;
      }
      for (const sizes of [1, 3, 1000]) {
        const got = await outcome(run(Buffer.from(text, "utf8"), sizes));
        if (want instanceof Error) expect(got, text).toBeInstanceOf(Error);
        else expect(got, text).toStrictEqual(want);
      }
    }
    const proto = await run(Buffer.from('{"__proto__":{"x":1}}'), 1);
    expect(Object.getPrototypeOf(proto.result)).toBe(Object.prototype);
    expect(Object.keys(proto.result as object)).toStrictEqual(["__proto__"]);
  });

  it("decodes invalid and split UTF-8 like JSON.parse(buffer.toString())", async () => {
    const buf = Buffer.concat([
      Buffer.from('{"host":"a'),
      Buffer.from([0xff, 0xc3, 0x22]),
      Buffer.from(',"sources":{"é":{"entries":["€'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('"]}}}'),
    ]);
    const want = reference(buf.toString("utf8"));
    for (const sizes of [1, 2, 5, buf.length]) expect(await run(buf, sizes)).toStrictEqual(want);
  });

  it("rejects every truncation of a document", async () => {
    const r = rng(2);
    let text = "";
    while (text.length < 1500 || !text.startsWith("{") || /\s$/.test(text)) text = documentText(r).trim();
    const buf = Buffer.from(text, "utf8");
    await run(buf, 7); // the whole document parses
    for (let len = 0; len < buf.length; len++) {
      const cut = buf.subarray(0, len);
      expect(() => JSON.parse(cut.toString("utf8"))).toThrow();
      await expect(run(cut, () => 1 + r.int(50))).rejects.toThrow(Error);
    }
  });

  it("on a corrupted byte, throws exactly when JSON.parse does and otherwise agrees", async () => {
    const r = rng(3);
    const bytes = [
      0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x0a, 0x30, 0x2d, 0x65, 0x2e, 0x74, 0x6e, 0x61, 0x00, 0x7f,
      0xff, 0xc3, 0x80,
    ];
    let agreed = 0;
    for (let d = 0; d < 60; d++) {
      const base = Buffer.from(documentText(r), "utf8");
      for (let k = 0; k < 40; k++) {
        const buf = Buffer.from(base);
        buf[r.int(buf.length)] = r.next() < 0.8 ? r.pick(bytes) : r.int(256);
        let want: Outcome | Error;
        try {
          want = reference(buf.toString("utf8"));
        } catch (e) {
          want = e as Error;
        }
        const got = await outcome(run(buf, () => 1 + r.int(40)));
        if (want instanceof Error) expect(got).toBeInstanceOf(Error);
        else if (got instanceof Error)
          expect(got.message).toMatch(/duplicate key/); // our extra rejection
        else {
          expect(got).toStrictEqual(want);
          agreed++;
        }
      }
    }
    expect(agreed).toBeGreaterThan(100);
  });

  it("rejects duplicate keys at the streamed levels, follows JSON.parse deeper", async () => {
    const bad = [
      '{"sources":{"a":{"entries":[1],"entries":[2]}}}',
      '{"sources":{"a":{"entries":[1],"entri\\u0065s":[2]}}}',
      '{"sources":{"a":{"entries":[1]},"a":{"entries":[2]}}}',
      '{"sources":{"a":{}},"sources":{"b":{}}}',
      '{"id":"x","id":"y"}',
      '{"sources":{"a":{"path":1,"path":2}}}',
    ];
    for (const text of bad) await expect(run(Buffer.from(text), 2), text).rejects.toThrow(/duplicate key/);
    const deep = '{"sources":{"a":{"entries":[{"p":1,"p":2}],"w":{"k":1,"k":[3]}}}}';
    expect(await run(Buffer.from(deep), 1)).toStrictEqual(reference(deep));
  });

  it("throws on a value over maxValueBytes without buffering the rest", async () => {
    for (const [prefix, filler] of [
      ['{"host":"', "a"],
      ['{"sources":{"a":{"entries":["', "\\\\"],
      ['{"n":', "1"],
      ['{"', "k"],
      ["[", '[1,"x"],'],
    ] as const) {
      let sent = 0;
      async function* endless(): AsyncGenerator<Buffer> {
        const block = Buffer.from(filler.repeat(Math.ceil(65536 / filler.length)));
        yield Buffer.from(prefix);
        for (;;) {
          sent += block.length;
          yield block;
        }
      }
      await expect(parseManifestStream(endless(), () => {}, { maxValueBytes: 1 << 20 })).rejects.toThrow(/larger than/);
      expect(sent).toBeLessThan((1 << 20) + 2 * 65536);
    }
    // the default limit is 16 MiB
    let sent = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      const block = Buffer.alloc(1 << 20, 0x61);
      yield Buffer.from('"');
      for (;;) {
        sent += block.length;
        yield block;
      }
    }
    await expect(parseManifestStream(endless(), () => {})).rejects.toThrow(/larger than/);
    expect(sent).toBeLessThanOrEqual(17 << 20);
  });

  it("throws on a skeleton over maxSkeletonBytes, but entries do not count", async () => {
    let sent = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"sources":{"a":{"warnings":[],');
      for (let i = 0; ; i++) {
        const b = Buffer.from(`"k${i}":"${"x".repeat(1000)}",`);
        sent += b.length;
        yield b;
      }
    }
    await expect(parseManifestStream(endless(), () => {}, { maxSkeletonBytes: 1 << 20 })).rejects.toThrow(
      /without entries/,
    );
    expect(sent).toBeLessThan((1 << 20) + 4096);
    const many = Buffer.from(
      `{"sources":{"a":{"entries":[${Array.from({ length: 5000 }, (_, i) => `"${"y".repeat(300)}${i}"`).join(",")}]}}}`,
    );
    const got = await run(many, 4096, { maxSkeletonBytes: 1024 });
    expect(got.entries.get("a")).toHaveLength(5000);
  });

  it("throws on nesting deeper than 64", async () => {
    for (const text of [
      "[".repeat(100),
      "[".repeat(65) + "]".repeat(65),
      '{"sources":{"a":{"entries":[' + "[".repeat(61),
      '{"a":' + '{"b":'.repeat(70),
    ]) {
      await expect(run(Buffer.from(text), 16), text.slice(0, 40)).rejects.toThrow(/nesting too deep/);
    }
    const ok = "[".repeat(64) + "]".repeat(64);
    expect(await run(Buffer.from(ok), 5)).toStrictEqual(reference(ok));
    const inString = `{"a":"${"[".repeat(1000)}"}`; // brackets inside strings are not nesting
    expect(await run(Buffer.from(inString), 5)).toStrictEqual(reference(inString));
  });

  it("streams 200,000 entries in order, each as soon as it is complete", async () => {
    const n = 200_000;
    const parts = [`{"format":"strongbox/1","sources":{"files":{"type":"files","entries":[`];
    for (let i = 0; i < n; i++)
      parts.push(
        `${i ? "," : ""}{"path":"f${i}","type":"file","size":${i},"mode":420,"mtime":"1700000000.5","sha256":"${"ab".repeat(32)}"}`,
      );
    parts.push(`],"warnings":[]}}}`);
    const buf = Buffer.from(parts.join(""));
    let seen = 0;
    let checked = false;
    async function* feed(): AsyncGenerator<Buffer> {
      const first = parts[0].length + parts[1].length + parts[2].length + 5; // two entries complete, the third partial
      yield buf.subarray(0, first);
      expect(seen).toBe(2); // delivered synchronously while the parser still waits for data
      checked = true;
      for (let i = first; i < buf.length; i += 65536) yield buf.subarray(i, i + 65536);
    }
    let wrong = 0;
    const result = await parseManifestStream(feed(), (name, value, index) => {
      if (
        name !== "files" ||
        index !== seen ||
        (value as { path: string }).path !== `f${seen}` ||
        (value as { size: number }).size !== seen
      )
        wrong++;
      seen++;
    });
    expect(wrong).toBe(0);
    expect(checked).toBe(true);
    expect(seen).toBe(n);
    expect(result).toStrictEqual({
      format: "strongbox/1",
      sources: { files: { type: "files", entries: n, warnings: [] } },
    });
  });

  it("propagates an error thrown by onEntry", async () => {
    const text = '{"sources":{"a":{"entries":[1,2,3]}}}';
    await expect(
      parseManifestStream(chunks(Buffer.from(text), 4), (_s, v) => {
        if (v === 2) throw new Error("stop");
      }),
    ).rejects.toThrow("stop");
  });
});

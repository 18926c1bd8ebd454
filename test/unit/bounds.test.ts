// Issue 20, bounded input: complete.json (size, depth, unknown keys, manifest_bytes), the manifest's
// decompressed size, its counts, its text (UTF-8), and the entry spool's lines. Everything here is
// what a forger with the writer key and the public recipient can write; each is VERIFY (exit 3) and
// names the object.
import { describe, expect, it } from "vitest";
import { StrongboxError } from "../../src/errors.js";
import { MAX_COMPLETE_BYTES, parseComplete } from "../../src/repository/complete.js";
import { EntrySpool } from "../../src/repository/entry-spool.js";
import { keys } from "../../src/repository/layout.js";
import { parseManifest } from "../../src/repository/manifest.js";
import { manifestLimit } from "../../src/repository/repository.js";

const id = "20261120T021500Z-abcdef";
const sha = "a".repeat(64);

function record(mutate: (c: any) => void = () => {}): any {
  const c: any = {
    format: "strongbox/1",
    id,
    started_at: "2026-11-20T02:15:00.123Z",
    finished_at: "2026-11-20T02:15:01.000Z",
    host: "h",
    tool_version: "0.1.0",
    compression: "zstd",
    sources: [{ name: "assets", type: "files" }],
    objects: [
      { key: keys.object(id, "assets.tar.zst.age"), size: 10, sha256: sha, source: "assets" },
      { key: keys.manifest(id, ".zst"), size: 100, sha256: sha, manifest_bytes: 400 },
    ],
    warnings: 0,
  };
  mutate(c);
  return c;
}

const text = (c: unknown) => Buffer.from(JSON.stringify(c, null, 2) + "\n");

function verifyError(f: () => unknown): StrongboxError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(StrongboxError);
    expect((err as StrongboxError).code).toBe("VERIFY");
    expect((err as Error).message).toContain(keys.complete(id));
    return err as StrongboxError;
  }
  throw new Error("did not throw");
}

describe("complete.json is bounded and exact", () => {
  it("accepts what a writer writes, manifest_bytes included", () => {
    const rec = parseComplete(text(record()), id);
    expect(rec.objects[1].manifest_bytes).toBe(400);
    expect(rec.objects[0].manifest_bytes).toBeUndefined();
    // an older backup has none
    expect(
      parseComplete(text(record((c) => delete c.objects[1].manifest_bytes)), id).objects[1].manifest_bytes,
    ).toBeUndefined();
  });

  it("refuses an unknown key at every level, naming it", () => {
    expect(verifyError(() => parseComplete(text(record((c) => (c.signed_by = "x"))), id)).message).toMatch(
      /has an unknown key "signed_by"/,
    );
    expect(verifyError(() => parseComplete(text(record((c) => (c.objects[0].mode = 1))), id)).message).toMatch(
      /objects\[0\] has an unknown key "mode"/,
    );
    expect(verifyError(() => parseComplete(text(record((c) => (c.sources[0].path = "/etc"))), id)).message).toMatch(
      /sources\[0\] has an unknown key "path"/,
    );
    expect(
      verifyError(() =>
        parseComplete(Buffer.from(text(record()).toString().replace('"format"', '"__proto__": {}, "format"')), id),
      ).message,
    ).toMatch(/unknown key "__proto__"/);
    expect(verifyError(() => parseComplete(text(record((c) => (c.objects[0] = [1]))), id)).message).toMatch(
      /objects\[0\] is not an object/,
    );
  });

  it("manifest_bytes only on the manifest's record, and no more than its stored size can hold", () => {
    expect(
      verifyError(() => parseComplete(text(record((c) => (c.objects[0].manifest_bytes = 5))), id)).message,
    ).toMatch(/manifest_bytes on an object that is not the manifest/);
    expect(
      verifyError(() => parseComplete(text(record((c) => (c.objects[1].manifest_bytes = -1))), id)).message,
    ).toMatch(/manifest_bytes is not a whole number/);
    // 2 GiB declared for a 73 KB object: more than max(64 MiB, 1024 × 73 KB)
    expect(
      verifyError(() =>
        parseComplete(
          text(record((c) => Object.assign(c.objects[1], { size: 73_000, manifest_bytes: 2 * 1024 ** 3 }))),
          id,
        ),
      ).message,
    ).toMatch(/manifest_bytes 2147483648 is more than a 73000-byte manifest object can hold/);
  });

  it("a 31M-deep document is refused in milliseconds, without JSON.parse (size), and a deep one within the size cap too (depth)", () => {
    const deep = Buffer.alloc(31_000_000, 0x5b);
    let t = Date.now();
    expect(verifyError(() => parseComplete(deep, id)).message).toMatch(/larger than a commit marker may be/);
    expect(Date.now() - t).toBeLessThan(500);
    const within = Buffer.concat([
      Buffer.from('{"format":"strongbox/1","x":'),
      Buffer.alloc(MAX_COMPLETE_BYTES - 100, 0x5b),
    ]);
    t = Date.now();
    expect(verifyError(() => parseComplete(within, id)).message).toMatch(/nested deeper than 8 levels/);
    expect(Date.now() - t).toBeLessThan(500);
    // brackets inside strings are text, not nesting
    expect(parseComplete(text(record((c) => (c.host = "[[[[[[[[[[[[{{{{{{{{{{"))), id).host).toBe(
      "[[[[[[[[[[[[{{{{{{{{{{",
    );
  });

  it("10,000 objects of the longest names a writer makes fit well within the cap", () => {
    const src = "s".repeat(63);
    // Parts are a database's (a files source has none); only a files source's object has a base.
    const db = "d".repeat(63);
    const big = record((c) => {
      c.sources = [
        { name: src, type: "files" },
        { name: db, type: "postgres" },
      ];
      c.objects = [
        {
          key: keys.object(id, `${src}.tar.zst.age`),
          size: Number.MAX_SAFE_INTEGER,
          sha256: sha,
          source: src,
          base: "20261119T021500Z-abcdef",
        },
        {
          key: keys.object(id, `${db}.pgdump.zst.age`),
          size: Number.MAX_SAFE_INTEGER,
          sha256: sha,
          source: db,
        },
        ...Array.from({ length: 9_997 }, (_, i) => ({
          key: keys.object(id, `${db}.${"p".repeat(28)}${String(i).padStart(4, "0")}.${"e".repeat(16)}.zst.age`),
          size: Number.MAX_SAFE_INTEGER,
          sha256: sha,
          source: db,
          part: `${"p".repeat(28)}${String(i).padStart(4, "0")}`,
        })),
        {
          key: keys.manifest(id, ".zst"),
          size: Number.MAX_SAFE_INTEGER,
          sha256: sha,
          manifest_bytes: Number.MAX_SAFE_INTEGER,
        },
      ];
    });
    const body = text(big);
    expect(body.length).toBeLessThan(MAX_COMPLETE_BYTES * 0.6);
    expect(parseComplete(body, id).objects.length).toBe(10_000);
  });

  it("not UTF-8 is refused", () => {
    const b = text(record());
    const at = b.indexOf('"h"') + 1;
    b[at] = 0xff;
    expect(verifyError(() => parseComplete(b, id)).message).toMatch(/not valid JSON \(not UTF-8/);
  });
});

describe("the manifest's decompressed size", () => {
  it("is what complete.json declares, or for older backups max(64 MiB, 64 × the stored size)", () => {
    expect(manifestLimit({ size: 73_000, manifest_bytes: 5000 }).bytes).toBe(5000);
    expect(manifestLimit({ size: 73_000 }).bytes).toBe(64 * 1024 * 1024);
    expect(manifestLimit({ size: 10 * 1024 * 1024 }).bytes).toBe(640 * 1024 * 1024);
    expect(manifestLimit({ size: 1024 ** 4 }).bytes).toBe(16 * 1024 ** 3);
  });
});

describe("the manifest: every forged input is VERIFY and names the object", () => {
  const mkey = keys.manifest(id, ".zst");
  const rec = parseComplete(text(record()), id);
  const entry = (path: string, extra: Record<string, unknown> = {}) => ({
    path,
    type: "file",
    size: 3,
    mode: 0o644,
    mtime: "1700000000",
    sha256: sha,
    ...extra,
  });
  const manifest = (entries: unknown[], counts: Record<string, unknown> = {}) => ({
    format: "strongbox/1",
    id,
    created_at: "2026-11-20T02:15:00.123Z",
    host: "h",
    sources: {
      assets: {
        type: "files",
        path: "/d",
        object: keys.object(id, "assets.tar.zst.age"),
        files: 2,
        bytes: 6,
        entries,
        warnings: [],
        ...counts,
      },
    },
  });
  const refused = async (body: Buffer | object, why: RegExp) => {
    const err = await parseManifest(Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)), rec).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(StrongboxError);
    expect(err.code).toBe("VERIFY");
    expect(err.message).toContain(mkey);
    expect(err.message).toMatch(why);
  };

  it("accepts a true manifest (control)", async () => {
    const m = await parseManifest(Buffer.from(JSON.stringify(manifest([entry("a"), entry("b")]))), rec);
    expect(m.sources.assets.type === "files" && m.sources.assets.entries.length).toBe(2);
  });

  it("counts that are not what the entries add up to", async () => {
    await refused(
      manifest([entry("a"), entry("b")], { files: 3 }),
      /sources\.assets\.files is 3, its entries hold 2 files/,
    );
    await refused(
      manifest([entry("a"), entry("b")], { bytes: 7 }),
      /sources\.assets\.bytes is 7, its files add up to 6/,
    );
    await refused(
      manifest([entry("a"), entry("b")], { stored_files: 1, stored_bytes: 3 }),
      /stored_files or stored_bytes without a base/,
    );
    await refused(
      manifest([entry("a", { size: Number.MAX_SAFE_INTEGER }), entry("b", { size: 5 })], { bytes: 1 }),
      /add up past/,
    );
  });

  it("an entry with an unknown key (a 2 MiB one would overflow the spool's line) is refused, not spooled", async () => {
    await refused(
      manifest([entry("a", { pad: "x".repeat(2 * 1024 * 1024) }), entry("b")]),
      /entries\[0\] has an unknown key "pad"/,
    );
  });

  it("names that are not UTF-8, or hold a lone surrogate", async () => {
    const good = Buffer.from(JSON.stringify(manifest([entry("aé"), entry("b")])));
    const bad = Buffer.from(good);
    bad[bad.indexOf(Buffer.from("é"))] = 0xff;
    await refused(bad, /not UTF-8/);
    // split at every byte: the check sees the whole character
    const split = async function* () {
      for (let i = 0; i < good.length; i++) yield good.subarray(i, i + 1);
    };
    const { readManifestStream } = await import("../../src/repository/manifest.js");
    expect((await readManifestStream(split(), rec)).id).toBe(id);
    await refused(
      Buffer.from(JSON.stringify(manifest([entry("a"), entry("b")])).replace('"path":"a"', '"path":"a\\ud800"')),
      /entries\[0\]\.path .* is not a safe relative path/,
    );
  });
});

describe("the manifest reader: any forgery is VERIFY naming the object, never another error", () => {
  const mkey = keys.manifest(id, ".zst");
  const rec = parseComplete(text(record()), id);
  const sample = () => ({
    format: "strongbox/1",
    id,
    created_at: "2026-11-20T02:15:00.123Z",
    host: "h",
    sources: {
      assets: {
        type: "files",
        path: "/d",
        object: keys.object(id, "assets.tar.zst.age"),
        files: 2,
        bytes: 6,
        entries: [
          { path: "a", type: "dir", size: 0, mode: 0o755, mtime: "1700000000" },
          { path: "a/b", type: "file", size: 3, mode: 0o644, mtime: "1700000000.5", sha256: sha },
          { path: "a/c", type: "symlink", size: 0, mode: 0o777, mtime: "1700000000", target: "b" },
          { path: "d", type: "file", size: 3, mode: 0o644, mtime: "1700000000", sha256: sha },
        ],
        warnings: ["w"],
      },
    },
  });
  // Deterministic: a small LCG.
  let seed = 20;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const odd: unknown[] = [
    null,
    true,
    -1,
    1.5,
    2 ** 60,
    "",
    "x".repeat(5000),
    [],
    {},
    [1],
    { a: 1 },
    "\ud800",
    "../x",
    "/abs",
    "a\u0000b",
  ];
  const paths = (o: any, at: (string | number)[] = []): (string | number)[][] =>
    o && typeof o === "object"
      ? [at, ...Object.keys(o).flatMap((k) => paths(o[k], [...at, Array.isArray(o) ? Number(k) : k]))]
      : [at];

  it("structural mutations (a value replaced, removed, or a key added anywhere)", async () => {
    let refusedCount = 0;
    for (let n = 0; n < 1500; n++) {
      const m: any = sample();
      const all = paths(m).filter((p) => p.length > 0);
      const p = all[rand(all.length)];
      const parent = p.slice(0, -1).reduce((o: any, k) => o[k], m);
      const last = p[p.length - 1];
      const what = rand(3);
      if (what === 0) parent[last] = odd[rand(odd.length)];
      else if (what === 1) {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
      } else if (!Array.isArray(parent)) parent[`k${rand(5)}`] = odd[rand(odd.length)];
      else parent.push(odd[rand(odd.length)]);
      const err = await parseManifest(Buffer.from(JSON.stringify(m)), rec).then(
        () => undefined,
        (e) => e,
      );
      if (err === undefined) continue;
      refusedCount++;
      expect(err, JSON.stringify(p)).toBeInstanceOf(StrongboxError);
      expect(err.code, `${JSON.stringify(p)}: ${err.message}`).toBe("VERIFY");
      expect(err.message).toContain(mkey);
    }
    expect(refusedCount).toBeGreaterThan(1000);
  });

  it("byte mutations of its text", async () => {
    const base = Buffer.from(JSON.stringify(sample()));
    for (let n = 0; n < 1500; n++) {
      const b = Buffer.from(base);
      for (let k = 1 + rand(3); k > 0; k--) b[rand(b.length)] = rand(256);
      const err = await parseManifest(b, rec).then(
        () => undefined,
        (e) => e,
      );
      if (err === undefined) continue;
      expect(err).toBeInstanceOf(StrongboxError);
      expect(err.code, err.message).toBe("VERIFY");
      expect(err.message).toContain(mkey);
    }
  });
});

describe("the entry spool", () => {
  it("refuses a line longer than it can read back, with a plain error for the caller to name", () => {
    const s = new EntrySpool<Record<string, unknown>>();
    expect(() => s.push({ path: "x".repeat(300_000) })).toThrow(/more than an entry may hold/);
    s.push({ path: "a" });
    expect(s.toArray()).toEqual([{ path: "a" }]);
  });

  it("a TMPDIR it cannot use is this host's problem (SOURCE, exit 1), not a forged manifest", () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = "/nonexistent/strongbox-tmp";
    try {
      const s = new EntrySpool<Record<string, unknown>>(1);
      let err: unknown;
      try {
        for (let i = 0; i < 10_000; i++) s.push({ path: `p${i}` });
        s.toArray(); // the block is cut: over the limit, to a file
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StrongboxError);
      expect((err as StrongboxError).code).toBe("SOURCE");
      expect((err as Error).message).toMatch(/set TMPDIR/);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});

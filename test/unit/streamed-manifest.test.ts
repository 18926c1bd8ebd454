import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { comparePaths } from "../../src/archive/path-order.js";
import type { ManifestEntry } from "../../src/archive/tar-pack.js";
import { walkEntries } from "../../src/archive/walk.js";
import { EntrySpool } from "../../src/repository/entry-spool.js";
import { manifestJson } from "../../src/repository/manifest-write.js";
import { describeDiff, TreeMatch } from "../../src/sources/tree-check.js";
import { tempDir } from "../helpers/cli.js";
import { mulberry32 } from "../helpers/random.js";

const file = (path: string, sha = "a".repeat(64), size = 1): ManifestEntry => ({
  path,
  type: "file",
  size,
  mode: 0o644,
  mtime: "1",
  sha256: sha,
});

describe("tree order (path-order.ts) is the walk's order", () => {
  it("sorting a tree's paths with comparePaths gives exactly what the walk lists", () => {
    const rnd = mulberry32(7);
    // Names around '/' (0x2f) in code-unit order: ' ', '!', '-', '.', '0', 'A', 'a', '~', 'é', '😀'.
    const alphabet = [" ", "!", "-", ".", "0", "A", "a", "~", "é", "😀"];
    const name = () =>
      Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
    for (let round = 0; round < 5; round++) {
      const root = tempDir("order");
      const dirs = [""];
      for (let i = 0; i < 120; i++) {
        const parent = dirs[Math.floor(rnd() * dirs.length)];
        const n = name();
        if (n === "." || n === "..") continue;
        const rel = parent ? `${parent}/${n}` : n;
        const abs = join(root, rel);
        try {
          if (rnd() < 0.4) {
            mkdirSync(abs);
            dirs.push(rel);
          } else if (rnd() < 0.8) writeFileSync(abs, "x", { flag: "wx" });
          else symlinkSync("target", abs);
        } catch {
          // the name exists already
        }
      }
      const walked = [...walkEntries(root, { exclude: () => false, warn: () => {} })].map((e) => e.path);
      expect(walked.length).toBeGreaterThan(20);
      expect([...walked].sort(comparePaths)).toEqual(walked);
      // and the order is strict: no two entries compare equal
      for (let i = 1; i < walked.length; i++) expect(comparePaths(walked[i - 1], walked[i])).toBeLessThan(0);
      expect(readdirSync(root).length).toBeGreaterThan(0);
    }
  });

  it("puts a directory's contents right after it, before siblings that sort above '/'", () => {
    expect(["a.txt", "a/x", "a", "a b", "a-b", "b"].sort(comparePaths)).toEqual([
      "a",
      "a/x",
      "a b",
      "a-b",
      "a.txt",
      "b",
    ]);
  });
});

describe("entry spool", () => {
  for (const limit of [1 << 30, 64 * 1024]) {
    it(`gives back every record in order, as records and as JSON (${limit > 1e6 ? "in memory" : "through a temporary file"})`, () => {
      const spool = new EntrySpool<ManifestEntry>(limit);
      const all = Array.from({ length: 30_000 }, (_, i) =>
        file(`d/${String(i).padStart(6, "0")} é\n"quoted"`, i.toString(16).padStart(64, "0"), i),
      );
      for (const e of all) spool.push(e);
      expect(spool.length).toBe(all.length);
      expect(spool.toArray()).toEqual(all);
      expect([...spool]).toEqual(all); // readable more than once
      expect(JSON.parse(`[${Buffer.concat([...spool.jsonElements()]).toString()}]`)).toEqual(all);
      spool.close();
      if (limit < 1e6) expect(() => spool.toArray()).toThrow(/after close/);
    });
  }

  it("an empty spool is an empty JSON list", () => {
    const spool = new EntrySpool<ManifestEntry>();
    expect(spool.toArray()).toEqual([]);
    expect(Buffer.concat([...spool.jsonElements()]).toString()).toBe("");
  });

  it("a temporary file is unlinked at once: nothing is left in TMPDIR", () => {
    // A TMPDIR of its own: other test files run backups side by side, and theirs come and go in /tmp.
    const own = tempDir("spool-tmp");
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      const spool = new EntrySpool<ManifestEntry>(1024);
      for (let i = 0; i < 5000; i++) spool.push(file(`f${i}`));
      expect(tmpdir()).toBe(own);
      expect(spool.toArray()).toHaveLength(5000);
      expect(readdirSync(own)).toEqual([]);
      spool.close();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});

describe("manifest JSON written piece by piece", () => {
  it("parses to the manifest, entries included, for files and postgres sources", () => {
    const entries = new EntrySpool<ManifestEntry>(4096);
    const list = Array.from({ length: 2000 }, (_, i) => file(`f${String(i).padStart(5, "0")}`));
    for (const e of list) entries.push(e);
    const empty = new EntrySpool<ManifestEntry>();
    const db = {
      type: "postgres" as const,
      object: "o2",
      server_version: "18",
      database: "x",
      pg_dump_version: "18.1",
      tables: [],
      warnings: [],
    };
    const m = {
      format: "strongbox/1" as const,
      id: "20261202T000000Z-abcdef",
      created_at: "2026-12-02T00:00:00.000Z",
      host: "h",
      sources: {
        tree: {
          type: "files" as const,
          path: "/srv",
          object: "o1",
          files: 2000,
          bytes: 2000,
          entries,
          warnings: ["w"],
        },
        db,
        none: { type: "files" as const, path: "/e", object: "o3", files: 0, bytes: 0, entries: empty, warnings: [] },
      },
    };
    const parsed = JSON.parse(Buffer.concat([...manifestJson(m)]).toString());
    expect(parsed).toEqual({
      ...m,
      sources: { tree: { ...m.sources.tree, entries: list }, db, none: { ...m.sources.none, entries: [] } },
    });
    entries.close();
  });
});

describe("one-pass tree match", () => {
  const want = ["a", "a/1", "a/2", "b", "c"].map((p) => file(p));
  const seen = (paths: string[], alter: Record<string, Partial<ManifestEntry>> = {}) => {
    const m = new TreeMatch(want);
    for (const p of paths) m.see({ path: p, type: "file", size: 1, sha256: "a".repeat(64), ...alter[p] });
    return m.finish();
  };
  it("finds nothing when archive and manifest agree", () => {
    expect(describeDiff(seen(["a", "a/1", "a/2", "b", "c"]))).toBeUndefined();
  });
  it("names missing, extra, altered and out-of-order entries", () => {
    const d = seen(["a", "a/0", "a/2", "c", "b"], { "a/2": { sha256: "b".repeat(64) } });
    expect(d.missing).toEqual(["a/1", "b"]);
    expect(d.extra).toEqual(["a/0"]);
    expect(d.changed.map((c) => c.path)).toEqual(["a/2", "b"]);
    expect(d.changed[1].why).toMatch(/out of tree order/);
  });
  it("counts past the first 20 of each kind without keeping them", () => {
    const m = new TreeMatch(Array.from({ length: 5000 }, (_, i) => file(`f${String(i).padStart(5, "0")}`)));
    const d = m.finish();
    expect(d.counts.missing).toBe(5000);
    expect(d.missing).toHaveLength(20);
    expect(describeDiff(d)).toMatch(/^5000 missing: f00000, .*… \(4980 more\)$/);
  });
});

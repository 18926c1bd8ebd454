// Issue 21: the archive says which warnings are about data: a path that could not be read (the
// source fails unless on_unreadable: partial) or a file that changed while read (counted).
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packTar } from "../../src/archive/tar-pack.js";
import { walkEntries, walkTree, type Skipped } from "../../src/archive/walk.js";
import { tempDir } from "../helpers/cli.js";

describe("warnings about data carry their kind", () => {
  it("a file that grows while read is 'changed', once; a vanished file is no kind (a deletion)", async () => {
    const src = tempDir("kinds-grow");
    writeFileSync(join(src, "log.txt"), "a".repeat(3 * 1024 * 1024));
    writeFileSync(join(src, "z-gone.txt"), "soon gone");
    const seen: (Skipped | undefined)[] = [];
    const entries = await walkTree(src, { exclude: () => false, warn: (_m, k) => seen.push(k) });
    const stream = packTar(src, entries, { warn: (_m, k) => seen.push(k), onEntry: () => {} });
    let touched = false;
    for await (const _ of stream) {
      if (!touched) {
        touched = true;
        appendFileSync(join(src, "log.txt"), "more");
        unlinkSync(join(src, "z-gone.txt"));
      }
    }
    expect(seen).toEqual([{ kind: "changed", path: "log.txt" }, undefined]);
  });

  it("beforeEnd can refuse to finish the archive: the stream fails, no end-of-archive is produced", async () => {
    const src = tempDir("kinds-end");
    mkdirSync(join(src, "d"));
    writeFileSync(join(src, "d", "f"), "x");
    const entries = await walkTree(src, { exclude: () => false, warn: () => {} });
    const stream = packTar(src, entries, {
      warn: () => {},
      onEntry: () => {},
      beforeEnd: () => {
        throw new Error("refused: 1 path(s) could not be read");
      },
    });
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toThrow(/refused/);
  });

  it("a name or symlink target that is not UTF-8 is unreadable, never dropped; its U+FFFD twin is listed once", async () => {
    const src = tempDir("kinds-utf8");
    const raw = (...parts: (string | number[])[]) =>
      Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
    writeFileSync(raw(src, "/a", [0xff]), "latin-1 name");
    writeFileSync(join(src, "a\ufffd"), "a real U+FFFD name");
    mkdirSync(raw(src, "/dir", [0xfe]));
    writeFileSync(raw(src, "/dir", [0xfe], "/inside.txt"), "under a latin-1 directory");
    symlinkSync(raw("tar", [0xff], "get"), join(src, "link"));
    const warned: [string, Skipped | undefined][] = [];
    const entries = await walkTree(src, { exclude: () => false, warn: (m, k) => warned.push([m, k]) });
    expect(entries.map((e) => e.path)).toEqual(["a\ufffd"]);
    expect(warned.map(([, k]) => k)).toEqual([
      { kind: "unreadable", path: "a\ufffd" },
      { kind: "unreadable", path: "dir\ufffd" },
      { kind: "unreadable", path: "link" },
    ]);
    expect(warned[0][0]).toMatch(/its name is not UTF-8/);
    expect(warned[2][0]).toMatch(/its target is not UTF-8/);
    // An exclude that matches the name (as it reads, with U+FFFD) leaves it out without a word.
    const quiet: unknown[] = [];
    await walkTree(src, { exclude: (p) => p.startsWith("dir") || p === "link", warn: (m) => quiet.push(m) });
    expect(quiet).toHaveLength(1);
  });

  it("a directory deleted after it was listed, and a file deleted before its lstat, are deletions (no kind)", () => {
    const src = tempDir("kinds-gone");
    mkdirSync(join(src, "a-dir"));
    writeFileSync(join(src, "a-dir", "f"), "x");
    writeFileSync(join(src, "b-file"), "x");
    writeFileSync(join(src, "c-file"), "x");
    const warned: [string, Skipped | undefined][] = [];
    const seen: string[] = [];
    // The walk is lazy: each entry is stat'ed when it is reached, each directory listed when entered.
    for (const e of walkEntries(src, { exclude: () => false, warn: (m, k) => warned.push([m, k]) })) {
      seen.push(e.path);
      if (e.path === "a-dir") {
        rmSync(join(src, "a-dir"), { recursive: true });
        unlinkSync(join(src, "c-file"));
      }
    }
    expect(seen).toEqual(["a-dir", "b-file"]);
    expect(warned).toEqual([
      ["a-dir: vanished before it could be listed", undefined],
      ["c-file: vanished before it could be read", undefined],
    ]);
  });

  it("a listed file replaced by a FIFO or a symlink is reported as replaced ('changed'), and the archive goes on", async () => {
    const src = tempDir("kinds-fifo");
    writeFileSync(join(src, "big"), Buffer.alloc(300 * 1024, 1)); // over the small-file bound: the async open
    writeFileSync(join(src, "fifo"), "x");
    writeFileSync(join(src, "link"), "x");
    writeFileSync(join(src, "small"), "x");
    const entries = await walkTree(src, { exclude: () => false, warn: () => {} });
    for (const n of ["fifo", "big"]) {
      unlinkSync(join(src, n));
      execFileSync("mkfifo", [join(src, n)]); // open() without O_NONBLOCK would wait here for a writer
    }
    unlinkSync(join(src, "link"));
    symlinkSync("/etc/hostname", join(src, "link"));
    const warned: [string, Skipped | undefined][] = [];
    const archived: string[] = [];
    const stream = packTar(src, entries, {
      warn: (m, k) => warned.push([m, k]),
      onEntry: (e) => archived.push(e.path),
    });
    for await (const _ of stream);
    expect(archived).toEqual(["small"]);
    expect(warned).toEqual(
      ["big", "fifo", "link"].map((p) => [
        `${p}: replaced by something else while backing up, not backed up`,
        { kind: "changed", path: p },
      ]),
    );
  });
});

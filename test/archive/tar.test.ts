import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { extractTar } from "../../src/archive/extract.js";
import { makeExcluder } from "../../src/archive/glob.js";
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarEntry } from "../../src/archive/tar-header.js";
import { packTar, type ManifestEntry } from "../../src/archive/tar-pack.js";
import { walkTree } from "../../src/archive/walk.js";
import { tempDir } from "../helpers/cli.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function craft(entries: (Partial<TarEntry> & { path: string; body?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    parts.push(
      encodeHeader({ type: "file", size: body.length, mode: 0o644, uid: 0, gid: 0, mtime: "1700000000", ...e }),
    );
    if (body.length) parts.push(body, paddingFor(body.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

const warn = () => {};

describe("tar writer and extractor", () => {
  it("round-trips a tree: paths, types, modes, mtimes, symlinks, empty dirs, unicode, long names", async () => {
    const src = tempDir("tar-src");
    makeSampleTree(src);
    const entries = await walkTree(src, { exclude: () => false, warn });
    const recorded: ManifestEntry[] = [];
    const tar = await collect(packTar(src, entries, { warn, onEntry: (e) => recorded.push(e) }));
    const dst = tempDir("tar-dst");
    await extractTar(Readable.from([tar]), dst, { warn });
    expect(snapshotTree(dst)).toEqual(snapshotTree(src));
    expect(recorded.find((e) => e.path.endsWith("rundown.json"))?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("writes archives GNU tar reads exactly (ns mtimes via PAX)", async () => {
    const src = tempDir("tar-gnu-src");
    makeSampleTree(src);
    const tar = await collect(
      packTar(src, await walkTree(src, { exclude: () => false, warn }), { warn, onEntry: () => {} }),
    );
    const dst = tempDir("tar-gnu-dst");
    writeFileSync(join(dst, "../gnu.tar"), tar);
    execFileSync("tar", ["-xf", join(dst, "../gnu.tar"), "-C", dst]);
    expect(snapshotTree(dst)).toEqual(snapshotTree(src));
  });

  it("applies exclude patterns", async () => {
    const src = tempDir("tar-ex");
    makeSampleTree(src);
    const entries = await walkTree(src, { exclude: makeExcluder(["**/*.tmp", "deep"]), warn });
    expect(entries.some((e) => e.path.endsWith(".tmp"))).toBe(false);
    expect(entries.some((e) => e.path.startsWith("deep"))).toBe(false);
    expect(entries.some((e) => e.path === "ASSETS/script.sh")).toBe(true);
  });

  it.each([
    ["a '..' path", [{ path: "../evil.txt", body: "x" }], /'\.\.' component/],
    ["a nested '..' path", [{ path: "ok/../../evil.txt", body: "x" }], /'\.\.' component/],
    ["an absolute path", [{ path: "/tmp/strongbox-evil-abs.txt", body: "x" }], /absolute path/],
    [
      "a write through a symlink",
      [
        { path: "link", type: "symlink" as const, linkname: "/tmp" },
        { path: "link/strongbox-evil.txt", body: "x" },
      ],
      /which is a symlink/,
    ],
    [
      "a write through a relative symlink",
      [
        { path: "up", type: "symlink" as const, linkname: ".." },
        { path: "up/escaped.txt", body: "x" },
      ],
      /which is a symlink/,
    ],
    [
      "the same path twice",
      [
        { path: "a.txt", body: "1" },
        { path: "a.txt", body: "2" },
      ],
      /twice/,
    ],
  ])("refuses a crafted archive with %s", async (_what, entries, message) => {
    const root = tempDir("tar-evil");
    const target = join(root, "target");
    mkdirSync(target);
    await expect(extractTar(Readable.from([craft(entries)]), target, { warn })).rejects.toThrow(message);
    expect(existsSync("/tmp/strongbox-evil.txt")).toBe(false);
    expect(existsSync("/tmp/strongbox-evil-abs.txt")).toBe(false);
    expect(existsSync(join(root, "evil.txt"))).toBe(false);
    expect(existsSync(join(root, "escaped.txt"))).toBe(false);
  });

  it("refuses to write through a symlink that already existed in the target", async () => {
    const root = tempDir("tar-pre");
    const target = join(root, "target");
    mkdirSync(join(root, "outside"), { recursive: true });
    mkdirSync(target);
    execFileSync("ln", ["-s", join(root, "outside"), join(target, "sub")]);
    await expect(
      extractTar(Readable.from([craft([{ path: "sub/x.txt", body: "x" }])]), target, { warn }),
    ).rejects.toThrow(/symlink/);
    expect(existsSync(join(root, "outside/x.txt"))).toBe(false);
  });

  it("detects a truncated archive and a corrupt header", async () => {
    const tar = craft([{ path: "a.txt", body: "hello" }]);
    await expect(extractTar(Readable.from([tar.subarray(0, 700)]), tempDir("tar-trunc"), { warn })).rejects.toThrow(
      /truncated/,
    );
    const bad = Buffer.from(tar);
    bad[10] ^= 0xff;
    await expect(extractTar(Readable.from([bad]), tempDir("tar-bad"), { warn })).rejects.toThrow(/checksum/);
  });

  it("archives a file that grows while read at its announced size and warns, keeping the archive valid", async () => {
    const src = tempDir("tar-grow");
    writeFileSync(join(src, "log.txt"), "a".repeat(3 * 1024 * 1024));
    writeFileSync(join(src, "z-after.txt"), "after");
    const entries = await walkTree(src, { exclude: () => false, warn });
    const warnings: string[] = [];
    const stream = packTar(src, entries, { warn: (m) => warnings.push(m), onEntry: () => {} });
    const chunks: Buffer[] = [];
    let grown = false;
    for await (const c of stream) {
      chunks.push(c as Buffer);
      if (!grown) {
        grown = true;
        appendFileSync(join(src, "log.txt"), "more data appended during the backup");
      }
    }
    expect(warnings.join("\n")).toMatch(/log\.txt: changed while being read/);
    const dst = tempDir("tar-grow-dst");
    await extractTar(Readable.from([Buffer.concat(chunks)]), dst, { warn });
    expect(readFileSync(join(dst, "log.txt")).length).toBe(3 * 1024 * 1024);
    expect(readFileSync(join(dst, "z-after.txt"), "utf8")).toBe("after");
  });

  it("reports a file that vanished before it was read, and leaves it out", async () => {
    const src = tempDir("tar-vanish");
    writeFileSync(join(src, "gone.txt"), "x");
    writeFileSync(join(src, "kept.txt"), "y");
    const entries = await walkTree(src, { exclude: () => false, warn });
    execFileSync("rm", [join(src, "gone.txt")]);
    const warnings: string[] = [];
    const recorded: ManifestEntry[] = [];
    const tar = await collect(
      packTar(src, entries, { warn: (m) => warnings.push(m), onEntry: (e) => recorded.push(e) }),
    );
    expect(warnings).toEqual(["gone.txt: vanished before it could be read"]);
    expect(recorded.map((e) => e.path)).toEqual(["kept.txt"]);
    const dst = tempDir("tar-vanish-dst");
    await extractTar(Readable.from([tar]), dst, { warn });
    expect(readFileSync(join(dst, "kept.txt"), "utf8")).toBe("y");
  });
});

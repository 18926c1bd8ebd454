// Hostile archives: every case is built byte by byte here (see test/helpers/tar-craft.ts), then given
// to restore (extractTar) and to verify (scanTar). Each must end in a VERIFY error that names the
// problem, quickly, with nothing written outside the target; the harmless ones must extract exactly.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { extractTar, scanTar } from "../../src/archive/extract.js";
import { StrongboxError } from "../../src/errors.js";
import { escapeControl } from "../../src/terminal-safe.js";
import { tempDir } from "../helpers/cli.js";
import {
  archive,
  fileEntry,
  gnuLong,
  octalSize,
  padTo512,
  paxHeader,
  paxRecord,
  rawHeader,
} from "../helpers/tar-craft.js";
import { snapshotTree } from "../helpers/tree.js";

const canary = `/tmp/strongbox-hostile-${process.pid}`;

/** Runs `p` but fails (instead of hanging the suite) if it takes longer than `ms`: a hang is a defect. */
async function bounded<T>(p: Promise<T>, ms = 10_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (t = setTimeout(() => reject(new Error(`hung for more than ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** A sandbox whose parent holds nothing but the target, so a write outside it shows. */
function sandbox() {
  const root = tempDir("hostile");
  const target = join(root, "target");
  mkdirSync(target);
  return { root, target, outside: () => readdirSync(root).filter((n) => n !== "target") };
}

async function expectRefused(tar: Buffer, message: RegExp) {
  const s = sandbox();
  const restore = await bounded(
    extractTar(Readable.from([tar]), s.target, { warn: () => {} }).then(
      () => null,
      (e: unknown) => e,
    ),
  );
  expect(restore, "restore must refuse").toBeInstanceOf(StrongboxError);
  expect((restore as StrongboxError).code).toBe("VERIFY");
  expect((restore as Error).message).toMatch(message);
  const verify = await bounded(
    scanTar(Readable.from([tar]), { warn: () => {} }).then(
      () => null,
      (e: unknown) => e,
    ),
  );
  expect(verify, "verify must refuse what restore refuses").toBeInstanceOf(StrongboxError);
  expect((verify as StrongboxError).code).toBe("VERIFY");
  expect(s.outside()).toEqual([]);
  expect(existsSync(canary)).toBe(false);
  expect(existsSync(`${canary}-link`)).toBe(false);
}

const body = (n: number) => Buffer.alloc(n, 0x61);

describe("hostile archives are refused by restore and verify (exit 3), writing nothing outside the target", () => {
  it.each<[string, () => Buffer, RegExp]>([
    ["traversal by name", () => archive(fileEntry("../evil", "x")), /'\.\.' component/],
    ["an absolute name", () => archive(fileEntry(canary, "x")), /absolute path/],
    ["traversal through the ustar prefix", () => archive(fileEntry("evil", "x", { prefix: ".." })), /'\.\.' component/],
    [
      "traversal by PAX path",
      () => archive(paxHeader(paxRecord("path", "../../evil")), fileEntry("harmless", "x")),
      /'\.\.' component/,
    ],
    [
      "a PAX path that becomes '..' only after the override",
      () => archive(paxHeader(paxRecord("path", "a/../../b")), fileEntry("a/b", "x")),
      /'\.\.' component/,
    ],
    [
      "traversal by GNU long name",
      () => archive(gnuLong("L", "../../evil"), fileEntry("harmless", "x")),
      /'\.\.' component/,
    ],
    ["an absolute GNU long name", () => archive(gnuLong("L", canary), fileEntry("harmless", "x")), /absolute path/],
    [
      "a write through a symlink to '..'",
      () => archive(rawHeader({ name: "up", typeflag: "2", linkname: ".." }), fileEntry("up/evil", "x")),
      /below "up", which is a symlink/,
    ],
    [
      "a write through an absolute symlink",
      () =>
        archive(
          rawHeader({ name: "l", typeflag: "2", linkname: "/tmp" }),
          fileEntry(`l/strongbox-hostile-${process.pid}`, "x"),
        ),
      /which is a symlink/,
    ],
    [
      "a symlink chain",
      () =>
        archive(
          rawHeader({ name: "a", typeflag: "2", linkname: "b" }),
          rawHeader({ name: "b", typeflag: "2", linkname: ".." }),
          fileEntry("a/evil", "x"),
        ),
      /out of the order strongbox writes/,
    ],
    [
      "entries out of tree order (b before a)",
      () => archive(fileEntry("b", "1"), fileEntry("a", "2")),
      /out of the order strongbox writes/,
    ],
    [
      "a directory listed after its own contents",
      () => archive(fileEntry("d/x", "1"), rawHeader({ name: "d/", typeflag: "5" })),
      /out of the order strongbox writes/,
    ],
    [
      "a directory below a symlink",
      () =>
        archive(rawHeader({ name: "l", typeflag: "2", linkname: "/" }), rawHeader({ name: "l/tmp/", typeflag: "5" })),
      /which is a symlink/,
    ],
    [
      "a GNU long link name on a symlink, then a write through it",
      () =>
        archive(gnuLong("K", "/tmp"), rawHeader({ name: "k", typeflag: "2", linkname: "x" }), fileEntry("k/evil", "x")),
      /which is a symlink/,
    ],
    [
      "a hard link out of the target",
      () => archive(rawHeader({ name: "h", typeflag: "1", linkname: "../../../etc/passwd" })),
      /hard link, which strongbox never writes/,
    ],
    [
      "a hard link to a symlink",
      () =>
        archive(
          rawHeader({ name: "s", typeflag: "2", linkname: "/etc/passwd" }),
          rawHeader({ name: "h", typeflag: "1", linkname: "s" }),
        ),
      /hard link/,
    ],
    ["a character device", () => archive(rawHeader({ name: "null", typeflag: "3" })), /character device/],
    ["a block device", () => archive(rawHeader({ name: "sda", typeflag: "4" })), /block device/],
    ["a FIFO", () => archive(rawHeader({ name: "fifo", typeflag: "6" })), /FIFO/],
    ["an unknown entry type", () => archive(rawHeader({ name: "odd", typeflag: "Z" })), /type "Z"/],
    ["a file below a file", () => archive(fileEntry("f", "x"), fileEntry("f/g", "y")), /which is a file/],
    ["the same path twice", () => archive(fileEntry("a", "1"), fileEntry("./a", "2")), /twice/],
    [
      "a file where the archive already made a directory",
      () => archive(fileEntry("d/x", "1"), fileEntry("d", "2")),
      /already has a directory/,
    ],
    [
      "a fractional PAX size (once an endless loop)",
      () => archive(paxHeader(paxRecord("size", "0.5")), fileEntry("f", "")),
      /PAX size="0\.5"/,
    ],
    [
      "a PAX size in exponent form",
      () => archive(paxHeader(paxRecord("size", "1e12")), fileEntry("f", "")),
      /PAX size/,
    ],
    ["a PAX size in hex", () => archive(paxHeader(paxRecord("size", "0x10")), fileEntry("f", "")), /PAX size/],
    [
      "a PAX size with a leading space",
      () => archive(paxHeader(paxRecord("size", " 12")), fileEntry("f", "")),
      /PAX size/,
    ],
    ["a negative PAX size", () => archive(paxHeader(paxRecord("size", "-100")), fileEntry("f", "")), /PAX size/],
    ["a negative PAX uid", () => archive(paxHeader(paxRecord("uid", "-1")), fileEntry("f", "x")), /PAX uid/],
    // (A negative mtime in the years 1 to 1969 is a file from before 1970: accepted, see test/e2e/odd-names.)
    [
      "a PAX mtime before year 1",
      () => archive(paxHeader(paxRecord("mtime", "-62135596801")), fileEntry("f", "x")),
      /PAX mtime/,
    ],
    [
      "a PAX mtime of minus nothing",
      () => archive(paxHeader(paxRecord("mtime", "-")), fileEntry("f", "x")),
      /PAX mtime/,
    ],
    ["a PAX mtime of NaN", () => archive(paxHeader(paxRecord("mtime", "NaN")), fileEntry("f", "x")), /PAX mtime/],
    [
      "a PAX mtime past year 9999",
      () => archive(paxHeader(paxRecord("mtime", "999999999999")), fileEntry("f", "x")),
      /PAX mtime/,
    ],
    ["a PAX record without a key", () => archive(paxHeader("9 =value\n"), fileEntry("f", "x")), /record without key/],
    [
      "a PAX record whose length runs past the header",
      () => archive(paxHeader("99 path=a\n"), fileEntry("f", "x")),
      /PAX header/,
    ],
    [
      "an octal field that is not octal (NaN mtime)",
      () => archive(fileEntry("f", "x", { mtime: "abcdefabcde\0" })),
      /mtime/,
    ],
    [
      "a negative base-256 size",
      () => archive(rawHeader({ name: "f", size: Buffer.from([0xff, ...Array(11).fill(0xff)]) })),
      /size: negative/,
    ],
    [
      "a base-256 size past 2^53",
      () => archive(rawHeader({ name: "f", size: Buffer.from([0x80, 0x7f, ...Array(10).fill(0xff)]) })),
      /size: too large/,
    ],
    [
      "an 8 GiB size with a few bytes of data",
      () => Buffer.concat([rawHeader({ name: "f", size: "77777777777\0" }), body(4096)]),
      /truncated/,
    ],
    [
      "a directory with a body",
      () => archive(rawHeader({ name: "d/", typeflag: "5", size: octalSize(512) }), padTo512(body(512))),
      /dir with a body/,
    ],
    [
      "a symlink with an empty target",
      () => archive(rawHeader({ name: "s", typeflag: "2", linkname: "" })),
      /empty target/,
    ],
    ["a bad header checksum", () => archive(rawHeader({ name: "f", badChecksum: true })), /checksum/],
    ["a header cut short", () => fileEntry("f", "hello").subarray(0, 300), /truncated/],
    ["file data cut short", () => fileEntry("f", body(5000)).subarray(0, 2048), /truncated/],
    ["no end-of-archive marker", () => fileEntry("f", "x"), /end-of-archive/],
    [
      "data after the end marker",
      () => Buffer.concat([archive(fileEntry("f", "x")), fileEntry("g", "y")]),
      /after the end/,
    ],
    [
      "PAX amplification (1.4 MiB of extended headers for one entry)",
      () =>
        archive(
          ...Array.from({ length: 1400 }, (_, i) =>
            paxHeader(paxRecord("comment", "x".repeat(1000)) + paxRecord("path", `p${i}`)),
          ),
          fileEntry("f", "x"),
        ),
      /extended headers larger than/,
    ],
    [
      "a 20,000-level deep path",
      () => archive(paxHeader(paxRecord("path", Array(20_000).fill("d").join("/"))), fileEntry("f", "x")),
      /longer than 4096 bytes/,
    ],
    [
      "a name component over 255 bytes",
      () => archive(paxHeader(paxRecord("path", "n".repeat(300))), fileEntry("f", "x")),
      /longer than 255 bytes/,
    ],
  ])("refuses %s", async (_what, make, message) => {
    await expectRefused(make(), message);
  });

  it("merges many small PAX headers in linear time (once quadratic: 1.4 MiB took 24 s)", async () => {
    // 1,000 headers of ~1 KB each: under the per-entry bound, so it must be parsed, and quickly enough not to hang.
    const parts = Array.from({ length: 1000 }, (_, i) =>
      paxHeader(paxRecord("comment", "y".repeat(900)) + paxRecord("path", `p${i}`)),
    );
    const tar = archive(...parts, fileEntry("ignored-name", "hello"));
    const s = sandbox();
    await bounded(extractTar(Readable.from([tar]), s.target, { warn: () => {} }), 5000);
    expect(readdirSync(s.target)).toEqual(["p999"]);
  });

  it("strips setuid and setgid bits unless --keep-setuid, and says so", async () => {
    const tar = archive(
      rawHeader({ name: "sgid-dir/", typeflag: "5", mode: "0002775\0" }),
      fileEntry("suid", "#!/bin/sh\n", { mode: "0006755\0" }),
    );
    const s = sandbox();
    const warnings: string[] = [];
    await extractTar(Readable.from([tar]), s.target, { warn: (m) => warnings.push(m) });
    expect(statSync(join(s.target, "suid")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(s.target, "sgid-dir")).mode & 0o7777).toBe(0o775);
    expect(warnings.join("\n")).toMatch(/"suid": setuid\/setgid bits not restored/);
    const kept = sandbox();
    await extractTar(Readable.from([tar]), kept.target, { warn: () => {}, keepSetuid: true });
    expect(statSync(join(kept.target, "suid")).mode & 0o7777).toBe(0o6755);
  });

  it("extracts a 1,500-level deep tree without recursion trouble", async () => {
    const parts: Buffer[] = [];
    let p = "";
    for (let i = 0; i < 1500; i++) {
      p = p ? `${p}/d` : "d";
      if (i % 100 === 99)
        parts.push(paxHeader(paxRecord("path", p)), rawHeader({ name: "placeholder/", typeflag: "5" }));
    }
    parts.push(paxHeader(paxRecord("path", `${p}/leaf`)), fileEntry("placeholder-leaf", "deep"));
    const s = sandbox();
    const seen: string[] = [];
    await bounded(
      extractTar(Readable.from([archive(...parts)]), s.target, { warn: () => {}, onEntry: (e) => seen.push(e.path) }),
    );
    expect(seen).toHaveLength(16);
    expect(seen.at(-1)!.split("/")).toHaveLength(1501);
  });

  it("names with control characters reach the terminal escaped", async () => {
    const evil = "\u001b[2J\u001b]0;pwned\u0007name\u009b31m";
    expect(escapeControl(evil)).toBe("\\x1b[2J\\x1b]0;pwned\\x07name\\x9b31m");
    // Bidi controls reorder what a terminal shows: overrides, isolates and the marks alike.
    expect(escapeControl("a\u202eb\u2066c\u200ed\u200fe\u061cf")).toBe("a\\u202eb\\u2066c\\u200ed\\u200fe\\u061cf");
    const tar = archive(fileEntry(`../${evil}`, "x"));
    const err = await extractTar(Readable.from([tar]), sandbox().target, { warn: () => {} }).catch((e: Error) => e);
    expect(escapeControl((err as Error).message)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it("ignores global PAX headers, and extracts entries byte-split across many small chunks", async () => {
    const tar = archive(
      Buffer.concat([
        rawHeader({
          name: "GlobalHead",
          typeflag: "g",
          size: octalSize(Buffer.byteLength(paxRecord("path", "../global"))),
        }),
        padTo512(Buffer.from(paxRecord("path", "../global"))),
      ]),
      fileEntry("a.txt", "hello"),
    );
    const chunks: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 7) chunks.push(tar.subarray(i, i + 7));
    const s = sandbox();
    await extractTar(Readable.from(chunks), s.target, { warn: () => {} });
    expect(readdirSync(s.target)).toEqual(["a.txt"]);
    expect(s.outside()).toEqual([]);
  });
});

describe("archives made by GNU tar in each format extract exactly", () => {
  function makeTree(root: string) {
    mkdirSync(join(root, "projects/show 1"), { recursive: true });
    mkdirSync(join(root, "empty"));
    writeFileSync(join(root, "projects/show 1/item.json"), '{"a":1}');
    writeFileSync(join(root, "zero"), "");
    writeFileSync(join(root, "big.bin"), Buffer.alloc(300_000, 3));
    execFileSync("ln", ["-s", "projects/show 1", join(root, "link")]);
    execFileSync("touch", ["-d", "2020-01-02T03:04:05Z", join(root, "zero"), join(root, "projects/show 1/item.json")]);
  }

  it.each(["gnu", "oldgnu", "pax", "ustar", "v7"])("--format=%s", async (format) => {
    const src = tempDir(`gnu-${format}`);
    makeTree(src);
    if (format === "gnu" || format === "pax") writeFileSync(join(src, "n".repeat(180)), "long name");
    const tar = execFileSync("tar", ["-c", `--format=${format}`, "-C", src, "--sort=name", ...readdirSync(src)], {
      maxBuffer: 64 << 20,
    });
    const s = sandbox();
    await extractTar(Readable.from([tar]), s.target, { warn: () => {} });
    expect(snapshotTree(s.target, 1000)).toEqual(snapshotTree(src, 1000));
    expect(lstatSync(join(s.target, "link")).isSymbolicLink()).toBe(true);
    await scanTar(Readable.from([tar]), { warn: () => {} });
  });
});

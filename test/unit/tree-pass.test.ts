// The one pass over a files source (src/archive/tree-pass.ts): a differential merged with its base
// into one tree, the dumpdirs checked as they stream, and the same verdict for the disk sink
// (restore) and the null sink (verify).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { diskSink } from "../../src/archive/extract.js";
import type { ManifestEntry } from "../../src/archive/tar-pack.js";
import { nullSink, readTree, MAX_OPEN_DUMPDIR_BYTES, type TreePassOptions } from "../../src/archive/tree-pass.js";
import { describeDiff } from "../../src/sources/tree-check.js";
import { tempDir } from "../helpers/cli.js";
import { archive, fileEntry, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const file = (path: string, body: string): ManifestEntry => ({
  path,
  type: "file",
  size: Buffer.byteLength(body),
  mode: 0o644,
  mtime: "1",
  sha256: sha(body),
});
const dir = (path: string): ManifestEntry => ({ path, type: "dir", size: 0, mode: 0o755, mtime: "1" });
const dirHeader = (name: string, dumpdir?: string) => {
  const records =
    (name.length > 90 ? paxRecord("path", `${name}/`) : "") +
    (dumpdir === undefined ? "" : paxRecord("GNU.dumpdir", dumpdir));
  return Buffer.concat([
    ...(records ? [paxHeader(records)] : []),
    rawHeader({ name: name.length > 90 ? "long/" : `${name}/`, typeflag: "5", mode: "0000755\0" }),
  ]);
};

/** Runs the pass with both sinks; both must end alike (same result, or the same error). */
async function both(o: Omit<TreePassOptions, "archive" | "base" | "sink"> & { archive: Buffer; base?: Buffer }) {
  const target = tempDir("treepass");
  const { archive, base, ...rest } = o;
  const run = (sink: TreePassOptions["sink"]) =>
    readTree({
      ...rest,
      archive: Readable.from([archive]),
      ...(base ? { base: Readable.from([base]) } : {}),
      sink,
    }).then(
      (r) => ({ ok: true as const, tree: r.tree && describeDiff(r.tree), dumpdirs: r.dumpdirs }),
      (e: Error) => ({ ok: false as const, error: e.message }),
    );
  const verify = await run(nullSink);
  const restore = await run(diskSink(target, { warn: () => {} }));
  expect(restore).toEqual(verify);
  return { ...verify, target };
}

describe("a differential merged with its base", () => {
  const base = archive(
    dirHeader("d"),
    fileEntry("d/old", "old"),
    fileEntry("d/same", "same"),
    fileEntry("gone", "g"),
    fileEntry("keep", "k"),
  );
  const expected = [dir("d"), file("d/new", "new"), file("d/same", "same"), file("keep", "k")];

  it("takes what the dumpdirs mark N from the base and the rest from the differential, dropping what they no longer list", async () => {
    const diff = archive(dirHeader(".", "Dd\0Nkeep\0\0"), dirHeader("d", "Ynew\0Nsame\0\0"), fileEntry("d/new", "new"));
    const r = await both({ archive: diff, base, expected });
    expect(r).toMatchObject({ ok: true, tree: undefined, dumpdirs: { problems: [], directories: 2 } });
    expect(readdirSync(join(r.target, "d")).sort()).toEqual(["new", "same"]);
    expect(readFileSync(join(r.target, "keep"), "utf8")).toBe("k");
  });

  it("a vanished name (Y, no entry) passes only within the manifest's warnings", async () => {
    const diff = archive(
      dirHeader(".", "Dd\0Nkeep\0Ylost\0\0"),
      dirHeader("d", "Ynew\0Nsame\0\0"),
      fileEntry("d/new", "new"),
    );
    expect(await both({ archive: diff, base, expected, vanishedAllowance: 1 })).toMatchObject({
      ok: true,
      dumpdirs: { problems: [] },
    });
    expect(await both({ archive: diff, base, expected, vanishedAllowance: 0 })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/"lost" \(Y\).*more such names than the 0 files/),
    });
  });

  it("dumpdir names must come in strongbox's order, once each", async () => {
    const unsorted = archive(
      dirHeader(".", "Nkeep\0Dd\0\0"),
      dirHeader("d", "Ynew\0Nsame\0\0"),
      fileEntry("d/new", "new"),
    );
    expect(await both({ archive: unsorted, base, expected })).toMatchObject({
      ok: true,
      dumpdirs: {
        problems: expect.arrayContaining([expect.stringMatching(/lists "d" after "keep", out of the order/)]),
      },
    });
    const twice = archive(
      dirHeader(".", "Dd\0Dd\0Nkeep\0\0"),
      dirHeader("d", "Ynew\0Nsame\0\0"),
      fileEntry("d/new", "new"),
    );
    expect(await both({ archive: twice, base, expected })).toMatchObject({
      ok: true,
      dumpdirs: { problems: expect.arrayContaining([expect.stringMatching(/lists "d" twice/)]) },
    });
  });

  it("a directory without a dumpdir, or a root that is not first, is reported", async () => {
    const noDumpdir = archive(dirHeader(".", "Dd\0Nkeep\0\0"), dirHeader("d"), fileEntry("d/new", "new"));
    expect(await both({ archive: noDumpdir, base, expected })).toMatchObject({
      ok: true,
      dumpdirs: { problems: [expect.stringMatching(/no dumpdir for "d"/)] },
    });
    const late = archive(dirHeader("d", "Ynew\0Nsame\0\0"), dirHeader(".", "Dd\0Nkeep\0\0"));
    expect(await both({ archive: late, base, expected })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/root entry/),
    });
  });

  it("the open directories' dumpdirs are capped; eleven dumpdir problems stop the pass", async () => {
    const big = `${Array.from({ length: 60_000 }, (_, i) => `Yn${String(i).padStart(6, "0")}\0`).join("")}\0`; // ~540 KB
    const parts = [dirHeader(".", "Da\0\0")];
    let path = "";
    for (let i = 0; i < Math.ceil(MAX_OPEN_DUMPDIR_BYTES / big.length) + 1; i++)
      parts.push(dirHeader((path = path ? `${path}/a` : "a"), `Da\0${big.slice(0, -1)}\0`));
    expect(await both({ archive: archive(...parts), base: archive() })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/open directories' dumpdirs hold more than/),
    });
    const many = archive(
      dirHeader(".", `${Array.from({ length: 12 }, (_, i) => `Nx${String(i).padStart(2, "0")}\0`).join("")}\0`),
    );
    expect(await both({ archive: many, base: archive() })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/do not match the manifest: .*x00.*… and more/),
    });
  });
});

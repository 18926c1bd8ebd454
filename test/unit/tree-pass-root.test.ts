// The root entry ("./") of a full (issue 22 item 18): its mtime is set on the restore target's root
// after everything in it; one that is not first, or comes twice, is refused by restore and verify alike.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { diskSink } from "../../src/archive/extract.js";
import type { ManifestEntry } from "../../src/archive/tar-pack.js";
import { nullSink, readTree, type TreeSink } from "../../src/archive/tree-pass.js";
import { tempDir } from "../helpers/cli.js";
import { archive, fileEntry, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const expected: ManifestEntry[] = [{ path: "a", type: "file", size: 1, mode: 0o644, mtime: "1", sha256: sha("a") }];
/** "./" with a nanosecond PAX mtime (1700000000.123456789 s). */
const root = () =>
  Buffer.concat([
    paxHeader(paxRecord("mtime", "1700000000.123456789")),
    rawHeader({ name: "./", typeflag: "5", mode: "0000755\0" }),
  ]);

async function pass(tar: Buffer, sink: TreeSink): Promise<string | undefined> {
  return readTree({ archive: Readable.from([tar]), expected, sink }).then(
    () => undefined,
    (e: Error) => e.message,
  );
}

describe("a full's root entry", () => {
  it("gives the restored root its mtime, set after the files written into it", async () => {
    const target = tempDir("root-entry");
    expect(await pass(archive(root(), fileEntry("a", "a")), diskSink(target, { warn: () => {} }))).toBeUndefined();
    const ns = statSync(target, { bigint: true }).mtimeNs;
    // Within 120 ns: what a double in seconds can hold near 1.7e9 s (README, "Restore").
    expect(Number(ns - 1_700_000_000_123_456_789n)).toBeGreaterThanOrEqual(-120);
    expect(Number(ns - 1_700_000_000_123_456_789n)).toBeLessThanOrEqual(120);
  });

  it("a full without one (written before) restores as before", async () => {
    expect(
      await pass(archive(fileEntry("a", "a")), diskSink(tempDir("root-entry"), { warn: () => {} })),
    ).toBeUndefined();
  });

  it("one that is not first, or comes twice, is refused by restore and verify alike", async () => {
    for (const tar of [archive(fileEntry("a", "a"), root()), archive(root(), root(), fileEntry("a", "a"))]) {
      const verify = await pass(tar, nullSink);
      expect(verify).toMatch(/root entry "\.\/" twice or not first/);
      expect(await pass(tar, diskSink(tempDir("root-entry"), { warn: () => {} }))).toBe(verify);
    }
  });
});

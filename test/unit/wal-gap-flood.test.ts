// verify's WAL chain and `wal fetch` agree on a name a forger flooded: more objects under one WAL file
// name than fetch judges is refused by both (fetch stops recovery there; verify must not pass it).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { MAX_OBJECTS_PER_NAME, walCandidates } from "../../src/wal/fetch.js";
import { checkWalChain, verifyWal } from "../../src/wal/gap.js";
import { parseLsn, parseWalName } from "../../src/wal/names.js";
import { tempDir } from "../helpers/cli.js";

const SYS = "7300000000000000123";
const SEG = 16 * 1024 * 1024;
const h8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
const seg = (segno: number) => h8(1) + h8(0) + h8(segno);
const real = (segno: number) => `wal/${SYS}/${h8(1)}/${seg(segno)}.${"a".repeat(64)}.zst.age`;

describe("a WAL file name flooded with objects", () => {
  it("is refused by verify's chain check as by wal fetch", async () => {
    const flood = Array.from({ length: MAX_OBJECTS_PER_NAME }, (_, i) => `wal/${SYS}/${h8(1)}/${seg(4)}.junk-${i}`);
    const keys = [real(3), real(4), real(5), ...flood];
    // fetch, on a store holding exactly these keys:
    const root = tempDir("wal-flood");
    for (const k of keys) {
      mkdirSync(dirname(join(root, k)), { recursive: true });
      writeFileSync(join(root, k), "x");
    }
    await expect(walCandidates(new LocalDirStore(root), SYS, parseWalName(seg(4))!)).rejects.toThrow(
      /more than 1000 objects under this WAL file name/,
    );
    // verify's walk over the same listing:
    const r = await checkWalChain({
      systemId: SYS,
      start: { timeline: 1, lsn: parseLsn("0/3000028")! },
      segmentSize: SEG,
      objects: keys.map((key) => ({ key, size: 1 })),
      readHistory: () => Promise.reject(new Error("unexpected read")),
    });
    expect(r).toMatchObject({ ok: false, name: seg(4) });
    if (!r.ok) expect(r.reason).toMatch(/more than 1000 objects under this WAL file name/);
    // One fewer object (the real one and 999 others) is judged by both.
    const fewer = keys.slice(0, -1);
    const r2 = await checkWalChain({
      systemId: SYS,
      start: { timeline: 1, lsn: parseLsn("0/3000028")! },
      segmentSize: SEG,
      objects: fewer.map((key) => ({ key, size: 1 })),
      readHistory: () => Promise.reject(new Error("unexpected read")),
    });
    expect(r2).toMatchObject({ ok: true, last: seg(5) });
  });
});

describe("a WAL archive flooded with keys", () => {
  it("verify refuses to hold more than its bound in memory: one line naming the prefix", async () => {
    const root = tempDir("wal-flood-all");
    const keys = [real(3), real(4), ...Array.from({ length: 20 }, (_, i) => `wal/${SYS}/${h8(1)}/junk-${i}`)];
    for (const k of keys) {
      mkdirSync(dirname(join(root, k)), { recursive: true });
      writeFileSync(join(root, k), "x");
    }
    const o = { systemId: SYS, start: { timeline: 1, lsn: parseLsn("0/3000028")! }, segmentSize: SEG };
    await expect(verifyWal(new LocalDirStore(root), [], { ...o, maxObjects: 10 })).rejects.toThrow(
      new RegExp(`^wal/${SYS}/ holds more than 10 objects: refusing to judge the WAL chain`),
    );
    // Within the bound the same listing is judged (and passes: 3 and 4 are there).
    await expect(verifyWal(new LocalDirStore(root), [], { ...o, maxObjects: 100 })).resolves.toMatchObject({
      last: seg(4),
    });
  });
});

import { describe, expect, it } from "vitest";
import { checkWalChain, parseHistory } from "../../src/wal/gap.js";
import { parseLsn, type ParsedWalKey } from "../../src/wal/names.js";

const SYS = "7300000000000000123";
const SEG = 16 * 1024 * 1024;
const h8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
const seg = (tli: number, segno: number) => h8(tli) + h8(Math.floor(segno / 256)) + h8(segno % 256);
const key = (name: string, tli: number, n = 0) =>
  `wal/${SYS}/${h8(tli)}/${name}.${String(n).padStart(64, "a")}.zst.age`;
const objs = (keys: string[]) => keys.map((k) => ({ key: k, size: 1000 }));
const segs = (tli: number, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => key(seg(tli, from + i), tli));

function check(
  keys: string[],
  histories: Record<string, string> = {},
  start = { timeline: 1, lsn: parseLsn("0/3000028")! },
) {
  return checkWalChain({
    systemId: SYS,
    start,
    segmentSize: SEG,
    objects: objs(keys),
    readHistory: async (k: ParsedWalKey) => {
      const text = histories[k.wal.name];
      if (text === undefined) throw new Error("unexpected read");
      return text;
    },
  });
}

describe("the WAL gap check", () => {
  it("follows one timeline from the start segment to the newest", async () => {
    const r = await check(segs(1, 2, 7));
    expect(r).toMatchObject({ ok: true, first: seg(1, 3), last: seg(1, 7) });
    if (r.ok) expect(r.keys).toHaveLength(5);
  });

  it("names the first missing segment", async () => {
    const keys = segs(1, 3, 9).filter((k) => !k.includes(seg(1, 6)));
    expect(await check(keys)).toEqual({ ok: false, name: seg(1, 6), reason: "missing" });
  });

  it("names a segment with two different files archived under its name", async () => {
    const r = await check([...segs(1, 3, 6), key(seg(1, 5), 1, 7)]);
    expect(r).toMatchObject({ ok: false, name: seg(1, 5) });
    if (!r.ok) expect(r.reason).toMatch(/^2 different files are archived under this name/);
  });

  it("crosses a timeline switch: the switch segment comes from the new timeline", async () => {
    const history = { "00000002.history": "1\t0/5800000\tbefore 2026-12-05 09:00:00+00\n" };
    const keys = [...segs(1, 3, 4), key(`${seg(1, 5)}.partial`, 1), key("00000002.history", 2), ...segs(2, 5, 8)];
    const r = await check(keys, history);
    expect(r).toMatchObject({ ok: true, first: seg(1, 3), last: seg(2, 8) });
    if (r.ok) expect(r.timelines.map((t) => t.timeline)).toEqual([1, 2]);
    // Without the new timeline's switch segment: that one is named.
    const gap = await check(
      keys.filter((k) => !k.includes(seg(2, 5))),
      history,
    );
    expect(gap).toEqual({ ok: false, name: seg(2, 5), reason: "missing" });
  });

  it("a newer timeline without its history file is a gap; a damaged one is named", async () => {
    expect(await check([...segs(1, 3, 4), ...segs(2, 5, 6)])).toEqual({
      ok: false,
      name: "00000002.history",
      reason: "missing",
    });
    const r = await check([...segs(1, 3, 4), key("00000002.history", 2)], { "00000002.history": "garbage\n" });
    expect(r).toMatchObject({ ok: false, name: "00000002.history" });
  });

  it("does not follow a timeline that branched off before the base backup started", async () => {
    const keys = [...segs(1, 3, 6), key("00000002.history", 2), ...segs(2, 2, 3)];
    const r = await check(keys, { "00000002.history": "1\t0/2800000\tno recovery target specified\n" });
    expect(r).toMatchObject({ ok: true, last: seg(1, 6) });
  });

  it("stops at the first gap however far a forged segment name points", async () => {
    const keys = [...segs(1, 3, 4), key("00000001000000FF000000FF", 1)];
    expect(await check(keys)).toEqual({ ok: false, name: seg(1, 5), reason: "missing" });
  });

  it("ignores objects of other clusters and keys not in its layout", async () => {
    const other = segs(1, 5, 5).map((k) => k.replace(SYS, "42"));
    const r = await check([
      ...segs(1, 3, 4),
      ...other,
      `wal/${SYS}/00000001/../x`,
      `wal/${SYS}/00000001/${seg(1, 9)}.age`,
    ]);
    expect(r).toMatchObject({ ok: true, last: seg(1, 4) });
  });

  it("parses history files strictly", () => {
    expect(parseHistory("1\t0/5800000\tno recovery target specified\n\n2\t0/9000000\tx\n", 3)).toEqual([
      { timeline: 1, begin: 0n, end: 0x5800000n },
      { timeline: 2, begin: 0x5800000n, end: 0x9000000n },
      { timeline: 3, begin: 0x9000000n, end: null },
    ]);
    expect(() => parseHistory("2\t0/5800000\tx\n1\t0/9000000\tx\n", 3)).toThrow(/out of order/);
    expect(() => parseHistory("3\t0/5800000\tx\n", 3)).toThrow(/out of order/);
  });
});

// Which archived WAL prune may delete (wal/retention.ts), and complete.json's `wal` record of a
// postgres-cluster base (hostile input like the rest of complete.json).
import { describe, expect, it } from "vitest";
import { parseComplete, type CompleteRecord } from "../../src/repository/complete.js";
import { judgeWalKey, walKeepPlan } from "../../src/wal/retention.js";

const id = "20261205T020000Z-abcdef";
const SYSID = "7345678901234567890";
const HASH = "ab".repeat(32);
const key = (name: string, sysid = SYSID) => `wal/${sysid}/${name.slice(0, 8)}/${name}.${HASH}.zst.age`;

const record = (wal: unknown, type = "postgres-cluster") =>
  JSON.stringify({
    format: "strongbox/1",
    id,
    started_at: "2026-12-05T02:00:00.000Z",
    finished_at: "2026-12-05T02:00:01.000Z",
    host: "h",
    tool_version: "1.0.0",
    compression: "zstd",
    sources: [{ name: "cluster", type, ...(wal === undefined ? {} : { wal }) }],
    objects: [
      {
        key: `backups/${id}/cluster.${type === "files" ? "tar" : "base.tar"}.zst.age`,
        size: 1,
        sha256: "a".repeat(64),
        source: "cluster",
      },
      { key: `backups/${id}/manifest.json.zst.age`, size: 1, sha256: "c".repeat(64) },
    ],
    warnings: 0,
  });

const base = (bid: string, start: string, sysid = SYSID): { id: string; complete: CompleteRecord } => ({
  id: bid,
  complete: {
    sources: [
      {
        name: "cluster",
        type: "postgres-cluster",
        wal: { system_identifier: sysid, timeline: parseInt(start.slice(0, 8), 16), start_wal: start },
      },
    ],
  } as CompleteRecord,
});

describe("complete.json wal", () => {
  it("is read back for a postgres-cluster source", () => {
    const wal = { system_identifier: SYSID, timeline: 2, start_wal: "000000020000000000000005" };
    expect(parseComplete(record(wal), id).sources[0].wal).toEqual(wal);
    expect(parseComplete(record(undefined), id).sources[0].wal).toBeUndefined();
  });

  it.each([
    [{ system_identifier: "0", timeline: 1, start_wal: "000000010000000000000005" }, /system_identifier/],
    [{ system_identifier: "99999999999999999999", timeline: 1, start_wal: "000000010000000000000005" }, /64-bit/],
    [{ system_identifier: SYSID, timeline: 0, start_wal: "000000010000000000000005" }, /timeline/],
    [{ system_identifier: SYSID, timeline: 1, start_wal: "000000020000000000000005" }, /start_wal/],
    [{ system_identifier: SYSID, timeline: 1, start_wal: "../../etc/passwd" }, /start_wal/],
    [{ system_identifier: SYSID, timeline: 1, start_wal: "000000010000000000000005", x: 1 }, /unknown key/],
    ["0/2000028", /not an object/],
  ])("refuses wal %j as forged", (wal, why) => {
    expect(() => parseComplete(record(wal), id)).toThrow(why);
  });

  it("refuses a wal record on a files source", () => {
    const wal = { system_identifier: SYSID, timeline: 1, start_wal: "000000010000000000000005" };
    expect(() => parseComplete(record(wal, "files"), id)).toThrow(/only a postgres-cluster source/);
  });
});

describe("WAL retention", () => {
  it("keeps from the oldest kept start: a forged late start cannot raise it", () => {
    const plan = walKeepPlan([base("b2", "000000010000000000000005"), base("f", "00000001FFFFFFFF000000FF")]);
    expect(plan.points.get(SYSID)).toMatchObject({ startWal: "000000010000000000000005", base: "b2", timeline: 1 });
    const v = (name: string) => judgeWalKey(key(name), plan.points).action;
    expect(v("000000010000000000000004")).toBe("delete");
    expect(v("000000010000000000000004.partial")).toBe("delete");
    expect(v("000000010000000000000002.00000028.backup")).toBe("delete");
    expect(v("000000010000000000000005")).toBe("keep");
    expect(v("000000010000000100000000")).toBe("keep"); // a later xlog id: name order is segment order
    expect(v("00000001.history")).toBe("keep");
    expect(v("00000002.history")).toBe("keep");
    expect(v("000000020000000000000003")).toBe("keep"); // a newer timeline than the kept bases'
  });

  it("takes the lowest timeline too: a base on timeline 2 and one on 1", () => {
    const plan = walKeepPlan([base("a", "000000020000000000000009"), base("b", "000000010000000000000007")]);
    expect(judgeWalKey(key("000000010000000000000006"), plan.points).action).toBe("delete");
    expect(judgeWalKey(key("000000020000000000000006"), plan.points).action).toBe("keep");
  });

  it("keeps WAL of a cluster with no kept base, and keys that are not ours", () => {
    const plan = walKeepPlan([base("b", "000000010000000000000005")]);
    expect(judgeWalKey(key("000000010000000000000001", "7000000000000000001"), plan.points)).toEqual({
      action: "no-base",
      systemId: "7000000000000000001",
    });
    for (const k of [
      `wal/${SYSID}/00000001/000000010000000000000001`,
      `wal/${SYSID}/00000002/000000010000000000000001.${HASH}.zst.age`,
      `wal/${SYSID}/00000001/000000010000000000000001.${HASH}.zst.age.tmp`,
      "wal/x",
    ])
      expect(judgeWalKey(k, plan.points).action).toBe("unparsable");
  });

  it("names a kept cluster base without a WAL start (an older backup)", () => {
    const old = { id: "old", complete: { sources: [{ name: "c", type: "postgres-cluster" }] } as CompleteRecord };
    expect(walKeepPlan([old, base("b", "000000010000000000000005")]).unknown).toEqual(["old"]);
  });
});

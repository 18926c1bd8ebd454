// Issue 21: complete.json's `partial` key (the sources committed with unreadable paths left out).
import { describe, expect, it } from "vitest";
import { parseComplete } from "../../src/repository/complete.js";

const id = "20261205T020000Z-abcdef";
const record = (extra: Record<string, unknown>) =>
  JSON.stringify({
    format: "strongbox/1",
    id,
    started_at: "2026-12-05T02:00:00.000Z",
    finished_at: "2026-12-05T02:00:01.000Z",
    host: "h",
    tool_version: "1.0.0",
    compression: "zstd",
    sources: [
      { name: "docs", type: "files" },
      { name: "db", type: "postgres" },
    ],
    objects: [
      { key: `backups/${id}/docs.tar.zst.age`, size: 1, sha256: "a".repeat(64), source: "docs" },
      { key: `backups/${id}/db.pgdump.zst.age`, size: 1, sha256: "b".repeat(64), source: "db" },
      { key: `backups/${id}/manifest.json.zst.age`, size: 1, sha256: "c".repeat(64) },
    ],
    warnings: 2,
    ...extra,
  });

describe("complete.json partial", () => {
  it("is read back: absent for a whole backup, the list of files sources for a partial one", () => {
    expect(parseComplete(record({}), id).partial).toBeUndefined();
    expect(parseComplete(record({ partial: ["docs"] }), id).partial).toEqual(["docs"]);
  });

  it.each([
    [[], /partial is not a list of sources/],
    ["docs", /partial is not a list of sources/],
    [["db"], /partial\[0\] "?db"? is not one of the backup's files sources/],
    [["media"], /partial\[0\] "?media"? is not one of the backup's files sources/],
    [["docs", "docs"], /partial lists a source twice/],
  ])("refuses partial %j as forged", (partial, why) => {
    expect(() => parseComplete(record({ partial }), id)).toThrow(why);
  });
});

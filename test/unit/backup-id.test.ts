import { describe, expect, it } from "vitest";
import { parseComplete } from "../../src/repository/complete.js";
import { idOfKey, isBackupId } from "../../src/repository/layout.js";
import { checkBackupRef } from "../../src/repository/repository.js";

const IDS: [string, boolean][] = [
  ["20261205T030000Z-abcdef", true],
  ["20240229T235959Z-000000", true], // a leap day
  ["99991231T235959Z-ffffff", true], // a real time: judged "future" by the store's clock, not here
  ["20261232T000000Z-abcdef", false], // no 32 December
  ["20270230T250000Z-abcdef", false], // no 30 February, no 25th hour
  ["20270230T120000Z-abcdef", false],
  ["20230229T120000Z-abcdef", false], // 2023 is no leap year
  ["20261301T000000Z-abcdef", false], // no 13th month
  ["20261200T000000Z-abcdef", false], // no day 0
  ["20261205T240000Z-abcdef", false],
  ["20261205T236000Z-abcdef", false],
  ["20261205T235960Z-abcdef", false], // no leap seconds
  ["00000101T000000Z-abcdef", false], // Date.UTC would read years below 100 as 19xx
  ["00990101T000000Z-abcdef", false],
  ["20261205T030000Z-ABCDEF", false],
  ["20261205T030000Z-abcde", false],
  ["20261205T030000-abcdef", false],
];

describe("backup ids are real UTC times", () => {
  it.each(IDS)("%s → %s", (id, ok) => {
    expect(isBackupId(id)).toBe(ok);
    expect(idOfKey(`backups/${id}/complete.json`)).toBe(ok ? id : null);
    if (ok) expect(() => checkBackupRef(id)).not.toThrow();
    else expect(() => checkBackupRef(id)).toThrow(/not a backup id/);
  });
});

describe("complete.json: the id must match started_at", () => {
  const rec = (id: string, started: string) =>
    JSON.stringify({
      format: "strongbox/1",
      id,
      started_at: started,
      finished_at: "2099-01-01T00:00:00Z",
      host: "h",
      tool_version: "0",
      compression: "none",
      sources: [{ name: "a", type: "files" }],
      objects: [
        { key: `backups/${id}/a.tar.age`, size: 1, sha256: "0".repeat(64), source: "a" },
        { key: `backups/${id}/manifest.json.age`, size: 1, sha256: "0".repeat(64) },
      ],
      warnings: 0,
    });
  const CASES: [string, string, string, RegExp | null][] = [
    ["same second", "20261205T030000Z-abcdef", "2026-12-05T03:00:00.789Z", null],
    [
      "a second later",
      "20261205T030000Z-abcdef",
      "2026-12-05T03:00:01.000Z",
      /started_at .* does not match the time in the backup id/,
    ],
    ["another year", "20261205T030000Z-abcdef", "2027-12-05T03:00:00.000Z", /does not match the time in the backup id/],
    [
      "an id that is no time",
      "20261232T030000Z-abcdef",
      "2027-01-01T03:00:00.000Z",
      /not 20261232T030000Z-abcdef|names backup/,
    ],
  ];
  it.each(CASES)("%s", (_, id, started, err) => {
    const parse = () => parseComplete(rec(id, started), id);
    if (err) expect(parse).toThrow(err);
    else expect(parse().id).toBe(id);
  });
});

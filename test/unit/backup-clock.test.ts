// The clock of a backup's id and claimed times: STRONGBOX_TEST_CLOCK_OFFSET_MS (test-only) moves it, within
// bounds, so that the suite gets backups one second apart without sleeping (test/helpers/backup-clock.ts).
import { describe, expect, it } from "vitest";
import { exitCodeFor } from "../../src/errors.js";
import { backupClock } from "../../src/repository/backup-clock.js";
import { backupTime, newBackupId } from "../../src/repository/layout.js";
import { secondApart } from "../helpers/backup-clock.js";

describe("backupClock", () => {
  it("is the wall clock when the test setting is unset or empty", () => {
    for (const env of [{}, { STRONGBOX_TEST_CLOCK_OFFSET_MS: "" }]) {
      const before = Date.now();
      const t = backupClock(env).getTime();
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(Date.now());
    }
  });

  it("moves by the offset, either way", () => {
    for (const offset of [3000, -7000, 600_000]) {
      const before = Date.now();
      const t = backupClock({ STRONGBOX_TEST_CLOCK_OFFSET_MS: String(offset) }).getTime();
      expect(t - offset).toBeGreaterThanOrEqual(before);
      expect(t - offset).toBeLessThanOrEqual(Date.now());
    }
  });

  it("refuses what is not whole milliseconds within ±10 min (exit 2), naming the setting", () => {
    for (const bad of ["1.5", "1e3", "abc", " 100", "600001", "-600001", "99999999999"]) {
      let err: unknown;
      try {
        backupClock({ STRONGBOX_TEST_CLOCK_OFFSET_MS: bad });
      } catch (e) {
        err = e;
      }
      expect(String((err as Error)?.message), bad).toMatch(/^STRONGBOX_TEST_CLOCK_OFFSET_MS=.*test-only/);
      expect(exitCodeFor(err)).toBe(2);
    }
  });

  it("secondApart: back-to-back backups get distinct ids in the order they were made", () => {
    const next = secondApart();
    const ids = Array.from({ length: 5 }, () => newBackupId(backupClock(next())));
    expect(new Set(ids.map((id) => id.slice(0, 16))).size).toBe(5);
    expect([...ids].sort((a, b) => backupTime(a).getTime() - backupTime(b).getTime())).toEqual(ids);
  });
});

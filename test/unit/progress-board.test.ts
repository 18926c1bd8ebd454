import { describe, expect, it, vi } from "vitest";
import type { Logger } from "../../src/log.js";
import { Progress } from "../../src/progress.js";

function fakeLog() {
  const calls: string[] = [];
  const log = {
    human: true,
    status: (l: string) => calls.push(`status ${l}`),
    clearStatus: () => calls.push("clear"),
    info: () => {},
  } as unknown as Logger;
  return { log, calls };
}

describe("progress of steps that run at once", () => {
  it("share one status line; one that finishes leaves the other's line, the last clears it", () => {
    vi.useFakeTimers();
    try {
      const { log, calls } = fakeLog();
      const a = new Progress(log, "db", 1000);
      const b = new Progress(log, "media", undefined);
      vi.advanceTimersByTime(1000);
      a.add(100);
      b.add(5);
      expect(calls.at(-1)).toMatch(/^status db {2}100 B \/ 1\.0 KB .* \| {2}media {2}5 B /);
      b.finish();
      expect(calls.at(-1)).toMatch(/^status db {2}100 B \/ 1\.0 KB/);
      expect(calls.at(-1)).not.toMatch(/media/);
      a.finish();
      expect(calls.at(-1)).toBe("clear");
    } finally {
      vi.useRealTimers();
    }
  });
});

// The WAL spool's worker after a failed store (a full disk, a store that is down): each next try of a
// failed file waits twice as long as the last, up to a bound; a stored file ends the run of failures.
// Here even the error line cannot be written (the disk is "full"), which made the old worker retry at
// once, in a loop. The clock is injected: the test moves it, and waits for the worker's own passes.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { runSpoolWorker } from "../../src/wal/spool-worker.js";
import { tempDir } from "../helpers/cli.js";

const NAME = "000000010000000000000001";

describe("spool worker backoff", () => {
  it("waits 1, 2, 4, then at most 4 units between tries of a failing file, and exits once it is gone", async () => {
    const walDir = tempDir("spool-wal");
    mkdirSync(join(walDir, "archive_status"));
    writeFileSync(join(walDir, NAME), "wal");
    writeFileSync(join(walDir, "archive_status", `${NAME}.ready`), "");
    const spool = tempDir("spool-dir");
    // The error line cannot be written: its temporary file's name is taken by a directory.
    mkdirSync(join(spool, `${NAME}.error.${process.pid}.tmp`));
    let clock = 1_000_000;
    let reads = 0;
    const now = () => (reads++, clock);
    const tries: number[] = [];
    const worker = runSpoolWorker({
      walDir,
      spool,
      repository: "file:///nowhere",
      processes: 1,
      queueMax: 8,
      idleMs: 50_000,
      retryBaseMs: 1000,
      retryMaxMs: 4000,
      now,
      // The clock is the test's: the worker's real-time pauses only make the test wait for its passes.
      idlePollMaxMs: 20,
      push: async () => {
        tries.push(clock);
        throw new Error("no space left on device");
      },
      log: () => {},
    });
    /** Lets the worker make several passes of its loop (each reads the clock), then returns the tries so far. */
    const afterPasses = async () => {
      const from = reads;
      await vi.waitFor(() => expect(reads).toBeGreaterThan(from + 10), { timeout: 20_000, interval: 5 });
      return tries.length;
    };
    await vi.waitFor(() => expect(tries).toHaveLength(1), { timeout: 20_000 });
    const start = clock;
    for (const wait of [1000, 2000, 4000, 4000]) {
      clock += wait - 1;
      const n = tries.length;
      expect(await afterPasses()).toBe(n); // not before its time
      clock += 1;
      await vi.waitFor(() => expect(tries).toHaveLength(n + 1), { timeout: 20_000 });
    }
    expect(tries.map((t) => t - start)).toEqual([0, 1000, 3000, 7000, 11000]);
    // PostgreSQL archived it meanwhile: nothing is ready, and once idle long enough the worker exits.
    rmSync(join(walDir, "archive_status", `${NAME}.ready`));
    clock += 4000;
    await afterPasses();
    clock += 50_000;
    await worker;
  }, 60_000);
});

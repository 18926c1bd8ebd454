// issue 26: the limit `npm run bench` prints beside each line (scripts/bench-limit.mjs): the best wall
// time a number of cores allows for strongbox's work, from the stage costs measured on the machine.
import { describe, expect, it } from "vitest";

interface Work {
  cpu: Record<string, number>;
  chain: number;
  disk: number;
}
const lib = (await import("../../scripts/bench-limit.mjs" as string)) as {
  workOf(line: Record<string, unknown>, costs: Record<string, number>): Work;
  limitOf(work: Work, cores: number): number;
  sumWork(works: Work[]): Work;
};
const costs = { chacha: 2, sha256: 1, fsyncWrite: 0.5 }; // per GB
const GB = 1e9;

describe("the bench's limit", () => {
  it("adds each stage's core-seconds for the line's sizes and spreads them over the cores", () => {
    const w = lib.workOf({ op: "backup", plain: 2 * GB, stored: GB, perFile: true, toolCpu: 0.5, zstdCpu: 1.5 }, costs);
    // tar 0.5 + zstd 1.5 + ChaCha20 2 × 1 GB + SHA-256 of the object 1 × 1 GB + SHA-256 of the files 1 × 2 GB
    expect(Object.values(w.cpu).reduce((a, b) => a + b, 0)).toBeCloseTo(7);
    expect(lib.limitOf(w, 2)).toBeCloseTo(3.5);
    expect(lib.limitOf(w, 1)).toBeCloseTo(7);
    expect(w.disk).toBeCloseTo(0.5); // a backup writes and fsyncs the object; a restore's files are tar's cost
    expect(lib.workOf({ op: "restore", plain: GB, stored: GB }, costs).disk).toBe(0);
  });

  it("a restore is never below the file system's time to create its files (tar -x's wall time)", () => {
    // 20,000 small files: little CPU, but seconds of file creation no number of cores shortens
    const w = lib.workOf(
      { op: "restore", plain: GB / 30, stored: GB / 100, perFile: true, toolCpu: 0.3, createWall: 7 },
      costs,
    );
    expect(w.disk).toBe(7);
    expect(lib.limitOf(w, 2)).toBe(7);
  });

  it("is never below the longest chain one thread must do in order, nor below the disk", () => {
    const db = lib.workOf(
      { op: "backup", plain: GB, stored: GB / 10, perFile: false, toolCpu: 3, toolChain: 3 },
      costs,
    );
    expect(db.cpu["sha256 files"]).toBe(0); // a dump has no files to hash
    expect(lib.limitOf(db, 2)).toBe(3); // pg_dump's 3 s, however many cores
    const big = lib.workOf({ op: "verify", plain: GB, stored: 4 * GB }, costs);
    expect(big.chain).toBe(4); // the stored object's SHA-256 is one stream
    expect(lib.limitOf(big, 64)).toBe(4);
    expect(lib.limitOf({ cpu: { x: 1 }, chain: 0, disk: 9 }, 2)).toBe(9);
  });

  it("sums the work of sources backed up in one run, keeping the longest chain", () => {
    const a = { cpu: { tool: 2, zstd: 1 }, chain: 2, disk: 1 };
    const b = { cpu: { tool: 1 }, chain: 3, disk: 1 };
    expect(lib.sumWork([a, b])).toEqual({ cpu: { tool: 3, zstd: 1 }, chain: 3, disk: 2 });
  });
});

// The WAL segment size a cluster base backup's manifest implies (its start LSN falls in its start segment).
import { describe, expect, it } from "vitest";
import { segmentSizeOf } from "../../src/engine/verify-wal.js";
import type { ClusterManifest } from "../../src/repository/manifest.js";

const manifest = (start_lsn: string, start_wal: string, timeline = 1) =>
  ({ type: "postgres-cluster", start_lsn, start_wal, timeline }) as ClusterManifest;

describe("segmentSizeOf", () => {
  it("finds 16 MiB (the default) and 64 MiB from the start segment's name", () => {
    expect(segmentSizeOf("c", manifest("0/3000028", "000000010000000000000003"))).toBe(16 << 20);
    expect(segmentSizeOf("c", manifest("1/8000028", "000000020000000100000002", 2))).toBe(64 << 20);
  });

  it("refuses a manifest whose start segment does not hold its start LSN under any size (exit 3)", () => {
    expect(() => segmentSizeOf("c", manifest("0/3000028", "000000010000000000000009"))).toThrow(
      /start WAL segment 000000010000000000000009 does not match start LSN 0\/3000028 on timeline 1 under any segment size/,
    );
    expect(() => segmentSizeOf("c", manifest("0/3000028", "000000020000000000000003"))).toThrow(/under any/);
  });
});

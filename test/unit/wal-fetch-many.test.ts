// A forger can put any number of objects under one WAL name (each with another SHA-256 in its key).
// fetch refuses a doubled name anyway, so it must stop listing at the second candidate: neither
// its time nor its memory may grow with what the forger wrote.
import { describe, expect, it } from "vitest";
import { StrongboxError } from "../../src/errors.js";
import type { ObjectInfo, Store } from "../../src/stores/store.js";
import { findWal } from "../../src/wal/fetch.js";
import { segName, SYSID } from "../helpers/wal-craft.js";

describe("wal fetch under a flood of candidates", () => {
  it("stops at the second candidate of a long listing, with a VERIFY error", async () => {
    const name = segName(1, 5);
    let listed = 0;
    const store = {
      async *list(prefix: string): AsyncIterable<ObjectInfo> {
        while (listed < 100_000) {
          const key = `${prefix}${(listed++).toString(16).padStart(64, "0")}.zst.age`;
          yield { key, size: 100 } as ObjectInfo;
        }
      },
    } as unknown as Store;
    const err = await findWal(store, `${SYSID}`, name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StrongboxError);
    expect((err as StrongboxError).code).toBe("VERIFY");
    expect((err as Error).message).toMatch(/2 different files are archived under this name, refusing to pick one/);
    expect(listed).toBeLessThanOrEqual(3);
  });
});

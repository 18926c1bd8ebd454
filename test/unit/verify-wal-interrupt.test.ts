// verify stopped by a signal (or a deadline) while it reads the archived WAL: the stop is reported as
// the stop, never as a damaged WAL segment (the audit line, the notification and /healthz carry this).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { InterruptedError } from "../../src/errors.js";
import { abortableStore } from "../../src/stores/abortable.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import type { Store } from "../../src/stores/store.js";
import { verifyWal } from "../../src/wal/gap.js";
import { parseLsn } from "../../src/wal/names.js";
import { tempDir } from "../helpers/cli.js";

const SYS = "7300000000000000123";
const h8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
const seg = (segno: number) => h8(1) + h8(0) + h8(segno);
const key = (segno: number) => `wal/${SYS}/${h8(1)}/${seg(segno)}.${"a".repeat(64)}.zst.age`;

/** A store holding `keys` whose first read is where SIGTERM lands: the stop comes while the get is under way. */
function storeStoppedAtFirstRead(keys: string[], name: string): { store: Store; signal: AbortSignal } {
  const root = tempDir(name);
  for (const k of keys) {
    mkdirSync(dirname(join(root, k)), { recursive: true });
    writeFileSync(join(root, k), "x");
  }
  const ac = new AbortController();
  const local = new LocalDirStore(root);
  const stalled: Store = {
    description: local.description,
    put: (k, b, o) => local.put(k, b, o),
    list: (p) => local.list(p),
    delete: (k) => local.delete(k),
    get: () => {
      ac.abort(new InterruptedError("SIGTERM", "interrupted by SIGTERM"));
      return new Promise(() => {});
    },
  };
  return { store: abortableStore(stalled, ac.signal), signal: ac.signal };
}

const o = { systemId: SYS, start: { timeline: 1, lsn: parseLsn("0/3000028")! }, segmentSize: 16 * 1024 * 1024 };

async function expectStopped(run: Promise<unknown>): Promise<void> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InterruptedError);
  expect((err as Error).message).toBe("interrupted by SIGTERM");
}

describe("verify's WAL walk stopped part-way", () => {
  it("fails with the stop's reason, not as a damaged segment", async () => {
    const { store, signal } = storeStoppedAtFirstRead([key(3), key(4)], "wal-verify-stop");
    await expectStopped(verifyWal(store, [], { ...o, deep: true, signal }));
  });

  it("fails with the stop's reason, not as a damaged history file", async () => {
    const history = `wal/${SYS}/${h8(2)}/${h8(2)}.history.${"b".repeat(64)}.zst.age`;
    const { store, signal } = storeStoppedAtFirstRead([key(3), history], "wal-verify-stop-history");
    await expectStopped(verifyWal(store, [], { ...o, signal }));
  });
});

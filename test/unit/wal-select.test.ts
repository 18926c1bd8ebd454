// The selection rule wal fetch applies (src/wal/select.ts through findWal), on listings a fake store gives.
import { describe, expect, it } from "vitest";
import type { TrustPolicy } from "../../src/crypto/signing.js";
import { generateSigningKey, parsePrivateKey } from "../../src/crypto/ssh-signature.js";
import type { ObjectInfo, Store } from "../../src/stores/store.js";
import { findWal } from "../../src/wal/fetch.js";
import { parseWalName } from "../../src/wal/names.js";
import { signWal } from "../../src/wal/signature.js";
import { segName, SYSID } from "../helpers/wal-craft.js";

const key = parsePrivateKey(generateSigningKey("host").privateKeyText);
const policy: TrustPolicy = { keys: [{ key: key.publicKey }] };
const SYS = SYSID.toString();
const HASH = "ab".repeat(32);

/** A signed key for `name` under wal/<sysid>/<tli>/. */
const signed = (name: string, hash = HASH) =>
  `wal/${SYS}/${name.slice(0, 8)}/${name}.${hash}.${signWal(key, SYS, parseWalName(name)!, hash)}.zst.age`;

function storeOf(keys: string[]): Store {
  return {
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      for (const k of keys.filter((x) => x.startsWith(prefix)).sort()) yield { key: k, size: 100 };
    },
  } as unknown as Store;
}

describe("wal fetch's choice with signing", () => {
  const seg = segName(1, 3);
  it("a segment's own .partial and .backup files listed under its prefix are neither candidates nor 'ignored'", async () => {
    const keys = [signed(seg), signed(`${seg}.partial`, "cd".repeat(32)), signed(`${seg}.00000028.backup`)];
    const r = await findWal(storeOf(keys), SYS, seg, policy);
    expect(r.key.key).toBe(keys[0]);
    expect(r.ignored).toEqual([]);
  });

  it("a signature over another name does not count for this one", async () => {
    const moved = signed(segName(1, 4)).replaceAll(segName(1, 4), seg);
    const err = await findWal(storeOf([moved]), SYS, seg, policy).catch((e: unknown) => e);
    expect((err as Error).message).toContain(`WAL file ${seg} is not archived; ignored 1 untrusted WAL object`);
  });

  it("more than 1000 objects under one name are refused, not judged one by one", async () => {
    const keys = Array.from(
      { length: 1001 },
      (_, i) => `wal/${SYS}/00000001/${seg}.${i.toString(16).padStart(64, "0")}.age`,
    );
    const err = await findWal(storeOf(keys), SYS, seg, policy).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/more than 1000 objects under this WAL file name/);
  });
});

// A backup hands a store that uploads in parts the MD5 of every part of every object it stores (taken
// on the crypto worker), and each is the MD5 of exactly those bytes: the S3 store then sends them as
// the parts' Content-MD5 rather than hashing on the main thread (stores/s3.ts). A backup whose
// digests went missing would still store the right bytes, but the store would read every part back
// to hash it: this checks that they all arrive.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { runBackup } from "../../src/engine/backup.js";
import { Logger } from "../../src/log.js";
import type { ObjectInfo, PutOptions } from "../../src/stores/store.js";
import { tempDir } from "../helpers/cli.js";
import { MemoryStore } from "../helpers/memory-store.js";

const md5 = (b: Buffer) => createHash("md5").update(b).digest();

/** A config backing up `data` (a directory under `dir`) to a fresh recipient; `extra`: more top-level lines. */
function configFor(dir: string, data: string, extra: string[] = []) {
  return parseConfig(
    [
      "version: 1",
      `repository: { url: "file://${join(dir, "unused")}" }`,
      `encryption: { recipients: ["${generateIdentity().recipient}"] }`,
      ...extra,
      `sources: [{ name: media, type: files, path: "${data}" }]`,
    ].join("\n"),
    {},
  );
}

/** A memory store that says it uploads in parts of `partSize`, and records what each put was given. */
class PartedStore extends MemoryStore {
  readonly given = new Map<string, PutOptions["partMd5"]>();
  constructor(readonly partSize: number) {
    super();
  }
  override async put(key: string, body: Readable, o: PutOptions = {}): Promise<ObjectInfo> {
    this.given.set(key, o.partMd5);
    return super.put(key, body, o);
  }
}

describe("a backup's part MD5s", () => {
  it("come with every object it stores, one per part, each the MD5 of that part's stored bytes", async () => {
    const dir = tempDir("part-md5");
    const data = join(dir, "data");
    mkdirSync(data);
    writeFileSync(join(data, "big.bin"), randomBytes(3_000_000)); // several jobs, several parts
    writeFileSync(join(data, "small.txt"), "small\n");
    const config = configFor(dir, data, ["compression: none"]);
    const store = new PartedStore(400_009);
    const lines: string[] = [];
    const log = new Logger({ level: "warn", human: false, stream: { write: (l: string) => lines.push(l) } as never });
    const result = await runBackup({ config, sources: config.sources, store, log });
    expect(result.failed).toEqual([]);

    // The data, the manifest and complete.json; complete.json is written as it is, not sealed.
    const sealed = [...store.objects.keys()].filter((k) => k.endsWith(".age"));
    expect(sealed.length).toBeGreaterThanOrEqual(2);
    for (const key of sealed) {
      const body = store.objects.get(key)!.body;
      const given = store.given.get(key);
      expect(given?.size, key).toBe(400_009);
      const parts = Math.ceil(body.length / 400_009);
      for (let i = 0; i < parts; i++)
        expect(given!.get(i), `${key} part ${i}`).toEqual(md5(body.subarray(i * 400_009, (i + 1) * 400_009)));
      expect(given!.get(parts)).toBeUndefined();
    }
    expect(Math.ceil(store.objects.get(sealed.find((k) => k.includes("media"))!)!.body.length / 400_009)).toBe(8);
  });

  it("are not asked for where the store does not upload in parts", async () => {
    const dir = tempDir("part-md5-none");
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "a.txt"), "a\n");
    const config = configFor(dir, join(dir, "data"));
    const store = new MemoryStore();
    const seen: (PutOptions["partMd5"] | undefined)[] = [];
    const put = store.put.bind(store);
    store.put = (key, body, o) => (seen.push(o?.partMd5), put(key, body, o));
    const log = new Logger({ level: "warn", human: false, stream: { write: () => true } as never });
    await runBackup({ config, sources: config.sources, store, log });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((g) => g === undefined)).toBe(true);
  });
});

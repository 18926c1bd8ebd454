// wal fetch against objects a forger with the writer key (or a broken store) could leave: every case
// fails with one StrongboxError naming the object, and leaves neither the destination nor a temp file.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { createEncryptStream } from "../../src/crypto/age.js";
import { StrongboxError } from "../../src/errors.js";
import { createCompressor } from "../../src/codecs/compress.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { fetchWal } from "../../src/wal/fetch.js";
import { makeSegment, segName, sha256, SEG, SYSID } from "../helpers/wal-craft.js";

const root = mkdtempSync(join(tmpdir(), "strongbox-walforged-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const me = generateIdentity();
const stranger = generateIdentity();
const SYS = SYSID.toString();

async function seal(plain: Buffer, recipient = me.recipient): Promise<Buffer> {
  const out: Buffer[] = [];
  const s = Readable.from([plain])
    .pipe(createCompressor({ algorithm: "zstd", serial: true }))
    .pipe(createEncryptStream([recipient]));
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

let n = 0;
/** A fresh repository holding `objects` (key → stored bytes), and a fetch of `name` from it into a fresh directory. */
async function fetchFrom(objects: Record<string, Buffer | number>, name: string) {
  const dir = join(root, `case-${n++}`);
  for (const [key, body] of Object.entries(objects)) {
    const path = join(dir, "repo", key);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof body === "number") {
      writeFileSync(path, "");
      await truncate(path, body); // sparse: a huge object without the disk
    } else writeFileSync(path, body);
  }
  mkdirSync(join(dir, "pg_wal"), { recursive: true });
  const dest = join(dir, "pg_wal", "RECOVERYXLOG");
  const err = await fetchWal(new LocalDirStore(join(dir, "repo")), [me.identity], SYS, name, dest).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err: err as StrongboxError | undefined, left: readdirSync(join(dir, "pg_wal")), dest };
}

const name = segName(1, 3);
const seg = makeSegment({ sysid: SYSID, tli: 1, segno: 3 });
const keyOf = (plain: Buffer, n = name, tli = "00000001") => `wal/${SYS}/${tli}/${n}.${sha256(plain)}.zst.age`;

describe("wal fetch refuses forged and damaged objects", () => {
  it("fetches the real thing (the baseline the cases below differ from)", async () => {
    const r = await fetchFrom({ [keyOf(seg)]: await seal(seg) }, name);
    expect(r.err).toBeUndefined();
    expect(readFileSync(r.dest).equals(seg)).toBe(true);
  });

  const other = makeSegment({ sysid: 42n, tli: 1, segno: 3 });
  const half = seg.subarray(0, SEG / 2);
  const history = Buffer.from("1\t0/5000000\tno recovery target specified\n");
  const bomb = Buffer.alloc(2 * 1024 * 1024, 0x41);
  const cases: [string, () => Promise<Record<string, Buffer | number>>, string, string | RegExp][] = [
    ["../ in the name", async () => ({}), "../../etc/passwd", /not a WAL file name/],
    ["a lower-case name", async () => ({}), "0000000a000000000000000b", /not a WAL file name/],
    ["a name with a path", async () => ({}), `pg_wal/${name}`, /not a WAL file name/],
    ["a huge object", async () => ({ [keyOf(seg)]: 2 ** 31 }), name, /bytes, too large for a segment: refusing it/],
    [
      "another cluster's segment",
      async () => ({ [keyOf(other)]: await seal(other) }),
      name,
      /system identifier 42 in its header/,
    ],
    [
      "a hash that is not the content's",
      async () => ({ [keyOf(other)]: await seal(seg) }),
      name,
      /SHA-256 is [0-9a-f]{64}, not the one in its name/,
    ],
    [
      "two candidates",
      async () => ({ [keyOf(seg)]: await seal(seg), [keyOf(other)]: await seal(other) }),
      name,
      /2 different files are archived under this name/,
    ],
    [
      "truncated ciphertext",
      async () => ({ [keyOf(seg)]: (await seal(seg)).subarray(0, 5000) }),
      name,
      /truncated|corrupt/,
    ],
    [
      "another recipient",
      async () => ({ [keyOf(seg)]: await seal(seg, stranger.recipient) }),
      name,
      /no identity matches/,
    ],
    [
      "a short segment",
      async () => ({ [keyOf(half)]: await seal(half) }),
      name,
      /bytes, but its header says segments are 16777216/,
    ],
    [
      "a page header of another segment",
      async () => ({ [keyOf(seg, segName(1, 4))]: await seal(seg) }),
      segName(1, 4),
      /page address/,
    ],
    [
      // Stopped at the header's 16 MiB, not at the 1 GiB any segment size allows: it never fills pg_wal.
      "a segment that inflates past the size its header gives",
      async () => {
        const long = Buffer.concat([seg, Buffer.alloc(4 << 20)]);
        return { [keyOf(long)]: await seal(long) };
      },
      name,
      /decompresses to more than 16777216 bytes/,
    ],
    [
      "a history file that inflates past 1 MiB",
      async () => ({ [keyOf(bomb, "00000002.history", "00000002")]: await seal(bomb) }),
      "00000002.history",
      /decompresses to more than 1048576 bytes/,
    ],
    [
      "a missing file",
      async () => ({ [keyOf(history, "00000002.history", "00000002")]: await seal(history) }),
      "00000003.history",
      /not found: .*00000003\.history is not archived/,
    ],
  ];

  it.each(cases)("%s", async (_what, objects, fetchName, message) => {
    const r = await fetchFrom(await objects(), fetchName);
    expect(r.err).toBeInstanceOf(StrongboxError);
    expect(r.err!.message).toMatch(message);
    expect(r.err!.message).not.toContain("\n");
    expect(r.left).toEqual([]); // neither the destination nor a temporary file
  });
});

// Every C2SP CCTV age vector (test/vectors/age) through strongbox's decrypt path, fed whole and in 1–7 byte pieces.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createDecryptStream } from "../../src/crypto/age.js";
import { parseIdentities } from "../../src/crypto/age-keys.js";
import { StrongboxError } from "../../src/errors.js";

const dir = join(import.meta.dirname, "../vectors/age");
const names = readdirSync(dir).filter((n) => !n.includes(".") && n !== "README");

interface Vector {
  expect: string;
  payload?: string;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Buffer;
}

function load(name: string): Vector {
  const raw = readFileSync(join(dir, name));
  const split = raw.indexOf("\n\n");
  const v: Vector = { expect: "", identities: [], passphrases: [], armored: false, file: raw.subarray(split + 2) };
  let compressed = false;
  for (const line of raw.subarray(0, split).toString("utf8").split("\n")) {
    const [k, ...rest] = line.split(": ");
    const val = rest.join(": ");
    if (k === "expect") v.expect = val;
    else if (k === "payload") v.payload = val;
    else if (k === "identity") v.identities.push(val);
    else if (k === "passphrase") v.passphrases.push(val);
    else if (k === "armored") v.armored = val === "yes";
    else if (k === "compressed") compressed = val === "zlib";
  }
  if (compressed) v.file = inflateSync(v.file);
  return v;
}

/** Runs the decrypt path; returns the released plaintext's SHA-256 and the error, if any. */
async function run(v: Vector, pieces: Buffer[]): Promise<{ hash: string; err?: unknown }> {
  const h = createHash("sha256");
  const d = createDecryptStream(v.identities.length ? parseIdentities(v.identities.join("\n")) : [], v.passphrases);
  d.on("data", (c: Buffer) => h.update(c));
  const done = new Promise<void>((res, rej) => {
    d.on("end", res);
    d.on("error", rej);
  });
  Readable.from(pieces, { objectMode: false }).pipe(d);
  try {
    await done;
    return { hash: h.digest("hex") };
  } catch (err) {
    return { hash: h.digest("hex"), err };
  }
}

function smallPieces(b: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, n = seed; i < b.length; n = (n * 5 + 3) % 7) {
    const len = 1 + n;
    out.push(b.subarray(i, i + len));
    i += len;
  }
  return out;
}

const FAILURE_CODE: Record<string, string> = {
  "no match": "CRYPTO",
  "HMAC failure": "VERIFY",
  "header failure": "VERIFY",
  "payload failure": "VERIFY",
  "armor failure": "VERIFY",
};

describe("CCTV age vectors", () => {
  it("holds the whole vector set", () => expect(names.length).toBe(143));
  for (const name of names) {
    it(
      name,
      async () => {
        const v = load(name);
        // Armor is refused: strongbox reads only binary age files.
        const want = v.armored ? "armor failure" : v.expect;
        const big = v.file.length > 200_000;
        // Large vectors are split finely over their first 200 KB (header and several chunk boundaries), whole after.
        const fine = (seed: number) =>
          big
            ? [...smallPieces(v.file.subarray(0, 200_000), seed), v.file.subarray(200_000)]
            : smallPieces(v.file, seed);
        for (const pieces of [[v.file], fine(name.length % 7), fine(3)]) {
          const r = await run(v, pieces);
          if (want === "success") {
            expect(r.err).toBeUndefined();
            expect(r.hash).toBe(v.payload);
          } else {
            expect(r.err, `${name} must fail (${want})`).toBeInstanceOf(StrongboxError);
            expect((r.err as StrongboxError).code).toBe(FAILURE_CODE[want]);
            if (v.payload && !v.armored) expect(r.hash).toBe(v.payload);
            else if (want !== "payload failure") expect(r.hash).toBe(createHash("sha256").digest("hex"));
          }
        }
      },
      120_000,
    );
  }
});

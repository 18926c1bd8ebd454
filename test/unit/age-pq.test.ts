// Hybrid post-quantum (age1pq1…) recipients and recipient validation, with `age-encryption` as the independent side.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Decrypter, Encrypter } from "age-encryption";
import { bech32 } from "@scure/base";
import { describe, expect, it } from "vitest";
import { createDecryptStream, createEncryptStream } from "../../src/crypto/age.js";
import { generateIdentity, generatePqIdentity, parseIdentities, recipientProblem } from "../../src/crypto/age-keys.js";
import { StrongboxError } from "../../src/errors.js";
import { tempDir } from "../helpers/cli.js";

// The age CLI reads hybrid files from 1.3 on (Debian's 1.1.1 does not): that side runs only where it can.
const ageVersion = /v?(\d+)\.(\d+)/.exec(spawnSync("age", ["--version"], { encoding: "utf8" }).stdout ?? "");
const ageReadsPq = Boolean(ageVersion && (Number(ageVersion[1]) > 1 || Number(ageVersion[2]) >= 3));

async function collect(src: Readable, t: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(src, t, async function (s: AsyncIterable<Buffer | string>) {
    for await (const c of s) chunks.push(c as Buffer);
  });
  return Buffer.concat(chunks);
}

const SIZES = [0, 65536, 65537, 200_000];

describe("hybrid post-quantum recipients", async () => {
  const pq = await generatePqIdentity();
  const x = generateIdentity();

  it("keygen text has the age-keygen -pq shape", () => {
    expect(pq.recipient).toMatch(/^age1pq1[a-z0-9]+$/);
    expect(pq.text).toMatch(/^# created: \S+\n# public key: age1pq1\S+\nAGE-SECRET-KEY-PQ-1[A-Z0-9]+\n$/);
    expect(parseIdentities(pq.text)[0].kind).toBe("pq-hybrid");
    expect(recipientProblem(pq.recipient)).toBeNull();
  });

  it.each(SIZES)("age-encryption decrypts what strongbox encrypted to age1pq1 + age1 (%i bytes)", async (size) => {
    const data = randomBytes(size);
    const enc = await collect(Readable.from([data]), createEncryptStream([pq.recipient, x.recipient]));
    expect(enc.toString("latin1")).toContain("-> mlkem768x25519 ");
    for (const secret of [pq.identity.secret, x.identity.secret]) {
      const d = new Decrypter();
      d.addIdentity(secret);
      expect(Buffer.from(await d.decrypt(enc)).equals(data)).toBe(true);
    }
  });

  it.each(SIZES)("strongbox decrypts what age-encryption encrypted to age1pq1 (%i bytes)", async (size) => {
    const data = randomBytes(size);
    const e = new Encrypter();
    e.addRecipient(pq.recipient);
    const enc = Buffer.from(await e.encrypt(data));
    expect((await collect(Readable.from([enc]), createDecryptStream(parseIdentities(pq.text)))).equals(data)).toBe(
      true,
    );
    await expect(collect(Readable.from([enc]), createDecryptStream([x.identity]))).rejects.toThrow(
      /no identity matches/,
    );
  });

  it("rejects low-order and malformed recipients", () => {
    const zero = bech32.encode("age", bech32.toWords(new Uint8Array(32)), false);
    const one = new Uint8Array(32);
    one[0] = 1;
    expect(recipientProblem(zero)).toMatch(/low-order/);
    expect(recipientProblem(bech32.encode("age", bech32.toWords(one), false))).toMatch(/low-order/);
    expect(recipientProblem(x.recipient)).toBeNull();
    expect(recipientProblem(x.recipient.toUpperCase())).toMatch(/lower case/);
    expect(recipientProblem("age1pq1qqqq")).toMatch(/post-quantum/);
    expect(recipientProblem(x.recipient.slice(0, -1) + (x.recipient.endsWith("q") ? "p" : "q"))).toMatch(
      /not an age recipient/,
    );
  });

  it("a malformed MAC line is a malformed header, not a MAC mismatch", async () => {
    const enc = await collect(Readable.from([Buffer.from("x")]), createEncryptStream([x.recipient]));
    const s = enc.toString("latin1");
    const i = s.indexOf("\n--- ") + 5;
    const bad = Buffer.from(s.slice(0, i) + "!" + s.slice(i + 1), "latin1");
    const err = await collect(Readable.from([bad]), createDecryptStream([x.identity])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StrongboxError);
    expect((err as StrongboxError).code).toBe("VERIFY");
    expect((err as Error).message).toMatch(/malformed header/);
  });
});

describe.skipIf(!ageReadsPq)("hybrid interop with the age CLI (age >= 1.3)", () => {
  const dir = tempDir("age-pq");
  it.each(SIZES)("both ways at chunk boundaries (%i bytes)", async (size) => {
    const pq = await generatePqIdentity();
    writeFileSync(join(dir, "id.txt"), pq.text, { mode: 0o600 });
    const data = randomBytes(size);
    writeFileSync(join(dir, "s.age"), await collect(Readable.from([data]), createEncryptStream([pq.recipient])));
    expect(
      execFileSync("age", ["-d", "-i", join(dir, "id.txt"), join(dir, "s.age")], { maxBuffer: 1 << 26 }).equals(data),
    ).toBe(true);
    writeFileSync(join(dir, "plain"), data);
    execFileSync("age", ["-r", pq.recipient, "-o", join(dir, "c.age"), join(dir, "plain")]);
    expect(
      (await collect(Readable.from([readFileSync(join(dir, "c.age"))]), createDecryptStream([pq.identity]))).equals(
        data,
      ),
    ).toBe(true);
  });
});

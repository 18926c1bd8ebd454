import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { createDecryptStream, createEncryptStream } from "../../src/crypto/age.js";
import { generateIdentity, parseIdentities, parseRecipient } from "../../src/crypto/age-keys.js";
import { StrongboxError } from "../../src/errors.js";
import { tempDir } from "../helpers/cli.js";

const hasAge = spawnSync("sh", ["-c", "command -v age && command -v age-keygen"]).status === 0;
const required = process.env.CI === "true";

async function collect(src: Readable, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(src, ...(transforms as [NodeJS.ReadWriteStream]), async function (s: AsyncIterable<Buffer | string>) {
    for await (const c of s) chunks.push(c as Buffer);
  });
  return Buffer.concat(chunks);
}

const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 1_000_003];

describe("age format", () => {
  const id = generateIdentity();
  const recipient = parseRecipient(id.recipient)!;

  it.each(SIZES)("round-trips %i bytes", async (size) => {
    const data = randomBytes(size);
    const enc = await collect(Readable.from([data]), createEncryptStream([recipient]));
    expect((await collect(Readable.from([enc]), createDecryptStream([id.identity]))).equals(data)).toBe(true);
  });

  it("encrypts to several recipients, each able to decrypt", async () => {
    const other = generateIdentity();
    const enc = await collect(
      Readable.from([Buffer.from("shared")]),
      createEncryptStream([recipient, parseRecipient(other.recipient)!]),
    );
    expect((await collect(Readable.from([enc]), createDecryptStream([other.identity]))).toString()).toBe("shared");
  });

  it("refuses a wrong identity with a clear error", async () => {
    const enc = await collect(Readable.from([Buffer.from("x")]), createEncryptStream([recipient]));
    await expect(collect(Readable.from([enc]), createDecryptStream([generateIdentity().identity]))).rejects.toThrow(
      /no identity matches/,
    );
  });

  it("detects a flipped payload byte, a truncation at a chunk boundary, and trailing data", async () => {
    const data = randomBytes(3 * 65536 + 10);
    const enc = await collect(Readable.from([data]), createEncryptStream([recipient]));
    const flipped = Buffer.from(enc);
    flipped[flipped.length - 100] ^= 1;
    await expect(collect(Readable.from([flipped]), createDecryptStream([id.identity]))).rejects.toThrow(
      /authentication/,
    );
    const headerEnd = enc.indexOf("\n", enc.indexOf("\n--- ") + 1) + 1 + 16;
    const cut = enc.subarray(0, headerEnd + 2 * (65536 + 16));
    await expect(collect(Readable.from([cut]), createDecryptStream([id.identity]))).rejects.toThrow(
      /truncated|authentication/,
    );
    const trailing = Buffer.concat([enc, Buffer.from("junk")]);
    await expect(collect(Readable.from([trailing]), createDecryptStream([id.identity]))).rejects.toBeInstanceOf(
      StrongboxError,
    );
  });

  it("rejects non-age input", async () => {
    await expect(
      collect(Readable.from([Buffer.from("hello world\n")]), createDecryptStream([id.identity])),
    ).rejects.toThrow(/not an age|truncated/);
  });

  it("rejects a tampered header (MAC)", async () => {
    const enc = await collect(Readable.from([Buffer.from("x")]), createEncryptStream([recipient]));
    const text = enc.toString("latin1");
    const macAt = text.indexOf("\n--- ") + 5;
    const t = Buffer.from(enc);
    t[macAt] = t[macAt] === 0x41 ? 0x42 : 0x41;
    await expect(collect(Readable.from([t]), createDecryptStream([id.identity]))).rejects.toThrow(/MAC|base64/);
  });
});

describe.skipIf(!hasAge && !required)("age interoperability with the age CLI", () => {
  const dir = tempDir("age");

  it.each(SIZES)("the age CLI decrypts what strongbox encrypted (%i bytes)", async (size) => {
    const id = generateIdentity();
    writeFileSync(join(dir, "id.txt"), id.text, { mode: 0o600 });
    const data = randomBytes(size);
    const enc = await collect(Readable.from([data]), createEncryptStream([parseRecipient(id.recipient)!]));
    writeFileSync(join(dir, "s.age"), enc);
    const out = execFileSync("age", ["-d", "-i", join(dir, "id.txt"), join(dir, "s.age")], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(out.equals(data)).toBe(true);
  });

  it.each(SIZES)("strongbox decrypts what the age CLI encrypted with an age-keygen key (%i bytes)", async (size) => {
    const idFile = join(dir, `keygen-${size}.txt`);
    execFileSync("age-keygen", ["-o", idFile], { stdio: "ignore" });
    const text = readFileSync(idFile, "utf8");
    const pub = /public key: (age1\S+)/.exec(text)![1];
    const data = randomBytes(size);
    writeFileSync(join(dir, "plain"), data);
    execFileSync("age", ["-r", pub, "-o", join(dir, "c.age"), join(dir, "plain")]);
    const out = await collect(
      Readable.from([readFileSync(join(dir, "c.age"))]),
      createDecryptStream(parseIdentities(text)),
    );
    expect(out.equals(data)).toBe(true);
    expect(parseRecipient(pub)).toBe(pub);
    expect(parseIdentities(text)[0].kind).toBe("x25519");
  });
});

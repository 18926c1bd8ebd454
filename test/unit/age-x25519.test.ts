// The X25519 age header strongbox writes on node:crypto (src/crypto/age-x25519.ts), read back by the
// independent sides: the age reference library and the age CLI.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Decrypter, Encrypter } from "age-encryption";
import { describe, expect, it } from "vitest";
import { createDecryptStream, createEncryptStream } from "../../src/crypto/age.js";
import { generateIdentity, recipientsProblem } from "../../src/crypto/age-keys.js";
import { buildX25519Header } from "../../src/crypto/age-x25519.js";
import { tempDir } from "../helpers/cli.js";

async function collect(src: Readable, t: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(src, t, async function (s: AsyncIterable<Buffer | string>) {
    for await (const c of s) chunks.push(c as Buffer);
  });
  return Buffer.concat(chunks);
}

describe("X25519 age header on node:crypto", () => {
  const ids = [generateIdentity(), generateIdentity(), generateIdentity()];
  const recipients = ids.map((i) => i.recipient);

  it("has the library's layout and the size recipientsProblem counts", async () => {
    const { header } = buildX25519Header(recipients);
    const lines = header.toString("latin1").split("\n");
    expect(lines[0]).toBe("age-encryption.org/v1");
    for (let i = 0; i < 3; i++) {
      expect(lines[1 + 2 * i]).toMatch(/^-> X25519 [A-Za-z0-9+/]{43}$/);
      expect(lines[2 + 2 * i]).toMatch(/^[A-Za-z0-9+/]{43}$/);
    }
    expect(lines[7]).toMatch(/^--- [A-Za-z0-9+/]{43}$/);
    expect(lines[8]).toBe("");
    // The library's own header for the same recipients: the same length.
    const e = new Encrypter();
    for (const r of recipients) e.addRecipient(r);
    const theirs = Buffer.from(await e.encrypt(new Uint8Array(0)));
    expect(theirs.length - 16 - 16).toBe(header.length);
    // recipientsProblem's bound counts exactly these bytes: one more recipient than fits is refused.
    expect(recipientsProblem(recipients, header.length)).toBeNull();
    expect(recipientsProblem(recipients, header.length - 1)).not.toBeNull();
  });

  it.each([0, 1, 65536, 65537, 200_000])(
    "each recipient's identity decrypts it with the library (%i bytes)",
    async (size) => {
      const data = randomBytes(size);
      const enc = await collect(Readable.from([data]), createEncryptStream(recipients));
      expect(enc.toString("latin1")).toMatch(/^age-encryption\.org\/v1\n-> X25519 /);
      for (const id of ids) {
        const d = new Decrypter();
        d.addIdentity(id.identity.secret);
        expect(Buffer.from(await d.decrypt(enc)).equals(data)).toBe(true);
        expect((await collect(Readable.from([enc]), createDecryptStream([id.identity]))).equals(data)).toBe(true);
      }
      const other = new Decrypter();
      other.addIdentity(generateIdentity().identity.secret);
      await expect(other.decrypt(enc)).rejects.toThrow(/no identity matched/);
    },
  );

  it("age -d decrypts it", async () => {
    const dir = tempDir("age-x25519");
    const data = randomBytes(100_000);
    writeFileSync(join(dir, "f.age"), await collect(Readable.from([data]), createEncryptStream([recipients[1]])));
    writeFileSync(join(dir, "id.txt"), ids[1].text, { mode: 0o600 });
    const out = execFileSync("age", ["-d", "-i", join(dir, "id.txt"), join(dir, "f.age")]);
    expect(out.equals(data)).toBe(true);
  });

  it("a flipped bit in the header fails its MAC in the library", async () => {
    const enc = await collect(Readable.from([Buffer.from("x")]), createEncryptStream([recipients[0]]));
    const bad = Buffer.from(enc);
    bad[30] ^= 1; // inside the first stanza's share
    const d = new Decrypter();
    d.addIdentity(ids[0].identity.secret);
    await expect(d.decrypt(bad)).rejects.toThrow();
  });
});

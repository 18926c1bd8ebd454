// Loads the identity file: plain (age-keygen format) or age-encrypted with a scrypt passphrase.
import { promises as fsp, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Encrypter } from "age-encryption";
import { StrongboxError } from "../errors.js";
import { registerSecret } from "../secrets.js";
import { createDecryptStream } from "./age.js";
import { parseIdentities, type Identity } from "./age-keys.js";

export const PASSPHRASE_ENV = "STRONGBOX_IDENTITY_PASSPHRASE";
const AGE_MAGIC = "age-encryption.org/v1\n";

export type IdentityFileKind = "x25519" | "pq-hybrid" | "mixed" | "passphrase-protected";

export function isEncryptedIdentity(bytes: Buffer): boolean {
  return bytes.subarray(0, AGE_MAGIC.length).toString("latin1") === AGE_MAGIC;
}

/** The passphrase for an encrypted identity: identity_passphrase_file, else the environment; never argv. */
export function identityPassphrase(passphraseFile: string | undefined, env: NodeJS.ProcessEnv): string | null {
  let p: string | undefined;
  if (passphraseFile) {
    try {
      p = readFileSync(passphraseFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new StrongboxError("CONFIG", `encryption.identity_passphrase_file: cannot read ${passphraseFile} (${(err as NodeJS.ErrnoException).code})`);
    }
  } else p = env[PASSPHRASE_ENV];
  if (!p) return null;
  registerSecret(p);
  return p;
}

/** Parses identity file bytes, decrypting them first when they are a passphrase-encrypted age file. */
export async function readIdentities(bytes: Buffer, source: string, passphrase: () => string | null): Promise<Identity[]> {
  if (!isEncryptedIdentity(bytes)) return parseIdentities(bytes.toString("utf8"), source);
  const p = passphrase();
  if (!p) throw new StrongboxError("CONFIG", `${source} is passphrase-protected: set encryption.identity_passphrase_file or ${PASSPHRASE_ENV}`);
  const chunks: Buffer[] = [];
  try {
    await pipeline(Readable.from([bytes]), createDecryptStream([], [p]), async function (s: AsyncIterable<Buffer>) {
      for await (const c of s) chunks.push(c);
    });
  } catch (err) {
    const msg = err instanceof StrongboxError ? err.message.replace(/^age: /, "") : "cannot decrypt";
    throw new StrongboxError("CRYPTO", `${source}: cannot decrypt the identity file (${msg})`);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  for (const line of text.split(/\r?\n/)) if (line.startsWith("AGE-SECRET-KEY-")) registerSecret(line.trim());
  return parseIdentities(text, source);
}

/** What kind of identity a file holds, without decrypting an encrypted one. */
export function identityFileKind(bytes: Buffer, source: string): IdentityFileKind {
  if (isEncryptedIdentity(bytes)) return "passphrase-protected";
  const kinds = new Set(parseIdentities(bytes.toString("utf8"), source).map((i) => i.kind));
  return kinds.size > 1 ? "mixed" : [...kinds][0];
}

/** Encrypts identity text with a passphrase (scrypt), as `age -p` does. */
export async function encryptIdentityText(text: string, passphrase: string): Promise<Buffer> {
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  return Buffer.from(await e.encrypt(text));
}

export async function loadIdentityFile(file: string, passphraseFile: string | undefined, env: NodeJS.ProcessEnv): Promise<Identity[]> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new StrongboxError("CONFIG", `encryption.identity_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  return readIdentities(bytes, file, () => identityPassphrase(passphraseFile, env));
}

// Loads the identity file: plain (age-keygen format) or age-encrypted with a scrypt passphrase.
import { promises as fsp, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { armor, Encrypter } from "age-encryption";
import { StrongboxError } from "../errors.js";
import { reasonOf } from "../system-error.js";
import { registerSecret } from "../secrets.js";
import { createDecryptStream } from "./age.js";
import { parseIdentities, type Identity } from "./age-keys.js";

export const PASSPHRASE_ENV = "STRONGBOX_IDENTITY_PASSPHRASE";
const AGE_MAGIC = "age-encryption.org/v1\n";

export type IdentityFileKind = "x25519" | "pq-hybrid" | "mixed" | "passphrase-protected";

/** age's ASCII armor (`age -a`): `age -d -i` reads an identity file as armored when it starts with this. */
const ARMOR_BEGIN = "-----BEGIN AGE";
const ARMOR_LIMIT = 1024 * 1024;

/** An age-encrypted identity file: binary (`age -p`) or armored (`age -p -a`). */
export function isEncryptedIdentity(bytes: Buffer): boolean {
  return bytes.subarray(0, AGE_MAGIC.length).toString("latin1") === AGE_MAGIC || isArmored(bytes);
}

function isArmored(bytes: Buffer): boolean {
  return bytes.subarray(0, ARMOR_BEGIN.length).toString("latin1") === ARMOR_BEGIN;
}

/**
 * The binary age file inside an armored one, read by age's rules (the reference library's decoder,
 * which passes every CCTV armor vector): "-----BEGIN AGE ENCRYPTED FILE-----", base64 lines of exactly
 * 64 columns but the last (1 to 64, padded), "-----END AGE ENCRYPTED FILE-----", LF or CRLF,
 * whitespace only after the end.
 */
export function dearmor(bytes: Buffer, source: string): Buffer {
  if (bytes.length > ARMOR_LIMIT) throw new StrongboxError("CRYPTO", `${source}: armored identity file over 1 MiB`);
  try {
    return Buffer.from(armor.decode(bytes.toString("latin1")));
  } catch (err) {
    const why = (err as Error).message.replace(/[^\x20-\x7e]/g, "?").slice(0, 60);
    throw new StrongboxError(
      "CRYPTO",
      `${source}: not a valid armored age file (${why}); age's armor: "-----BEGIN AGE ENCRYPTED FILE-----", base64 lines of 64 columns (the last shorter), "-----END AGE ENCRYPTED FILE-----"`,
    );
  }
}

/**
 * The passphrase for an encrypted identity: identity_passphrase_file, else the environment; never argv.
 * It is not registered for redaction: no message is ever built from it (masking its text would tell
 * an onlooker where it occurs, e.g. a passphrase "file" in "identity file").
 */
export function identityPassphrase(passphraseFile: string | undefined, env: NodeJS.ProcessEnv): string | null {
  let p: string | undefined;
  if (passphraseFile) {
    try {
      p = readFileSync(passphraseFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new StrongboxError(
        "CONFIG",
        `encryption.identity_passphrase_file: cannot read ${passphraseFile}: ${reasonOf(err)}`,
      );
    }
  } else p = env[PASSPHRASE_ENV];
  return p || null;
}

/** Parses identity file bytes, decrypting them first when they are a passphrase-encrypted age file. */
export async function readIdentities(
  bytes: Buffer,
  source: string,
  passphrase: () => string | null,
): Promise<Identity[]> {
  if (!isEncryptedIdentity(bytes)) return parseIdentities(bytes.toString("utf8"), source);
  const p = passphrase();
  if (!p)
    throw new StrongboxError(
      "CONFIG",
      `${source} is passphrase-protected: set encryption.identity_passphrase_file or ${PASSPHRASE_ENV}`,
    );
  const file = isArmored(bytes) ? dearmor(bytes, source) : bytes;
  const chunks: Buffer[] = [];
  try {
    await pipeline(Readable.from([file]), createDecryptStream([], [p]), async function (s: AsyncIterable<Buffer>) {
      for await (const c of s) chunks.push(c);
    });
  } catch (err) {
    // Fixed words only: never anything derived from the passphrase.
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

export async function loadIdentityFile(
  file: string,
  passphraseFile: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Identity[]> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new StrongboxError("CONFIG", `encryption.identity_file: cannot read ${file}: ${reasonOf(err)}`);
  }
  return readIdentities(bytes, file, () => identityPassphrase(passphraseFile, env));
}

import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, KeyObject } from "node:crypto";
import { bech32Decode, bech32Encode } from "./bech32.js";
import { StrongboxError } from "../errors.js";

// DER prefixes that turn 32 raw X25519 bytes into key objects node:crypto accepts.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

export interface Identity {
  readonly privateKey: KeyObject;
  /** Raw 32-byte public key (the recipient). */
  readonly publicKey: Buffer;
}

export function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

export function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

export function rawPrivateKey(key: KeyObject): Buffer {
  const der = key.export({ format: "der", type: "pkcs8" });
  return der.subarray(der.length - 32);
}

export function x25519(privateKey: KeyObject, publicRaw: Uint8Array): Buffer {
  return diffieHellman({ privateKey, publicKey: publicKeyObject(publicRaw) });
}

export function encodeRecipient(publicRaw: Uint8Array): string {
  return bech32Encode("age", publicRaw);
}

/** Parses an `age1…` X25519 recipient; returns null if it is not one. */
export function parseRecipient(s: string): Buffer | null {
  const d = bech32Decode(s);
  if (!d || d.hrp !== "age" || d.data.length !== 32 || s !== s.toLowerCase()) return null;
  return Buffer.from(d.data);
}

export function encodeIdentity(privateRaw: Uint8Array): string {
  return bech32Encode("AGE-SECRET-KEY-", privateRaw).toUpperCase();
}

export function generateIdentity(): { identity: Identity; text: string; recipient: string } {
  const { privateKey } = generateKeyPairSync("x25519");
  const publicKey = rawPublicKey(privateKey);
  const recipient = encodeRecipient(publicKey);
  const created = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const text = `# created: ${created}\n# public key: ${recipient}\n${encodeIdentity(rawPrivateKey(privateKey))}\n`;
  return { identity: { privateKey, publicKey }, text, recipient };
}

/** Parses an age identity file (the age-keygen format): comments, blank lines and AGE-SECRET-KEY-1… lines. */
export function parseIdentities(text: string, source = "identity file"): Identity[] {
  const out: Identity[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const d = line.startsWith("AGE-SECRET-KEY-1") ? bech32Decode(line) : null;
    if (!d || d.hrp !== "age-secret-key-" || d.data.length !== 32) {
      // Never echo the line: it may be a secret in another format.
      throw new StrongboxError("CRYPTO", `${source}: line ${i + 1} is not an age X25519 identity (AGE-SECRET-KEY-1…)`);
    }
    const privateKey = privateKeyObject(d.data);
    out.push({ privateKey, publicKey: rawPublicKey(privateKey) });
  }
  if (out.length === 0) throw new StrongboxError("CRYPTO", `${source}: no age identity found`);
  return out;
}

// An age v1 header for X25519 recipients (age1…) on node:crypto alone, byte for byte the layout the
// reference library writes (https://age-encryption.org/v1, "X25519 recipient stanza"), so that wal push
// and backup, which only encrypt, start without loading that library. Hybrid post-quantum recipients
// still go through the library (age.ts). The library and age itself read these headers (unit tests).
import { createCipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from "node:crypto";
import { randomBytes } from "node:crypto";
import { decodeBech32, SPKI_PREFIX } from "./age-keys.js";

const X25519_LABEL = "age-encryption.org/v1/X25519";
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64").replace(/=+$/, "");

/** True for a classic X25519 recipient string (age1…, not age1pq1…). */
export function isX25519Recipient(r: string): boolean {
  return r.startsWith("age1") && !r.startsWith("age1pq1");
}

/** One "-> X25519 <share>" stanza wrapping fileKey to the recipient's public key (two header lines). */
function x25519Stanza(recipient: string, fileKey: Buffer): string {
  const raw = decodeBech32(recipient, "age");
  if (!raw || raw.length !== 32) throw new Error("invalid recipient");
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const share = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const theirs = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
  const secret = diffieHellman({ privateKey, publicKey: theirs });
  if (secret.every((b) => b === 0)) throw new Error("low-order X25519 recipient");
  const key = Buffer.from(hkdfSync("sha256", secret, Buffer.concat([share, raw]), X25519_LABEL, 32));
  const cipher = createCipheriv("chacha20-poly1305", key, Buffer.alloc(12), { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  // The 32-byte body is one base64 line shorter than 64 columns, as the format wants for the last line.
  return `-> X25519 ${b64(share)}\n${b64(body)}\n`;
}

/** A header for a fresh 16-byte file key, MACed with HMAC-SHA-256 under HKDF(file key, "header"). */
export function buildX25519Header(recipients: string[]): { header: Buffer; fileKey: Buffer } {
  const fileKey = randomBytes(16);
  const text = `age-encryption.org/v1\n${recipients.map((r) => x25519Stanza(r, fileKey)).join("")}---`;
  const macKey = Buffer.from(hkdfSync("sha256", fileKey, Buffer.alloc(0), "header", 32));
  const mac = createHmac("sha256", macKey).update(text, "latin1").digest();
  return { header: Buffer.from(`${text} ${b64(mac)}\n`, "latin1"), fileKey };
}

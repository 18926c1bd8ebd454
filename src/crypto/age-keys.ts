// age recipients and identities. Parsing and unwrapping come from the age reference library
// (`age-encryption`, loaded only where it is used, as it is most of a command's start-up); X25519 key
// generation and the key checks (the library's own, on @scure/base as it does them) run without it.
import { createPublicKey, diffieHellman, generateKeyPairSync } from "node:crypto";
import { bech32 } from "@scure/base";
import { StrongboxError } from "../errors.js";

export type IdentityKind = "x25519" | "pq-hybrid";

/** A private age identity; `secret` is the AGE-SECRET-KEY-… string, never logged. */
export interface Identity {
  readonly kind: IdentityKind;
  readonly secret: string;
}

export const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

export function decodeBech32(s: string, hrp: string): Uint8Array | null {
  try {
    const d = bech32.decode(s as `${string}1${string}`, 2000);
    return d.prefix === hrp ? bech32.fromWords(d.words) : null;
  } catch {
    return null;
  }
}

/** True when the point is of low order (X25519 with it yields all zeros: age refuses it). */
export function isLowOrderPoint(raw: Uint8Array): boolean {
  const { privateKey } = generateKeyPairSync("x25519");
  try {
    const shared = diffieHellman({
      privateKey,
      publicKey: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" }),
    });
    return shared.every((b) => b === 0);
  } catch {
    return true; // OpenSSL refuses an all-zero shared secret itself
  }
}

/** Why `s` is not a usable age recipient (age1… X25519 or age1pq1… hybrid), or null when it is one. */
export function recipientProblem(s: string): string | null {
  if (s !== s.toLowerCase()) return "is not an age recipient (age1… or age1pq1…): must be lower case";
  if (s.startsWith("age1pq1")) {
    const raw = hybridRecipientBytes(s);
    return raw ? hybridKeyProblem(raw) : "is not a valid age hybrid post-quantum recipient (age1pq1…)";
  }
  const raw = decodeBech32(s, "age");
  if (!raw || raw.length !== 32) return "is not an age recipient (age1… or age1pq1…)";
  if (isLowOrderPoint(raw)) return "is a low-order X25519 point, which age refuses (not a real public key)";
  return null;
}

/** The age library's check of an age1pq1… recipient (HybridRecipient): bech32 of any length, 1216 bytes. */
function hybridRecipientBytes(s: string): Uint8Array | null {
  try {
    const { prefix, words } = bech32.decode(s as `${string}1${string}`, false);
    const bytes = bech32.fromWords(words);
    return prefix.toLowerCase() === "age1pq" && bytes.length === 1216 ? bytes : null;
  } catch {
    return null;
  }
}

/** The age library's check of an identity line (X25519Identity, HybridIdentity): bech32, its prefix, 32 bytes. */
function identityValid(line: string, kind: IdentityKind): boolean {
  try {
    const { prefix, bytes } = bech32.decodeToBytes(line);
    const want = kind === "pq-hybrid" ? "AGE-SECRET-KEY-PQ-" : "AGE-SECRET-KEY-";
    return prefix.toUpperCase() === want && bytes.length === 32;
  } catch {
    return false;
  }
}

/** ML-KEM-768 (FIPS 203): q, and the encapsulation key's length (t-hat, 1152 bytes, then the 32-byte seed rho). */
const MLKEM_Q = 3329;
const MLKEM768_EK = 1184;
const MLKEM768_T = 1152;

/**
 * Why a hybrid recipient's key (ML-KEM-768 encapsulation key, then the X25519 public key, 1216 bytes)
 * cannot be encrypted to, or null. FIPS 203 §7.2: every 12-bit coefficient of t-hat must be below q
 * (ByteEncode(ByteDecode(ek)) == ek); the X25519 half must not be a low-order point (an all-zero
 * shared secret, which every backup would then fail on).
 */
function hybridKeyProblem(raw: Uint8Array): string | null {
  for (let i = 0; i < MLKEM768_T; i += 3) {
    const lo = raw[i] | ((raw[i + 1] & 0x0f) << 8);
    const hi = (raw[i + 1] >> 4) | (raw[i + 2] << 4);
    if (lo >= MLKEM_Q || hi >= MLKEM_Q)
      return "is not a valid ML-KEM-768 key (a coefficient is not below q = 3329, which FIPS 203 refuses): not a real age1pq1… public key";
  }
  if (isLowOrderPoint(raw.subarray(MLKEM768_EK)))
    return "has a low-order X25519 point in its hybrid key, which age refuses (not a real age1pq1… public key)";
  return null;
}

/**
 * Why a list of valid recipients cannot be used together, or null: post-quantum and classic ones mixed
 * (every object would be only as strong as the classic key), or so many that the age header would
 * exceed what readers accept (`maxHeader` bytes).
 */
export function recipientsProblem(recipients: string[], maxHeader: number): string | null {
  const pq = recipients.filter((r) => r.startsWith("age1pq1")).length;
  if (pq > 0 && pq < recipients.length) {
    return 'mixes post-quantum (age1pq1…) and classic (age1…) recipients: every object would then be only as strong as the classic key, and age refuses this too ("can\'t mix post-quantum and classic recipients"); use only age1pq1… recipients, or only age1…';
  }
  const size = HEADER_FIXED + pq * PQ_STANZA + (recipients.length - pq) * X25519_STANZA;
  if (size > maxHeader) {
    const most = Math.floor((maxHeader - HEADER_FIXED) / (pq ? PQ_STANZA : X25519_STANZA));
    return `${recipients.length} recipients make every object's age header ${size} bytes, over the ${maxHeader / 1024} KiB that strongbox reads back: at most ${most} ${pq ? "post-quantum " : ""}recipients`;
  }
  return null;
}

/** Header bytes: "age-encryption.org/v1\n" and "--- <43-char MAC>\n"; one stanza per recipient (two lines each). */
const HEADER_FIXED = 22 + 48;
const X25519_STANZA = 10 + 43 + 1 + 43 + 1;
const PQ_STANZA = 18 + 1494 + 1 + 43 + 1;

/** The recipient when valid, else null. */
export function parseRecipient(s: string): string | null {
  return recipientProblem(s) === null ? s : null;
}

export function generateIdentity(): { identity: Identity; text: string; recipient: string } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const priv = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const recipient = bech32.encode("age", bech32.toWords(pub), false);
  const secret = bech32.encode("AGE-SECRET-KEY-", bech32.toWords(priv), false).toUpperCase();
  return { identity: { kind: "x25519", secret }, text: identityText(recipient, secret), recipient };
}

/** A hybrid ML-KEM-768 + X25519 identity (age 1.3's AGE-SECRET-KEY-PQ-1…), as age-keygen -pq writes it. */
export async function generatePqIdentity(): Promise<{ identity: Identity; text: string; recipient: string }> {
  const { generateHybridIdentity, identityToRecipient } = await import("age-encryption");
  const secret = await generateHybridIdentity();
  const recipient = await identityToRecipient(secret);
  return { identity: { kind: "pq-hybrid", secret }, text: identityText(recipient, secret), recipient };
}

function identityText(recipient: string, secret: string): string {
  const created = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return `# created: ${created}\n# public key: ${recipient}\n${secret}\n`;
}

/**
 * Parses an age identity file (age-keygen format) exactly as `age -d -i` reads it, so that a file
 * accepted here also serves a restore by hand: lines end in LF or CRLF; a line is empty, or a comment
 * starting with "#" in its first column, or an AGE-SECRET-KEY-1… / AGE-SECRET-KEY-PQ-1… key with
 * nothing before or after it (age refuses an indented comment, and spaces around a key).
 */
export function parseIdentities(text: string, source = "identity file"): Identity[] {
  const out: Identity[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    if (line !== line.trim()) {
      const what = line.trim().startsWith("#")
        ? "is an indented comment (age wants # in the first column)"
        : line.trim() === ""
          ? "holds only spaces (age wants an empty line)"
          : "has spaces around the key";
      throw new StrongboxError(
        "CRYPTO",
        `${source}: line ${i + 1} ${what}, which age refuses, so a restore by hand with age -d -i would fail: remove the spaces`,
      );
    }
    const kind: IdentityKind | null = line.startsWith("AGE-SECRET-KEY-PQ-1")
      ? "pq-hybrid"
      : line.startsWith("AGE-SECRET-KEY-1")
        ? "x25519"
        : null;
    const ok = kind !== null && identityValid(line, kind);
    // Never echo the line: it may be a secret in another format.
    if (!ok)
      throw new StrongboxError(
        "CRYPTO",
        `${source}: line ${i + 1} is not an age identity (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)`,
      );
    out.push({ kind: kind!, secret: line });
  }
  if (out.length === 0) throw new StrongboxError("CRYPTO", `${source}: no age identity found`);
  return out;
}

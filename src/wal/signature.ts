/**
 * Signed WAL (docs/wal-archiving.md, "Signed WAL"): a host with `signing.key_file` signs every WAL file
 * it archives, and the signature travels in the object's key, so signing costs no extra object and no
 * extra request, and stays atomic with the object. Raw Ed25519 (RFC 8032) is deterministic: a retry of
 * the same file computes the same key, so "already stored" still means success.
 *
 * The signed message binds everything the key says about the file, domain-separated from every other
 * signature strongbox makes (those are SSHSIG with their own namespaces, never a bare message):
 * `strongbox-wal v1 \0 <system identifier> \0 <timeline, 8 hex> \0 <WAL file name> \0 <SHA-256 of the plaintext>`.
 * The plaintext's hash is checked on every read, so a trusted signature over it vouches for the bytes.
 */
import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { findTrusted, type TrustPolicy } from "../crypto/signing.js";
import { publicKeyFromRaw, type SigningKey } from "../crypto/ssh-signature.js";
import { hex8, type ParsedWalKey, type WalName } from "./names.js";

const DOMAIN = "strongbox-wal v1";

/** The exact bytes a WAL signature covers. */
export function walSignedMessage(systemId: string, w: WalName, sha256: string): Buffer {
  return Buffer.from([DOMAIN, systemId, hex8(w.timeline), w.name, sha256].join("\0"), "utf8");
}

/** The signature a key name carries: 64 bytes of raw Ed25519, as 128 lower-case hex digits. */
export function signWal(key: SigningKey, systemId: string, w: WalName, sha256: string): string {
  return sign(null, walSignedMessage(systemId, w, sha256), key.privateKey).toString("hex");
}

const nodeKeys = new WeakMap<Buffer, KeyObject>();
function nodeKey(raw: Buffer): KeyObject {
  let k = nodeKeys.get(raw);
  if (!k) {
    k = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    nodeKeys.set(raw, k);
  }
  return k;
}

export interface WalTrust {
  trusted: boolean;
  /** Why not, in a few words (for the one warning line naming ignored objects). */
  reason?: string;
}

/**
 * Whether a stored WAL object is trusted under `policy`: its key carries a signature that verifies
 * under a trusted key valid at `storedAt` (the store's own time, which a writer cannot set), or the
 * store dated it before `signing.allow_unsigned_before` (the migration cut-off, as for backups).
 * The key was parsed strictly before (parseWalKey), so the signature is exactly 64 bytes.
 */
export function judgeWal(policy: TrustPolicy, k: ParsedWalKey, storedAt: Date | undefined): WalTrust {
  const cutoff = policy.allowUnsignedBefore;
  if (cutoff && storedAt && storedAt < cutoff) return { trusted: true };
  if (!k.signature) return { trusted: false, reason: "unsigned" };
  const message = walSignedMessage(k.systemId, k.wal, k.sha256);
  const sig = Buffer.from(k.signature, "hex");
  let problem = "its signature verifies under no trusted key";
  for (const t of policy.keys) {
    let ok = false;
    try {
      ok = verify(null, message, nodeKey(t.key.raw), sig);
    } catch {
      ok = false;
    }
    if (!ok) continue;
    const found = findTrusted(policy, publicKeyFromRaw(t.key.raw), storedAt);
    if (found.key) return { trusted: true };
    problem = found.problem ?? problem;
  }
  return { trusted: false, reason: problem };
}

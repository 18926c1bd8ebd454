// Who may add a backup or a drill report: the `signing` section of the config, the signing key a
// backup or drill host holds, and the verdict on what a repository holds (trusted, or untrusted with a
// precise reason). The format is SSHSIG (ssh-signature.ts); this module decides what a signature is worth.
import { readFileSync, statSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { reasonOf } from "../system-error.js";
import {
  MAX_SIGNATURE_BYTES,
  parsePrivateKey,
  parsePublicKeyLine,
  SignatureFormatError,
  signMessage,
  verifyMessage,
  type SigningKey,
  type SshPublicKey,
} from "./ssh-signature.js";

export interface TrustedKey {
  key: SshPublicKey;
  validAfter?: Date;
  validBefore?: Date;
}

/** What a reading host trusts. Absent (undefined) when the config has no `signing.trusted` keys: nothing is checked. */
export interface TrustPolicy {
  keys: TrustedKey[];
  /** Unsigned backups whose complete.json the store dated before this are trusted (migration), with a note. */
  allowUnsignedBefore?: Date;
}

export interface Verdict {
  trusted: boolean;
  /** Why not (untrusted), e.g. "unsigned (no complete.json.sig)". */
  reason?: string;
  /** The signer's fingerprint and comment, for a valid trusted signature. */
  signer?: string;
  /** Trusted, but worth a word: unsigned and let in by allow_unsigned_before. */
  note?: string;
}

/** The policy of a config; undefined without `signing` or with no trusted key (then nothing is checked). */
export function trustPolicy(config: Config): TrustPolicy | undefined {
  const s = config.signing;
  if (!s || s.trusted.length === 0) return undefined;
  return {
    keys: s.trusted.map((t) => ({
      key: parsePublicKeyLine(t.key),
      ...(t.valid_after ? { validAfter: new Date(t.valid_after) } : {}),
      ...(t.valid_before ? { validBefore: new Date(t.valid_before) } : {}),
    })),
    ...(s.allow_unsigned_before ? { allowUnsignedBefore: new Date(s.allow_unsigned_before) } : {}),
  };
}

/** Reads `signing.key_file` (mode and format checked by doctor); CONFIG error naming the problem. */
export function readSigningKey(file: string): SigningKey {
  let text: string;
  try {
    if (statSync(file).size > 64 * 1024)
      throw new StrongboxError("CONFIG", `signing.key_file: ${file} is larger than a signing key can be`);
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof StrongboxError) throw err;
    throw new StrongboxError("CONFIG", `signing.key_file: cannot read ${file}: ${reasonOf(err)}`);
  }
  try {
    return parsePrivateKey(text);
  } catch (err) {
    throw new StrongboxError("CONFIG", `signing.key_file: ${file}: ${(err as Error).message}`);
  }
}

/**
 * The key a backup signs with: undefined when the config has no `signing` section (nothing is signed,
 * as before signing existed); a CONFIG error when signing is configured but this host has no key.
 */
export function backupSigningKey(config: Config): SigningKey | undefined {
  const s = config.signing;
  if (!s) return undefined;
  if (!s.key_file)
    throw new StrongboxError(
      "CONFIG",
      "signing.key_file: required to back up (signing is configured, and an unsigned backup would be untrusted); make one with 'strongbox keygen --signing -o FILE'",
    );
  return readSigningKey(s.key_file);
}

/** The key a drill report is signed with, when this host has one (a drill host without one writes an unsigned report). */
export function drillSigningKey(config: Config): SigningKey | undefined {
  const file = config.signing?.key_file;
  return file ? readSigningKey(file) : undefined;
}

export function signWith(key: SigningKey, namespace: string, message: Buffer): Buffer {
  return Buffer.from(signMessage(key, namespace, message));
}

function describeKey(k: SshPublicKey, trusted?: TrustedKey): string {
  const comment = trusted?.key.comment || k.comment;
  return comment ? `${k.fingerprint} (${comment})` : k.fingerprint;
}

/** Whether the key is in the policy and valid at the store's time of the signed object. */
export function findTrusted(
  policy: TrustPolicy,
  signer: SshPublicKey,
  storedAt: Date | undefined,
): { key?: TrustedKey; problem?: string } {
  const matches = policy.keys.filter((t) => t.key.raw.equals(signer.raw));
  if (matches.length === 0)
    return { problem: `signed by ${signer.fingerprint}, which is not a trusted key (signing.trusted)` };
  const bounded = matches.filter((t) => t.validAfter || t.validBefore);
  const open = matches.find((t) => !t.validAfter && !t.validBefore);
  if (open) return { key: open };
  if (!storedAt)
    return {
      problem: `signed by ${describeKey(signer, matches[0])}, which is trusted only for a period, and the store gave no time for it`,
    };
  const inside = bounded.find(
    (t) => (!t.validAfter || storedAt >= t.validAfter) && (!t.validBefore || storedAt < t.validBefore),
  );
  if (inside) return { key: inside };
  const periods = bounded
    .map((t) => `${t.validAfter?.toISOString() ?? "…"} to ${t.validBefore?.toISOString() ?? "…"}`)
    .join(", ");
  return {
    problem: `signed by ${describeKey(signer, matches[0])}, which is trusted only from ${periods}; the store dated it ${storedAt.toISOString()}`,
  };
}

/**
 * The verdict on one signed object: `message` (its exact bytes), its signature (null: there is none;
 * a number: its listed size, over the limit, so it was not read), for `namespace`. `storedAt` is the
 * store's own time of the signed object (LastModified, which a writer cannot set).
 */
export function judge(
  policy: TrustPolicy,
  o: { sigName: string; namespace: string; message: Buffer; signature: Buffer | null | number; storedAt?: Date },
): Verdict {
  const v = judgeSignature(policy, o);
  // The migration cut-off trusts what the store dated before it, signed or not: a signature that does
  // not hold (a junk .sig a forger ADDED later, which needs no overwrite) cannot make it untrusted.
  if (
    !v.trusted &&
    o.signature !== null &&
    policy.allowUnsignedBefore &&
    o.storedAt &&
    o.storedAt < policy.allowUnsignedBefore
  ) {
    return {
      trusted: true,
      note: `trusted because the store dated it ${o.storedAt.toISOString()}, before signing.allow_unsigned_before ${policy.allowUnsignedBefore.toISOString()}; its signature does not hold (${v.reason})`,
    };
  }
  return v;
}

function judgeSignature(
  policy: TrustPolicy,
  o: { sigName: string; namespace: string; message: Buffer; signature: Buffer | null | number; storedAt?: Date },
): Verdict {
  if (o.signature === null) {
    if (policy.allowUnsignedBefore && o.storedAt && o.storedAt < policy.allowUnsignedBefore) {
      return {
        trusted: true,
        note: `unsigned, trusted because the store dated it ${o.storedAt.toISOString()}, before signing.allow_unsigned_before ${policy.allowUnsignedBefore.toISOString()}`,
      };
    }
    return { trusted: false, reason: `unsigned (no ${o.sigName})` };
  }
  if (typeof o.signature === "number")
    return {
      trusted: false,
      reason: `${o.sigName}: ${o.signature} bytes, more than a signature may have (${MAX_SIGNATURE_BYTES}); not read`,
    };
  let signer: SshPublicKey;
  try {
    signer = verifyMessage(o.signature, o.namespace, o.message);
  } catch (err) {
    if (err instanceof SignatureFormatError) return { trusted: false, reason: `${o.sigName}: ${err.message}` };
    throw err;
  }
  const t = findTrusted(policy, signer, o.storedAt);
  if (!t.key) return { trusted: false, reason: `${o.sigName}: ${t.problem}` };
  return { trusted: true, signer: describeKey(signer, t.key) };
}

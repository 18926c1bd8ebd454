// doctor's signing report: is signing configured, is the key file private and readable, does this
// host trust its own key, which keys it trusts and for when.
import { statSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { readSigningKey, trustPolicy } from "../crypto/signing.js";
import { StrongboxError } from "../errors.js";
import type { IdentityFinding } from "./doctor-identity.js";

export function signingFindings(config: Config, now = new Date()): IdentityFinding[] {
  const s = config.signing;
  if (!s) {
    return [
      {
        area: "signing",
        status: "warn",
        detail:
          "not configured: backups are not signed, so anyone who can write to the repository can add a backup that restore takes as latest (README: Signed backups)",
      },
    ];
  }
  const out: IdentityFinding[] = [];
  const policy = trustPolicy(config);
  if (!policy)
    out.push({
      area: "signing",
      status: "warn",
      detail:
        "signing.trusted is empty: this host checks no signature (every backup counts); list the trusted keys where restore, verify, drill and prune run",
    });
  else {
    const keys = policy.keys.map((k) => {
      const period =
        k.validAfter || k.validBefore
          ? ` ${k.validAfter?.toISOString() ?? "…"} to ${k.validBefore?.toISOString() ?? "…"}`
          : "";
      const expired = k.validBefore && k.validBefore <= now ? " (expired)" : "";
      return `${k.key.fingerprint}${k.key.comment ? ` (${k.key.comment})` : ""}${period}${expired}`;
    });
    const current = policy.keys.some(
      (k) => (!k.validAfter || k.validAfter <= now) && (!k.validBefore || k.validBefore > now),
    );
    out.push({
      area: "signing",
      status: current ? "ok" : "warn",
      detail: `trusts ${keys.join("; ")}${current ? "" : ": none is valid now, so no new backup will be trusted"}${policy.allowUnsignedBefore ? `; unsigned backups stored before ${policy.allowUnsignedBefore.toISOString()} are trusted (migration)` : ""}`,
    });
  }
  if (!s.key_file) {
    out.push({
      area: "signing key",
      status: "ok",
      detail: "none on this host (needed only where backups or drills run)",
    });
    return out;
  }
  let mode: number;
  try {
    mode = statSync(s.key_file).mode & 0o777;
    const key = readSigningKey(s.key_file);
    out.push({
      area: "signing key",
      status: mode & 0o077 ? "warn" : "ok",
      detail: `${s.key_file} mode ${mode.toString(8)}${mode & 0o077 ? ": readable by others, chmod 600" : ""}; ${key.publicKey.fingerprint}`,
    });
    if (policy && !policy.keys.some((k) => k.key.raw.equals(key.publicKey.raw))) {
      out.push({
        area: "signing key",
        status: "warn",
        detail: `${s.key_file}'s public key ${key.publicKey.fingerprint} is not in signing.trusted: backups signed with it are untrusted here (add "${key.publicKey.line}")`,
      });
    }
  } catch (err) {
    const code = err instanceof StrongboxError ? undefined : (err as NodeJS.ErrnoException).code;
    out.push({
      area: "signing key",
      status: "fail",
      detail: code ? `${s.key_file}: ${code} (backup and drill need it)` : (err as Error).message,
    });
  }
  return out;
}

/** config check's warning: a host that signs with a key it does not itself trust. */
export function signingKeyWarning(config: Config): string | undefined {
  const file = config.signing?.key_file;
  const policy = trustPolicy(config);
  if (!file || !policy) return undefined;
  const key = readSigningKey(file);
  if (policy.keys.some((k) => k.key.raw.equals(key.publicKey.raw))) return undefined;
  return `signing.key_file: its public key ${key.publicKey.fingerprint} is not in signing.trusted; backups signed with it are untrusted wherever this list is used (add "${key.publicKey.line}")`;
}

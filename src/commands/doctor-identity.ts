// doctor's identity report: which kind of identity is configured, its mode, and whether a plaintext
// private key sits on a host that only backs up (where it is never needed, only exposed).
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { identityFileKind } from "../crypto/identity-file.js";

export interface IdentityFinding {
  area: string;
  status: "ok" | "warn" | "fail";
  detail: string;
}

function backupOnly(config: Config): boolean {
  const c = config.repository.s3?.credentials;
  return Boolean(c?.writer && !c.reader && !c.pruner);
}

export function identityFindings(config: Config): IdentityFinding[] {
  const id = config.encryption.identity_file;
  if (!id) return [{ area: "identity file", status: "ok", detail: "none configured (fine on a backup-only host)" }];
  let mode: number;
  let kind: string;
  try {
    mode = statSync(id).mode & 0o777;
    accessSync(id, constants.R_OK);
    kind = identityFileKind(readFileSync(id), id);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return [
      {
        area: "identity file",
        status: "fail",
        detail: code
          ? `${id}: ${code} (restore, verify and drill need it; remove identity_file on a backup-only host)`
          : (err as Error).message,
      },
    ];
  }
  const out: IdentityFinding[] = [
    {
      area: "identity file",
      status: mode & 0o077 ? "warn" : "ok",
      detail: `${id} mode ${mode.toString(8)}${mode & 0o077 ? ": readable by others, chmod 600" : ""}; keep it off backup-only hosts`,
    },
    { area: "identity kind", status: "ok", detail: kind },
  ];
  const pf = config.encryption.identity_passphrase_file;
  if (pf) {
    // The passphrase next to the encrypted identity: as exposed as a plaintext key when others can read it.
    try {
      const pmode = statSync(pf).mode & 0o777;
      accessSync(pf, constants.R_OK);
      const open = pmode & 0o077;
      out.push({
        area: "passphrase file",
        status: open ? "warn" : "ok",
        detail: `${pf} mode ${pmode.toString(8)}${open ? `: readable by ${pmode & 0o007 ? "everyone" : "its group"}, who can then decrypt the identity; chmod 600` : ""}`,
      });
    } catch (err) {
      out.push({
        area: "passphrase file",
        status: "fail",
        detail: `${pf}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"} (encryption.identity_passphrase_file)`,
      });
    }
  }
  if (kind !== "passphrase-protected" && backupOnly(config)) {
    out.push({
      area: "identity file",
      status: "warn",
      detail: `${id} is a plaintext private key on a host with only writer credentials: backups need only the recipients; remove it or protect it with a passphrase (strongbox keygen --passphrase)`,
    });
  }
  return out;
}

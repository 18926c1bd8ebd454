import { accessSync, constants, statSync } from "node:fs";

/** An explicit lock_dir must exist and be writable, or two runs could take different locks. */
export function lockDirProblem(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `${dir}: ${code}${code === "ENOENT" ? " — create it (systemd: RuntimeDirectory=strongbox for /run/strongbox)" : ""}`;
  }
}

/** A configured identity file must be there and readable: restore, verify and drill need it. */
export function identityFileProblem(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (err) {
    return `${file}: ${(err as NodeJS.ErrnoException).code} (restore, verify and drill need it; on a backup-only host leave identity_file out)`;
  }
}

/** A secret in a file others may read is not secret: the warning names the file and its mode. */
export function exposedSecretFile(file: string): string | undefined {
  try {
    const mode = statSync(file).mode & 0o777;
    return mode & 0o077
      ? `${file} is readable by ${mode & 0o007 ? "everyone" : "its group"} (mode ${mode.toString(8)}): chmod 600 it`
      : undefined;
  } catch {
    return undefined;
  }
}

import { StrongboxError } from "../errors.js";

/**
 * Normalises an archive path and refuses anything that could land outside the target: absolute
 * paths, `..` components, NUL bytes. A backslash or a leading "C:" is an ordinary character of a
 * name on the POSIX systems strongbox backs up and restores (`a\..\b` is one name there), so they
 * are kept: a backup of such a file must restore, as tar restores it.
 */
export function safeRelativePath(name: string): string {
  const unsafe = (why: string) =>
    new StrongboxError("VERIFY", `unsafe path in archive, refusing to restore: ${JSON.stringify(name)} (${why})`);
  if (name.includes("\0")) throw unsafe("NUL byte");
  if (name.startsWith("/")) throw unsafe("absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw unsafe("'..' component");
  if (parts.length === 0) throw unsafe("empty path");
  return parts.join("/");
}

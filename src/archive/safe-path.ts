import { StrongboxError } from "../errors.js";

/**
 * Normalises an archive path and refuses anything that could land outside the target:
 * absolute paths, `..` components, NUL bytes, Windows drive or backslash tricks.
 */
export function safeRelativePath(name: string): string {
  const unsafe = (why: string) =>
    new StrongboxError("VERIFY", `unsafe path in archive, refusing to restore: ${JSON.stringify(name)} (${why})`);
  if (name.includes("\0")) throw unsafe("NUL byte");
  if (name.startsWith("/")) throw unsafe("absolute path");
  if (/^[A-Za-z]:/.test(name) || name.includes("\\")) throw unsafe("drive letter or backslash");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw unsafe("'..' component");
  if (parts.length === 0) throw unsafe("empty path");
  return parts.join("/");
}

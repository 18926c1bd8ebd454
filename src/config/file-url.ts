import { posix } from "node:path";
import { pathToFileURL } from "node:url";
import { StrongboxError } from "../errors.js";

/**
 * The one reading of a `file://` repository URL (repository.url, copy --to, the lock's identity, doctor):
 * `file:///absolute/path` or `file://localhost/absolute/path`, percent-encoded as URLs are. A host, a
 * relative path, a query or fragment, bad percent-encoding or a NUL byte is refused: `new URL()` would
 * quietly drop a host (`file://./repo` is `/repo` to it) or a `?…`, and write somewhere else.
 */
export function parseFileUrl(url: string): { path: string } | { problem: string } {
  if (!/^file:\/\//i.test(url)) return { problem: "not a file:// URL (file:///absolute/path)" };
  let rest = url.slice("file://".length);
  if (/^localhost(\/|$)/i.test(rest)) rest = rest.slice("localhost".length);
  if (!rest.startsWith("/")) {
    const host = rest.split("/")[0];
    return {
      problem: host
        ? `names host "${host}": a file:// URL takes an absolute local path (file:///absolute/path); a relative path is not allowed`
        : "has no path (file:///absolute/path)",
    };
  }
  if (/[?#]/.test(rest))
    return { problem: "has a query or fragment (? or #): percent-encode them in a path (%3F, %23)" };
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    return { problem: "has bad percent-encoding (% must be followed by two hex digits; a literal % is %25)" };
  }
  if (path.includes("\0")) return { problem: "has a NUL byte in its path" };
  path = posix.normalize(path).replace(/\/+$/, "");
  if (!path) return { problem: "names the root directory: give the repository's own directory" };
  return { path };
}

/** The local directory of a file:// URL, or a one-line error (`code`: CONFIG for the config, USAGE for a flag). */
export function fileUrlPath(url: string, code: "CONFIG" | "USAGE" = "CONFIG", what = "repository.url"): string {
  const r = parseFileUrl(url);
  if ("problem" in r) throw new StrongboxError(code, `${what} ${JSON.stringify(url)}: ${r.problem}`);
  return r.path;
}

/** Whether a repository URL or `copy --to` names a local directory (file:…), not S3 or a config file. */
export const isFileUrl = (url: string): boolean => /^file:/i.test(url);

/** The file:// URL of a local directory (init's sample), percent-encoded so that parseFileUrl reads it back. */
export const fileUrlOf = (dir: string): string => pathToFileURL(dir).href;

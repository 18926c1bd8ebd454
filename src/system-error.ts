/**
 * System errors (Node's errno codes: ENOSPC, EACCES, ECONNREFUSED, EPROTO, …) as one sentence that
 * says what went wrong in words, with the code in parentheses, and what was being done to what:
 *   "disk full (ENOSPC) writing /repo/backups/…/db.dump.zst.age"
 *   "permission denied (EACCES) creating /srv/restore/app"
 *   "cannot connect to https://127.0.0.1:7480: the endpoint does not speak TLS (EPROTO) — is it http?"
 * Never Node's own "ENOSPC: no space left on device, write" (whose code, prefixed once more by a
 * caller, read "ENOSPC: ENOSPC:"). src/errors.ts uses this for every error that carries such a code.
 */

/** The problem in words, by code. */
const REASONS: Record<string, string> = {
  ENOSPC: "disk full",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large for the file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  EMFILE: "too many open files in this process (raise its limit: ulimit -n, or LimitNOFILE= in the unit)",
  ENFILE: "too many open files on this system",
  EIO: "input/output error (a failing disk or a lost network mount)",
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EEXIST: "already exists",
  ENOTEMPTY: "directory not empty",
  EBUSY: "busy",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "name too long",
  EXDEV: "on another file system",
  EBADF: "bad file descriptor",
  EINVAL: "invalid argument",
  ENOMEM: "out of memory",
  ETXTBSY: "text file busy",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the other end",
  ECONNABORTED: "connection aborted",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed for now (DNS)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EPIPE: "the other end closed the connection",
  EPROTO: "the endpoint does not speak TLS",
};

/** What the failed call was doing, by Node's `syscall`. */
const DOING: Record<string, string> = {
  open: "opening",
  write: "writing",
  writev: "writing",
  read: "reading",
  mkdir: "creating",
  mkdtemp: "creating",
  rmdir: "removing",
  rm: "removing",
  unlink: "removing",
  rename: "renaming",
  link: "linking",
  symlink: "creating the symbolic link",
  lstat: "examining",
  stat: "examining",
  fstat: "examining",
  statfs: "examining",
  scandir: "listing",
  opendir: "listing",
  readdir: "listing",
  readlink: "reading the link",
  realpath: "resolving",
  access: "checking",
  utime: "setting the times of",
  futime: "setting the times of",
  lutime: "setting the times of",
  chmod: "setting the mode of",
  fchmod: "setting the mode of",
  chown: "setting the owner of",
  fchown: "setting the owner of",
  lchown: "setting the owner of",
  fsync: "syncing",
  fdatasync: "syncing",
  close: "closing",
  copyfile: "copying",
  ftruncate: "truncating",
  spawn: "starting",
  connect: "connecting to",
  getaddrinfo: "looking up",
  listen: "listening on",
  bind: "binding",
};

/** Codes of the network: "cannot connect to X: reason (CODE)" for the first group, "the connection to X failed: …" for the rest. */
const CONNECT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPROTO"]);
const NETWORK = new Set([...CONNECT, "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE"]);

/** A hint after the sentence, where the code usually means one mistake. */
const HINTS: Record<string, string> = {
  EPROTO: " — is it http?",
};

type SystemError = NodeJS.ErrnoException & { address?: string; port?: number; dest?: string; hostname?: string };

/** Has an errno-style code (E…) that this module can put in words, or at least name. */
export function isSystemError(err: unknown): err is SystemError {
  const code = (err as { code?: unknown } | null)?.code;
  // ERR_… codes are Node's own (streams, arguments), not the system's.
  return typeof code === "string" && /^E[A-Z0-9_]+$/.test(code) && !code.startsWith("ERR_");
}

/** "disk full (ENOSPC)"; an unknown code is Node's own wording, minus its "CODE: " prefix and ", syscall" tail. */
export function systemReason(err: SystemError): string {
  const code = err.code!;
  const known = REASONS[code];
  if (known) return `${known} (${code})`;
  const own = String(err.message ?? "")
    .split("\n")[0]
    .replace(new RegExp(`^(\\w+ )?${code}:?\\s*`), "")
    .replace(/, \w+ .*$|, \w+$/, "")
    .trim();
  return own ? `${own} (${code})` : code;
}

/** The reason in words for any error: "permission denied (EACCES)", or its own first line. */
export function reasonOf(err: unknown): string {
  if (isSystemError(err)) return systemReason(err);
  return String((err as Error)?.message ?? err).split("\n")[0];
}

/** Is the code one of the network's (refused, reset, timed out, not TLS, …)? */
export function isNetworkError(err: unknown): boolean {
  return isSystemError(err) && NETWORK.has(err.code!);
}

/**
 * One sentence for a system error. `path` names the file or directory when the error does not
 * (a write on an open file has no path), or a better one (the object, not its temporary file);
 * `doing` overrides the verb; `endpoint` names what a network error failed to reach.
 */
export function describeSystemError(
  err: SystemError,
  o: { path?: string; doing?: string; endpoint?: string } = {},
): string {
  const code = err.code!;
  const reason = systemReason(err);
  if (NETWORK.has(code) || err.syscall === "connect" || err.syscall === "getaddrinfo") {
    const target = o.endpoint ?? (err.address ? `${err.address}${err.port ? `:${err.port}` : ""}` : err.hostname);
    const lead =
      CONNECT.has(code) || err.syscall === "connect" || err.syscall === "getaddrinfo"
        ? `cannot connect to ${target}`
        : `the connection to ${target} failed`;
    return target ? `${lead}: ${reason}${HINTS[code] ?? ""}` : `${reason}${HINTS[code] ?? ""}`;
  }
  const doing = o.doing ?? (err.syscall ? (DOING[err.syscall] ?? err.syscall) : undefined);
  const path = o.path ?? err.path;
  const to = !o.path && err.dest ? ` to ${err.dest}` : "";
  return [reason, doing, path && `${path}${to}`].filter(Boolean).join(" ") + (HINTS[code] ?? "");
}

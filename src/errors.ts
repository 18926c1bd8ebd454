import { describeSystemError, isSystemError } from "./system-error.js";

/** Every failure strongbox reports on purpose is a StrongboxError; its code decides the exit code. */
/** REFUSED: a safety check stopped the run (prune's max_delete_share); exit 1, like any failed run. */
/**
 * RECOVERY_STOP: `wal fetch` (PostgreSQL's restore_command) failed for any reason other than "not
 * archived". PostgreSQL takes an exit status up to 125 for the end of the archive and would end
 * recovery there (promoting early, without the WAL after it); above 125 it stops recovery instead.
 */
/** PARTIAL: a backup was committed, but a source left unreadable paths out (on_unreadable: partial); exit 4. */
export type ErrorCode =
  | "USAGE"
  | "CONFIG"
  | "SOURCE"
  | "STORE"
  | "CRYPTO"
  | "VERIFY"
  | "LOCKED"
  | "NOT_FOUND"
  | "INTERRUPTED"
  | "REFUSED"
  | "PARTIAL"
  | "RECOVERY_STOP";

export class StrongboxError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StrongboxError";
  }
}

/** A config or schedule file with one or more problems; each issue names its path. */
export class ConfigError extends StrongboxError {
  constructor(readonly issues: string[]) {
    super("CONFIG", issues.length === 1 ? issues[0] : `${issues.length} problems:\n  ${issues.join("\n  ")}`);
  }
}

export class NotFoundError extends StrongboxError {
  constructor(readonly key: string) {
    super("NOT_FOUND", `object not found: ${key}`);
  }
}

/** A run stopped on SIGINT/SIGTERM after cleaning up; exits 128 + the signal's number, as shells expect. */
export class InterruptedError extends StrongboxError {
  constructor(
    readonly signal: "SIGINT" | "SIGTERM",
    message: string,
  ) {
    super("INTERRUPTED", message);
  }
}

/**
 * PARTIAL (4): the backup is committed and restorable, but holds less than the sources (paths that
 * could not be read were left out, as on_unreadable: partial allows). Not 0: nobody looks again at
 * a success; not 1: a failure means nothing new was stored for the source, and a partial run did store it.
 */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, VERIFY: 3, PARTIAL: 4, RECOVERY_STOP: 255 } as const;

/** The one place that maps errors to exit codes (docs/architecture.md, "Errors and exit codes"). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof StrongboxError) {
    switch (err.code) {
      case "USAGE":
      case "CONFIG":
        return EXIT.USAGE;
      case "VERIFY":
        return EXIT.VERIFY;
      case "PARTIAL":
        return EXIT.PARTIAL;
      case "RECOVERY_STOP":
        return EXIT.RECOVERY_STOP;
      case "INTERRUPTED":
        return (err as InterruptedError).signal === "SIGINT" ? 130 : 143;
      default:
        return EXIT.FAILED;
    }
  }
  return EXIT.FAILED;
}

/**
 * A one-line (or, for config errors, one line per problem) description, never a stack trace. A
 * system error (errno code) is one sentence of what was done to what (src/system-error.ts).
 */
export function describeError(err: unknown): string {
  if (err instanceof StrongboxError) return err.message;
  if (isSystemError(err)) return describeSystemError(err);
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message.split("\n")[0];
    return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(err);
}

/** Wrap low-level errors (fs, network) into a StrongboxError with context, keeping our own errors as they are. */
export function wrapError(err: unknown, code: ErrorCode, context: string): StrongboxError {
  if (err instanceof StrongboxError) return err;
  return new StrongboxError(code, `${context}: ${describeError(err)}`, { cause: err });
}

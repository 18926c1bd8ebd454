import { writeSync } from "node:fs";
import { redact } from "./secrets.js";

/** What a failed run adds to its one JSON document. */
export interface JsonFailure {
  /** The one-line message (stderr carries the same line for people). */
  error: string;
  /** The StrongboxError code (USAGE, CONFIG, VERIFY, STORE, INTERRUPTED, …), "INTERNAL" for anything else. */
  error_code: string;
  exit_code: number;
}

/**
 * --json: exactly ONE JSON document on stdout, whatever way the run ends (success, failure, usage
 * or config error, interrupt, forced exit). Commands hand their result in (CommandContext.print);
 * nothing is written until the run ends, when the CLI (or hardExit) writes the one document:
 * - success: the result as the command gave it (`{"ok":true}` when it gave none);
 * - failure after a result: the result with `ok: false`, `error`, `error_code` and `exit_code`
 *   added (an array result goes under `result`), so verdicts and the reason sit side by side;
 * - failure before any result: `{"ok":false,"error":…,"error_code":…,"exit_code":…}`.
 */
export class JsonOutput {
  enabled = false;
  private result: { doc: unknown } | undefined;
  private written = false;

  constructor(private readonly fd = 1) {}

  /** A command's result; a later one (a daemon's next job) replaces it. */
  set(doc: unknown): void {
    this.result = { doc };
  }

  /** The one document this run ends with. */
  document(failure?: JsonFailure): unknown {
    const doc = this.result?.doc;
    if (!failure) return this.result ? doc : { ok: true };
    const fields = { ok: false, ...failure };
    if (doc && typeof doc === "object" && !Array.isArray(doc)) return { ...doc, ...fields };
    return this.result ? { ...fields, result: doc } : fields;
  }

  /** Writes the document once (synchronously: it must be out before a forced exit); later calls do nothing. */
  finish(failure?: JsonFailure): void {
    if (!this.enabled || this.written) return;
    this.written = true;
    const text = redact(JSON.stringify(this.document(failure), null, 2)) + "\n";
    const buf = Buffer.from(text);
    for (let off = 0; off < buf.length;) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (err) {
        // A non-blocking pipe that is full: try again; anything else (EPIPE: nobody reads) ends it.
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return;
      }
    }
  }
}

/** The process's one --json channel (one command per process). */
export const jsonOutput = new JsonOutput();

import { describeError, InterruptedError } from "../errors.js";
import { hardExit } from "../hard-exit.js";
import type { Logger } from "../log.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";

/** `timeout`, a terminal's Ctrl-C and process-group kills deliver one request as several signals at once. */
export const SIGNAL_DEBOUNCE_MS = 1000;
/** A job that has not unwound this long after the request (it ignores its signal) is ended anyway. */
export const UNWIND_MS = 30_000;

/**
 * Runs a job with an AbortSignal that fires on SIGINT/SIGTERM, so the job can tear down cleanly
 * (lock released, upload aborted, temp files removed, no complete.json) and exit 130/143.
 * Signals within a second of the first are the same request; a later one exits at once.
 */
export async function withInterrupt<T>(log: Logger, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let first: { sig: "SIGINT" | "SIGTERM"; at: number } | undefined;
  let backstop: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    const s = sig === "SIGINT" ? "SIGINT" : "SIGTERM";
    if (!first) {
      first = { sig: s, at: Date.now() };
      log.warn(`${sig} received: stopping cleanly (send it again to exit at once)`);
      killRunningChildren(); // pg_dump / pg_restore: their own transaction is rolled back
      ac.abort(new InterruptedError(s, `interrupted by ${sig}`));
      backstop = setTimeout(() => {
        log.error(`still running ${UNWIND_MS / 1000} s after ${sig}: exiting; leftovers are cleaned by the next run`);
        hardExit(s === "SIGINT" ? 130 : 143, `interrupted by ${sig}: still running ${UNWIND_MS / 1000} s later, exited at once`);
      }, UNWIND_MS);
      backstop.unref();
      return;
    }
    if (Date.now() - first.at < SIGNAL_DEBOUNCE_MS) return;
    log.error(`${sig} received again: exiting at once; leftovers are cleaned by the next run`);
    hardExit(s === "SIGINT" ? 130 : 143, `interrupted by ${sig} twice: exited at once`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await job(ac.signal);
  } catch (err) {
    if (first && !(err instanceof InterruptedError)) throw new InterruptedError(first.sig, `interrupted by ${first.sig}: stopped cleanly (${describeError(err)})`);
    throw err;
  } finally {
    clearTimeout(backstop);
    // Once stopping, the handler stays until exit: a late signal of the same burst must not kill the
    // process by default action while it winds down, and a later one still ends it at once.
    if (!first) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}

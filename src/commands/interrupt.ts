import { describeError, InterruptedError } from "../errors.js";
import { hardExit } from "../hard-exit.js";
import type { Logger } from "../log.js";

/** `timeout`, a terminal's Ctrl-C and process-group kills deliver one request as several signals at once. */
export const SIGNAL_DEBOUNCE_MS = 1000;

/**
 * Runs a job with an AbortSignal that fires on SIGINT/SIGTERM, so the job can tear down cleanly
 * (lock released, upload aborted, temp files removed, no complete.json) and exit 130/143.
 * Signals within a second of the first are the same request; a later one exits at once.
 */
export async function withInterrupt<T>(log: Logger, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let first: { sig: "SIGINT" | "SIGTERM"; at: number } | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    const s = sig === "SIGINT" ? "SIGINT" : "SIGTERM";
    if (!first) {
      first = { sig: s, at: Date.now() };
      log.warn(`${sig} received: stopping cleanly (send it again to exit at once)`);
      ac.abort(new InterruptedError(s, `interrupted by ${sig}`));
      return;
    }
    if (Date.now() - first.at < SIGNAL_DEBOUNCE_MS) return;
    log.error(`${sig} received again: exiting at once; leftovers are cleaned by the next run`);
    hardExit(s === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await job(ac.signal);
  } catch (err) {
    if (first && !(err instanceof InterruptedError)) throw new InterruptedError(first.sig, `interrupted by ${first.sig}: stopped cleanly (${describeError(err)})`);
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

import { describeError, InterruptedError } from "../errors.js";
import { hardExit } from "../hard-exit.js";
import type { Logger } from "../log.js";
import { killRunningChildren } from "../sources/postgres/child-stream.js";
import { failUnfinishedJobs, hasUnfinishedJobs } from "./job.js";

/** `timeout`, a terminal's Ctrl-C and process-group kills deliver one request as several signals at once. */
export const SIGNAL_DEBOUNCE_MS = 1000;
/** A job that has not unwound this long after the request (it ignores its signal) is ended anyway. */
export const UNWIND_MS = 30_000;

export type StopSignal = "SIGINT" | "SIGTERM";
/** 128 + the signal's number, as shells expect. */
export const exitCodeOf = (sig: StopSignal): number => (sig === "SIGINT" ? 130 : 143);

export interface StopSignals {
  /** The signal of the stop request, once one came. */
  requested(): StopSignal | undefined;
  /** Stops listening, unless a stop was requested (see onStopSignals). */
  release(): void;
}

/**
 * The one SIGINT/SIGTERM listener of every command and of the daemon: `first` on the first signal;
 * signals within SIGNAL_DEBOUNCE_MS of it are the same request; a later one calls `again`.
 * Once a stop was requested the listener stays until exit, even after release(): a late signal of
 * the same burst must not kill the process by default action while it winds down, and a later one
 * still reaches `again`.
 */
export function onStopSignals(first: (sig: StopSignal) => void, again: (sig: StopSignal) => void): StopSignals {
  let request: { sig: StopSignal; at: number } | undefined;
  const handler = (raw: NodeJS.Signals) => {
    const sig: StopSignal = raw === "SIGINT" ? "SIGINT" : "SIGTERM";
    if (!request) {
      request = { sig, at: Date.now() };
      first(sig);
    } else if (Date.now() - request.at >= SIGNAL_DEBOUNCE_MS) {
      again(sig);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    requested: () => request?.sig,
    release: () => {
      if (request) return;
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

/** How a command stops on SIGINT/SIGTERM (all optional: a plain clean stop by default). */
export interface InterruptOptions {
  /** Names the stop: "drill" makes "drill interrupted by SIGTERM"; none makes "interrupted by SIGTERM". */
  what?: string;
  /** What the first signal's warning says is being done ("stopping cleanly" by default). */
  stopping?: string;
  /** Time the job gets to unwind by itself before the process exits anyway (UNWIND_MS by default). */
  unwindMs?: number;
  /** Run before that forced exit: what the job would have removed had it unwound (a drill's scratch space). */
  cleanup?: () => Promise<unknown>;
}

/**
 * Exits with the signal's code now, as the job did not stop by itself: `cleanup` first (if any), and the
 * job still running gets its failure audit line and notification (within `ms`) before the exit.
 */
function forcedExit(
  sig: StopSignal,
  reason: string,
  why: string,
  o: { cleanup?: () => Promise<unknown>; ms?: number },
) {
  if (!o.cleanup && !hasUnfinishedJobs()) hardExit(exitCodeOf(sig), why);
  void (o.cleanup ?? (async () => {}))()
    .catch(() => {})
    .then(() => failUnfinishedJobs(reason, o.ms))
    .finally(() => hardExit(exitCodeOf(sig), why));
}

/**
 * Runs a job with an AbortSignal that fires on SIGINT/SIGTERM, so the job can tear down cleanly
 * (lock released, upload aborted, temp files removed, no complete.json) and exit 130/143.
 * Signals within a second of the first are the same request; a later one exits at once (the
 * running job is still audited and notified as failed). A job that has not unwound `unwindMs`
 * after the request is ended the same way, after `cleanup`.
 */
export async function withInterrupt<T>(
  log: Logger,
  job: (signal: AbortSignal) => Promise<T>,
  o: InterruptOptions = {},
): Promise<T> {
  const ac = new AbortController();
  const unwindMs = o.unwindMs ?? UNWIND_MS;
  const interrupted = (sig: StopSignal) => `${o.what ? `${o.what} ` : ""}interrupted by ${sig}`;
  let backstop: NodeJS.Timeout | undefined;
  const signals = onStopSignals(
    (sig) => {
      log.warn(`${sig} received: ${o.stopping ?? "stopping cleanly"} (send it again to exit at once)`);
      killRunningChildren(); // pg_dump / pg_restore: their own transaction is rolled back
      ac.abort(new InterruptedError(sig, interrupted(sig)));
      backstop = setTimeout(() => {
        log.error(`still running ${unwindMs / 1000} s after ${sig}: exiting; leftovers are cleaned by the next run`);
        const why = `${interrupted(sig)}: still running ${unwindMs / 1000} s later, exited at once`;
        forcedExit(sig, interrupted(sig), why, { cleanup: o.cleanup });
      }, unwindMs);
      backstop.unref();
    },
    (sig) => {
      log.error(`${sig} received again: exiting at once; leftovers are cleaned by the next run`);
      forcedExit(sig, interrupted(sig), `${interrupted(sig)} twice: exited at once`, { ms: 3000 });
    },
  );
  try {
    return await job(ac.signal);
  } catch (err) {
    const first = signals.requested();
    if (first && !(err instanceof InterruptedError))
      throw new InterruptedError(first, `${interrupted(first)}: stopped cleanly (${describeError(err)})`);
    throw err;
  } finally {
    clearTimeout(backstop);
    signals.release();
  }
}

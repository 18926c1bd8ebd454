import type { Logger } from "../log.js";

/**
 * Runs a job with an AbortSignal that fires on SIGINT/SIGTERM, so the job can tear down cleanly
 * (abort the upload, leave no complete.json). A second signal exits at once.
 */
export async function withInterrupt<T>(log: Logger, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(130);
    log.warn(`${sig} received: stopping (press again to exit at once)`);
    ac.abort(new Error(`interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await job(ac.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

import { setTimeout as sleep } from "node:timers/promises";

/** Errors worth another attempt: 5xx, throttling, timeouts and dropped connections — never 4xx auth errors. */
export function isTransient(err: unknown): boolean {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
    transient?: boolean;
  };
  if (e?.transient !== undefined) return e.transient;
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name ?? "";
  // S3 answers a body it waited too long for with 400 RequestTimeout; that one is worth another try.
  if (name === "RequestTimeout") return true;
  if (status !== undefined && status >= 400 && status < 500) return status === 429 || status === 408;
  if (status !== undefined && status >= 500) return true;
  if (e?.$retryable) return true;
  const code = e?.code ?? "";
  return (
    [
      "ECONNRESET",
      "ETIMEDOUT",
      "EPIPE",
      "ECONNABORTED",
      "EAI_AGAIN",
      "ECONNREFUSED",
      "ENETUNREACH",
      "EHOSTUNREACH",
      "UND_ERR_SOCKET",
    ].includes(code) ||
    ["TimeoutError", "RequestTimeTooSkewed", "SlowDown", "InternalError", "ServiceUnavailable"].includes(name) ||
    // Node's own words for a response cut short ("aborted", "socket hang up"): the connection died mid-exchange.
    /^(aborted|socket hang up)$/.test(e?.message ?? "")
  );
}

export interface RetryBudget {
  /** Attempts in all, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * 9 attempts, delays doubling from 0.5 s up to 20 s with jitter: a failing server is given 36–72 s
 * (plus each attempt's own time) to come back before the job gives up — long enough for a gateway
 * restart or a throttling burst, short enough that a dead endpoint fails a nightly job quickly.
 */
export const DEFAULT_RETRY: RetryBudget = { attempts: 9, baseDelayMs: 500, maxDelayMs: 20_000 };

export interface RetryOptions extends Partial<RetryBudget> {
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** The delay before attempt `attempt + 1`: exponential, capped, "equal jitter" (half fixed, half random) so the horizon stays meaningful. */
export function backoffDelay(attempt: number, base: number, max: number, rand: () => number = Math.random): number {
  const d = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(d / 2 + rand() * (d / 2));
}

/** Runs fn until it succeeds, fails with a non-transient error, or runs out of attempts. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, o.attempts ?? DEFAULT_RETRY.attempts);
  const base = o.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = o.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !isTransient(err) || o.signal?.aborted) {
        if (attempt > 1 && err && typeof err === "object") (err as { attempts?: number }).attempts = attempt;
        throw err;
      }
      const delay = backoffDelay(attempt, base, max);
      o.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, { signal: o.signal });
    }
  }
}

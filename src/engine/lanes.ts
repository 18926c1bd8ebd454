import { availableParallelism } from "node:os";

/** How many sources a backup, restore or verify runs at once: STRONGBOX_SOURCE_CONCURRENCY, else 2 (1 on a single core). */
export function sourceConcurrency(): number {
  const n = Number(process.env.STRONGBOX_SOURCE_CONCURRENCY ?? NaN);
  if (Number.isInteger(n) && n >= 1) return Math.min(n, 16);
  return availableParallelism() > 1 ? 2 : 1;
}

/**
 * Runs `fn` on every item, up to `lanes` at once, started in order; results come back in item order.
 * The first failure aborts the signal the others were given (as an interrupt of `outer` does) and
 * is thrown once every started item has ended: nothing is left running. `onFailure` sees the
 * results of the items that did finish, to release what they hold.
 */
export async function inLanes<T, R>(
  items: readonly T[],
  lanes: number,
  outer: AbortSignal | undefined,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  onFailure?: (finished: (R | undefined)[]) => void,
): Promise<R[]> {
  const inner = new AbortController();
  const onOuterAbort = () => inner.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  let failure: { err: unknown } | undefined;
  const results: (R | undefined)[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length && !inner.signal.aborted) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i, inner.signal);
      } catch (err) {
        failure ??= { err };
        inner.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane));
  } finally {
    outer?.removeEventListener("abort", onOuterAbort);
  }
  if (failure) {
    onFailure?.(results);
    throw failure.err;
  }
  if (inner.signal.aborted) throw outer?.reason ?? new Error("aborted");
  return results as R[];
}

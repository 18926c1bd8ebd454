/**
 * Polls `f` every 50 ms until it returns something truthy (a throw counts as not yet); fails after `ms`,
 * with `what` (a string, or a function asked then, e.g. for a child's log) in the error.
 */
export async function until<T>(
  f: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 60_000,
  what?: string | (() => string),
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(f)
      .catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) {
      let detail: string | undefined;
      try {
        detail = typeof what === "function" ? what() : what;
      } catch (err) {
        detail = `(its description failed: ${(err as Error).message})`;
      }
      throw new Error(detail ? `timed out waiting for ${detail}` : "timed out waiting");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

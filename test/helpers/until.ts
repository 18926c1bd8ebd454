/** Polls `f` every 50 ms until it returns something truthy (a throw counts as not yet); fails after `ms`. */
export async function until<T>(
  f: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(f)
      .catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

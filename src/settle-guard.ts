/**
 * Fails the process if the event loop runs dry while `work` is still pending: a stalled stream (one
 * nobody reads, a promise nobody resolves) would otherwise let node exit 0 having checked nothing.
 */
export function guardUnsettled(
  work: Promise<unknown>,
  write: (line: string) => void = (l) => process.stderr.write(l),
): void {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  work.then(mark, mark);
  process.on("beforeExit", () => {
    if (settled) return;
    settled = true;
    write(
      "strongbox: internal error: the command stopped with work still pending (a stalled stream or promise), so its outcome is unknown: treat it as failed\n",
    );
    process.exitCode = 1;
  });
}

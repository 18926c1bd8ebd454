/**
 * Fails the process if the event loop empties while `work` is still pending: a stalled stream
 * would otherwise let node exit 0 having checked nothing.
 */
export function guardUnsettled(work: Promise<unknown>, write: (line: string) => void = (l) => process.stderr.write(l)): void {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  work.then(mark, mark);
  process.once("beforeExit", () => {
    if (settled) return;
    write("strongbox: internal error: the command stopped with work still pending (a stream stalled); nothing was completed\n");
    process.exitCode = 1;
  });
}

// Runs in every test file (vitest setupFiles): a worker fork ends once the run that started it has ended.
// A run stopped by Ctrl-C or SIGTERM ends vitest's main process, but a fork can outlive it: a command run
// in-process (run-in-process.ts) handles SIGINT itself, so the fork went on with its tests against
// services that were gone, and vitest's error reporting, with no channel left to report on, then spun
// a core and grew by ~10 MB/s. The fork's channel to the run closing is the sign: the fork is killed at
// once (no test code runs after it). What its tests had started is the reaper's (service-reaper.ts).
const once = Symbol.for("strongbox.die-with-run"); // test:unit runs many files in one fork
if (process.send && !(globalThis as Record<symbol, unknown>)[once]) {
  (globalThis as Record<symbol, unknown>)[once] = true;
  const end = () => process.kill(process.pid, "SIGKILL");
  process.once("disconnect", end);
  // In case the event is missed (a fork busy when the channel closed still gets here between tasks).
  setInterval(() => process.connected || end(), 1000).unref();
}

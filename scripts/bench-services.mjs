// The services a bench run starts (PostgreSQL, Ceph) are daemons, and the bench runs synchronously:
// stopped by Ctrl-C, kill or SIGKILL, it runs no `finally` and no signal handler. So each service has
// a watchdog, a detached shell that stops it once the bench's process is gone; a normal stop ends the
// watchdog first.
import { execFileSync, spawn } from "node:child_process";
import { resolve } from "node:path";

/** Runs `test/services/<script> start <dir> …args`, and returns the function that stops it (once). */
export function startService(script, dir, ...args) {
  const path = resolve("test/services", script);
  const watchdog = spawn(
    "sh",
    [
      "-c",
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop "$3"',
      "watchdog",
      String(process.pid),
      path,
      dir,
    ],
    { detached: true, stdio: "ignore" },
  );
  watchdog.unref();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(watchdog.pid);
    } catch {
      // already gone
    }
    execFileSync(path, ["stop", dir], { stdio: "ignore" });
  };
  try {
    execFileSync(path, ["start", dir, ...args], { stdio: "ignore" });
  } catch (err) {
    try {
      stop();
    } catch {
      // the start's own error is the one to report
    }
    throw err;
  }
  return stop;
}

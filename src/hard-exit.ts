import { spawn } from "node:child_process";
import { jsonOutput } from "./json-output.js";

/** Started as the process exits: kills it if it is still there after 3 s. */
export function exitWatchdog(): void {
  try {
    spawn("sh", ["-c", `sleep 3; kill -9 ${process.pid} 2>/dev/null`], {
      detached: true,
      stdio: "ignore",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    }).unref();
  } catch {
    // no shell: plain exit, which works unless a thread is stuck
  }
}

/**
 * process.exit, even when a thread of libuv's pool is blocked for good (a hung NFS mount, a FIFO):
 * exit waits to join those threads, so a detached watchdog, started once the 'exit' handlers
 * (lock release) have run, kills the process if it is still there.
 */
export function hardExit(code: number, why = `stopped at once (exit ${code})`): never {
  // --json: the run's one document goes out even on this path.
  jsonOutput.finish(
    code === 0 ? undefined : { error: why, error_code: code >= 128 ? "INTERRUPTED" : "FAILED", exit_code: code },
  );
  process.once("exit", exitWatchdog);
  process.exit(code);
}

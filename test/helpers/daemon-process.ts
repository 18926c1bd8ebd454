import { spawn } from "node:child_process";
import { BIN } from "./cli.js";

/** `strongbox daemon` as a real process with a minimal environment; `stop()` sends SIGTERM and resolves with its exit code. */
export function startDaemon(config: string, schedule: string) {
  const child = spawn(process.execPath, [BIN, "-c", config, "daemon", "--schedule", schedule], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return {
    log: () => log,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

import { spawn } from "node:child_process";
import { BIN, type CliResult } from "./cli.js";

export interface Measured extends CliResult {
  seconds: number;
  /** Peak resident set size of the CLI process, in MB (GNU time's %M). */
  peakMb: number;
}

/** Runs the built CLI under GNU time and reports its wall time and peak RSS. */
export function runMeasured(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn("/usr/bin/time", ["-f", "@@peak-kb %M", process.execPath, BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const m = /@@peak-kb (\d+)\s*$/.exec(stderr);
      if (!m) return reject(new Error(`no peak RSS from GNU time: ${stderr.slice(-500)}`));
      resolve({ code: code ?? -1, stdout, stderr: stderr.slice(0, m.index), seconds: (Date.now() - t0) / 1000, peakMb: Number(m[1]) / 1024 });
    });
  });
}

import { BIN, runCollect, type CliResult } from "./cli.js";

export interface Measured extends CliResult {
  seconds: number;
  /** Peak resident set size of the CLI process, in MB (GNU time's %M). */
  peakMb: number;
  /** CPU time of the CLI process and its children, user + system (GNU time's %U + %S): unlike `seconds`, not stretched by a busy machine. */
  cpuSeconds: number;
}

/** Runs the built CLI under GNU time and reports its wall time and peak RSS. */
export async function runMeasured(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<Measured> {
  const t0 = Date.now();
  const r = await runCollect("/usr/bin/time", ["-f", "@@peak-kb %M cpu %U %S", process.execPath, BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, ...o.env },
  });
  const m = /@@peak-kb (\d+) cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`no peak RSS from GNU time: ${r.stderr.slice(-500)}`);
  return {
    ...r,
    stderr: r.stderr.slice(0, m.index),
    seconds: (Date.now() - t0) / 1000,
    peakMb: Number(m[1]) / 1024,
    cpuSeconds: Number(m[2]) + Number(m[3]),
  };
}

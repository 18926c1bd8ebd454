// CPU hogs, to run tests on a machine whose cores are busy: N child processes, each a shell busy loop.
// They are always killed at the end: by stop(), when this process exits, and (run as a program, as
// scripts/test-under-load.sh does: `node test/helpers/cpu-hog.ts N`) on SIGINT/SIGTERM or when the
// program's parent goes away; and a loop ends by itself once this process is gone (SIGKILL). Only node: imports, so that Node runs this file as it is.
import { spawn, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";

export interface CpuHogs {
  readonly pids: number[];
  /** Kills every hog and resolves once all have exited. */
  stop(): Promise<void>;
}

const ended = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

/**
 * One core's busy loop, which also ends by itself once the process that started it is gone (looked at
 * every 200,000 turns, a fraction of a second): a hog's owner killed with SIGKILL runs no handler.
 */
const BUSY_LOOP =
  'p=$PPID; i=0; while :; do i=$((i + 1)); if [ $i -ge 200000 ]; then i=0; kill -0 "$p" 2>/dev/null || exit 0; fi; done';

export function startCpuHogs(n: number = availableParallelism()): CpuHogs {
  const children = Array.from({ length: n }, () => spawn("sh", ["-c", BUSY_LOOP], { stdio: "ignore" }));
  const killAll = () => children.forEach((c) => ended(c) || c.kill("SIGKILL"));
  process.on("exit", killAll);
  return {
    pids: children.map((c) => c.pid!),
    async stop() {
      killAll();
      await Promise.all(children.map((c) => (ended(c) ? undefined : new Promise((r) => c.once("exit", r)))));
      process.off("exit", killAll);
    },
  };
}

/** `node test/helpers/cpu-hog.ts [N]`: N hogs (default: one per core) until a signal or until the parent is gone. */
async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? availableParallelism());
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new Error(`cpu-hog: N must be a whole number from 1 to 64, not ${process.argv[2]}`);
  // Read before the pids are printed: whoever reads them may kill the parent at once, and a parent
  // read afterwards would already be the new one (init), so its loss would never be seen.
  const parent = process.ppid;
  const hogs = startCpuHogs(n);
  // The signals are caught before the pids are printed: whoever reads them may signal at once.
  const ended = new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => resolve());
    const watch = setInterval(() => process.ppid !== parent && resolve(), 250);
    watch.unref();
    setInterval(() => {}, 60_000); // keeps the program alive until one of the above
  });
  console.log(`cpu-hog: ${n} busy loop(s), pids ${hogs.pids.join(" ")}`);
  await ended;
  await hogs.stop();
  process.exit(0);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(2);
  });
}

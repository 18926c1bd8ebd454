// The last guard of the suite's throwaway services, in a process of its own that outlives the test run.
// A run stopped by a signal does not get to its teardown, and not even to the global setup's own signal
// and "exit" handlers: vitest's SIGINT/SIGTERM handler ends the process first. Ceph and PostgreSQL,
// which fork away, then kept running. This program is started (detached, in its own session, so the
// terminal's Ctrl-C does not reach it) by the global setup (started-services.ts), reads the services' directories on stdin,
// one per line, and when stdin ends, which is when the run's process has ended in any way, SIGKILL
// included, stops every process still using them and removes them. After a normal teardown there is
// nothing left, and it exits at once. A line "+FILE" names a file listing more directories, one per line:
// the temp dirs the test files made (temp-dir.ts), read at the sweep. Only node: imports and a helper that has only those, so that
// Node runs this file as it is: `node test/helpers/service-reaper.ts`.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { stopProcessesUsing } from "./service-processes.ts";

const dirs: string[] = [];
const lists: string[] = [];
let pending = "";

/** The directories the lists name that still exist: those of files that did not get to clean up. */
function listed(): string[] {
  const found = new Set<string>();
  for (const list of lists) {
    let text = "";
    try {
      text = readFileSync(list, "utf8");
    } catch {
      continue; // removed by a normal teardown
    }
    // Only the suite's own temp dirs (tempDir names them strongbox-*), whatever else the file says.
    for (const dir of text.split("\n")) if (/^\/.+\/strongbox-[^/]+$/.test(dir) && existsSync(dir)) found.add(dir);
  }
  return [...found];
}
let swept = false;

/** Stops every process using `dir` and removes it; says so (and goes on) when it cannot. */
async function reap(dir: string): Promise<void> {
  try {
    const left = await stopProcessesUsing(dir, { termMs: 5000 });
    if (left.length) console.error(`service-reaper: processes of ${dir} outlived SIGKILL: ${left.join(", ")}`);
    else rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.error(`service-reaper: ${dir}: ${(e as Error).message}`); // and on to the next directory
  }
}

async function sweep(): Promise<void> {
  if (swept) return;
  swept = true;
  // The test files' dirs first (their PostgreSQL servers, daemons and commands), read again until no new
  // one shows (a fork still busy at the first read may list more), then the services' (the list's own
  // directory among them).
  const done = new Set<string>();
  for (let next = listed(); next.length; next = listed().filter((d) => !done.has(d)))
    for (const dir of next) {
      done.add(dir);
      await reap(dir);
    }
  for (const dir of dirs) await reap(dir);
  process.exit(0);
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const dir = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (dir.startsWith("+/")) lists.push(dir.slice(1));
    else if (dir.startsWith("/") && dir.length > 1) dirs.push(dir);
  }
});
process.stdin.once("end", () => void sweep());
process.stdin.once("close", () => void sweep());
process.stdin.once("error", () => void sweep());

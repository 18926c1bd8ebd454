// The processes of a throwaway test service (Ceph, PostgreSQL), found by the directory it runs in, and
// stopping them for good. Ceph's daemons fork away from whoever started them (their parent is init), and
// a pid file may not be written yet when a start fails half-way, so neither process groups nor pid files
// find them all: every one of them names its directory instead.
//   Ceph: `ceph-mon -c DIR/ceph.conf …` (and the start script, `ceph-rgw.sh start DIR …`);
//   PostgreSQL: `postgres -D DIR/data …`, and its children (renamed `postgres: checkpointer`) run in DIR/data.
// Only processes naming that directory are touched: other suites on the same machine keep theirs.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
/** An argument naming `dir` or a path in it, alone or after an option (`--pwfile=DIR/pw`). */
const names = (arg: string, dir: string) => arg.includes(`${dir}/`) || arg.endsWith(dir);

/** A process's state letter from /proc/<pid>/stat (R running, S sleeping, Z zombie…); "" once it is gone. */
export function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.charAt(stat.lastIndexOf(")") + 2);
  } catch {
    return "";
  }
}

/** Whether a process still runs (a zombie has ended: it only waits to be reaped). */
export const running = (pid: number): boolean => !["", "Z", "X"].includes(processState(pid));

/** The running processes (not this one) whose arguments or working directory lie in `dir`. */
export function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!/^\d+$/.test(name) || pid === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // another user's process, or gone
      }
      if ((args.some((a) => names(a, dir)) || inside(cwd, dir)) && running(pid)) found.push(pid);
    } catch {
      // ended while we looked
    }
  }
  return found;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** Polls until no process uses `dir` or `ms` have passed; true when none is left. */
async function goneWithin(dir: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (processesUsing(dir).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface StopBounds {
  /** How long SIGTERM gets before SIGKILL. */
  termMs?: number;
  /** How long SIGKILL gets before the survivors are reported. */
  killMs?: number;
}

/**
 * Stops every process using `dir`: SIGTERM, a bounded wait until they are gone, then SIGKILL to what is
 * left (again, for a daemon that forked meanwhile) and a second bounded wait. Returns the survivors' pids
 * (none, unless the kernel could not end them).
 */
export async function stopProcessesUsing(dir: string, o: StopBounds = {}): Promise<number[]> {
  signalAll(processesUsing(dir), "SIGTERM");
  if (await goneWithin(dir, o.termMs ?? 15_000)) return [];
  const killDeadline = Date.now() + (o.killMs ?? 10_000);
  do {
    signalAll(processesUsing(dir), "SIGKILL");
    if (await goneWithin(dir, 500)) return [];
  } while (Date.now() < killDeadline);
  return processesUsing(dir);
}

/** SIGKILL to every process using `dir`, without waiting: the last resort when this process exits. */
export function killProcessesUsingNow(dir: string): void {
  signalAll(processesUsing(dir), "SIGKILL");
}

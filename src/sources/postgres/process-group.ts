import type { ChildProcess } from "node:child_process";

/**
 * A tool that forks workers (pg_restore --jobs) must not outlive strongbox: PR_SET_PDEATHSIG reaches
 * only the process it is set on, and a worker of a killed leader finishes its current item (and keeps
 * its database session) before it notices. So the tool runs in a process group of its own under this
 * shell, beside a watcher that blocks on a pipe from strongbox (the shell's stdin, kept as fd 9): when
 * the pipe closes — strongbox exited, however it died — the watcher SIGKILLs the whole group,
 * workers included. The shell exits with the tool's status; strongbox then closes the pipe, and the
 * watcher takes down anything of the group still left.
 */
const WRAPPER =
  'exec 9<&0; "$@" 9<&- </dev/null & p=$!; ( cat <&9 >/dev/null 2>&1; kill -s KILL 0 ) </dev/null >/dev/null 2>&1 & exec 9<&-; wait $p';

/** The command and arguments that run `path args` in its own process group, dying with strongbox (spawn it with detached: true, stdin a pipe). */
export function inGroupDyingWithUs(path: string, args: string[]): [string, string[]] {
  return ["/bin/sh", ["-c", WRAPPER, "strongbox-group", path, ...args]];
}

/** Children started with inGroupDyingWithUs: stopped as a group. */
const groups = new WeakSet<ChildProcess>();

/** Marks a spawned group child: its stdin (the watcher's pipe) closes once it exited. */
export function adoptGroup(child: ChildProcess): void {
  groups.add(child);
  child.once("exit", () => child.stdin?.destroy());
}

/** SIGTERM to the child, or to its whole process group when it has one. */
export function terminate(child: ChildProcess): void {
  if (groups.has(child) && child.pid) {
    try {
      process.kill(-child.pid, "SIGTERM");
      return;
    } catch {
      // the group is gone already
    }
  }
  child.kill("SIGTERM");
}

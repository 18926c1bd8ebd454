// The services the global setup started, and how they are stopped (test/helpers/global-setup.ts). A module
// of its own, without the S3 client's imports, so that test/services/teardown.test.ts's child runs load fast.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killProcessesUsingNow, stopProcessesUsing } from "./service-processes.js";

const REAPER = new URL("./service-reaper.ts", import.meta.url).pathname;

/**
 * The services' directories, each registered before its service starts: teardown, a setup that fails
 * half-way, and (as a last resort) this process exiting or being told to stop (Ctrl-C, SIGTERM: a
 * signal's default action ends a process without its "exit" handlers) stop every process using them.
 * Under vitest neither handler runs on a signal (vitest's own ends the process first), so a reaper
 * process (service-reaper.ts) also holds the directories and stops what is left once this process ends.
 */
export class StartedServices {
  private readonly started: { dir: string; stop?: () => void }[] = [];
  private reaper?: ChildProcess;
  private readonly onExit = () => this.started.forEach((s) => killProcessesUsingNow(s.dir));
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.onExit();
    this.unhook();
    process.kill(process.pid, signal); // then end as the signal would have ended it
  };

  add(dir: string, stop?: () => void): string {
    if (this.started.length === 0) {
      process.on("exit", this.onExit);
      process.once("SIGINT", this.onSignal).once("SIGTERM", this.onSignal).once("SIGHUP", this.onSignal);
      this.reaper = startReaper();
    }
    this.reaper?.stdin?.write(`${dir}\n`);
    this.started.push({ dir, stop });
    return dir;
  }

  /**
   * Has the reaper also stop what runs in every directory listed in `file` (one per line, appended to
   * while the run goes on) and remove them, should the run end without its teardown.
   */
  reapDirsListedIn(file: string): void {
    this.reaper?.stdin?.write(`+${file}\n`);
  }

  private unhook(): void {
    this.reaper?.stdin?.end(); // nothing is left for it: it exits
    this.reaper = undefined;
    process.off("exit", this.onExit);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(sig, this.onSignal);
  }

  /** Stops the processes of `dir` (its own stop first, then SIGTERM/SIGKILL to the rest) and removes it. */
  async stop(dir: string): Promise<void> {
    const i = this.started.findIndex((s) => s.dir === dir);
    if (i < 0) return;
    const [{ stop }] = this.started.splice(i, 1);
    try {
      stop?.();
    } catch {
      // the sweep below stops what the service's own stop could not
    }
    const left = await stopProcessesUsing(dir);
    if (left.length) throw new Error(`teardown: processes of ${dir} outlived SIGKILL: ${left.join(", ")}`);
    rmSync(dir, { recursive: true, force: true });
  }

  /** Stops everything, the last started first; throws naming what could not be stopped. */
  async stopAll(): Promise<void> {
    const errors: string[] = [];
    for (const { dir } of [...this.started].reverse()) await this.stop(dir).catch((e: Error) => errors.push(e.message));
    this.unhook();
    if (errors.length) throw new Error(errors.join("; "));
  }
}

/** The reaper: detached (its own session), and neither it nor its stdin keeps this process alive. */
function startReaper(): ChildProcess {
  const reaper = spawn(process.execPath, [REAPER], { detached: true, cwd: "/", stdio: ["pipe", "ignore", "inherit"] });
  reaper.on("error", (e) => console.error(`[setup] service reaper: ${e.message}`));
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return reaper;
}

/**
 * Starts the run's list of the temp dirs its files make (temp-dir.ts appends to it; the forks inherit
 * STRONGBOX_TEST_TEMP_REGISTRY), for the reaper: a run that ends without its teardown leaves no test's
 * PostgreSQL, daemon or command running in them, and no temp dir behind.
 */
export function listTempDirs(services: StartedServices): string {
  const registry = join(services.add(mkdtempSync(join(tmpdir(), "strongbox-run-"))), "temp-dirs");
  writeFileSync(registry, "");
  services.reapDirsListedIn(registry);
  process.env.STRONGBOX_TEST_TEMP_REGISTRY = registry;
  return registry;
}

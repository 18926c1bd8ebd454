// The services the global setup started, and how they are stopped (test/helpers/global-setup.ts). A module
// of its own, without the S3 client's imports, so that test/services/teardown.test.ts's child runs load fast.
import { rmSync } from "node:fs";
import { killProcessesUsingNow, stopProcessesUsing } from "./service-processes.js";

/**
 * The services' directories, each registered before its service starts: teardown, a setup that fails
 * half-way, and (as a last resort) this process exiting or being told to stop (Ctrl-C, SIGTERM: a
 * signal's default action ends a process without its "exit" handlers) stop every process using them.
 */
export class StartedServices {
  private readonly started: { dir: string; stop?: () => void }[] = [];
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
    }
    this.started.push({ dir, stop });
    return dir;
  }

  private unhook(): void {
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

// The suite's CPU hogs (scripts/test-under-load.sh) keep the cores busy and never outlive their user.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startCpuHogs } from "../helpers/cpu-hog.js";
import { processState, running } from "../helpers/service-processes.js";

const HOG = new URL("../helpers/cpu-hog.ts", import.meta.url).pathname;

/** Until `cond` holds, or 20 s (then the test fails on what it expected). */
async function until(cond: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 20_000; !cond() && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 20));
}

/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22); "" once it is gone. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return "";
  }
}

/**
 * Which of these processes still run. A pid alone is not enough: the suite starts thousands of
 * processes, and a hog's pid can belong to another process moments after the hog ended.
 */
function stillRunning(procs: { pid: number; start: string }[]): number[] {
  return procs.filter((p) => running(p.pid) && startTime(p.pid) === p.start).map((p) => p.pid);
}

/** The hog pids a `node cpu-hog.ts N` program prints on its first line. */
async function printedPids(out: NodeJS.ReadableStream): Promise<number[]> {
  let text = "";
  for await (const chunk of out) {
    text += chunk;
    const m = /pids ([\d ]+)\n/.exec(text);
    if (m) return m[1].trim().split(" ").map(Number);
  }
  throw new Error(`cpu-hog printed no pids: ${text}`);
}

describe("CPU hogs", () => {
  it("startCpuHogs(2): two busy loops, both gone once stop() resolves", async () => {
    const hogs = startCpuHogs(2);
    expect(hogs.pids).toHaveLength(2);
    await until(() => hogs.pids.every((p) => processState(p) === "R"));
    expect(hogs.pids.map(processState)).toEqual(["R", "R"]); // runnable: busy, never waiting
    await hogs.stop();
    expect(hogs.pids.filter(running)).toEqual([]);
  });

  it("as a program: its hogs end when it gets SIGTERM, and when its parent goes away", async () => {
    const prog = spawn(process.execPath, [HOG, "2"], { stdio: ["ignore", "pipe", "inherit"] });
    const hogs = (await printedPids(prog.stdout!)).map((pid) => ({ pid, start: startTime(pid) }));
    expect(stillRunning(hogs)).toHaveLength(2);
    prog.kill("SIGTERM");
    expect((await once(prog, "exit"))[0]).toBe(0);
    expect(stillRunning(hogs)).toEqual([]);

    // A parent that dies without a word (SIGKILL): the program notices and stops its hogs.
    const parent = spawn("sh", ["-c", `"${process.execPath}" "${HOG}" 1 & wait`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const orphaned = (await printedPids(parent.stdout!)).map((pid) => ({ pid, start: startTime(pid) }));
    expect(orphaned.every((p) => p.start !== "")).toBe(true);
    parent.kill("SIGKILL");
    await until(() => stillRunning(orphaned).length === 0);
    expect(stillRunning(orphaned)).toEqual([]);
  });

  it("as a program killed with SIGKILL (no handler runs): its busy loops end by themselves", async () => {
    const prog = spawn(process.execPath, [HOG, "2"], { stdio: ["ignore", "pipe", "inherit"] });
    const hogs = (await printedPids(prog.stdout!)).map((pid) => ({ pid, start: startTime(pid) }));
    expect(stillRunning(hogs)).toHaveLength(2);
    prog.kill("SIGKILL");
    await once(prog, "exit");
    await until(() => stillRunning(hogs).length === 0);
    expect(stillRunning(hogs)).toEqual([]);
  });
});

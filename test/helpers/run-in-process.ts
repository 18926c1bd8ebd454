// runCli's twin without a process: the same arguments, environment and result shape ({ code, stdout,
// stderr }), but main() of src/cli.ts runs in the test's own process. A test switches by import:
//   import { runInProcess as runCli } from "../helpers/run-in-process.js";
// For commands that need no process boundary only. Keep runCli (a real process) for signals, kills,
// timing or memory of a whole run, and the installed binary. S3 repositories are fine here: each store
// has its own client and names its own endpoint (nothing S3 is module-wide). Runs are serialized: each
// one owns process.env, the working directory and what is written to stdout/stderr while it runs.
import { describeError } from "../../src/errors.js";
import { jsonOutput } from "../../src/json-output.js";
import { redact } from "../../src/secrets.js";
import type { CliResult } from "./cli.js";

(globalThis as { [key: symbol]: unknown })[Symbol.for("strongbox.in-process")] = true;
const cli = import("../../src/cli.js");

let queue: Promise<unknown> = Promise.resolve();

/** Runs `strongbox <args>` in this process, as runCli runs it in a child (same default environment). */
export function runInProcess(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const run = queue.then(() => runNow(args, o));
  queue = run.catch(() => undefined);
  return run;
}

async function runNow(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string }): Promise<CliResult> {
  const { main } = await cli;
  const out = { stdout: "", stderr: "" };
  const saved = {
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout.write,
    stderr: process.stderr.write,
    finish: jsonOutput.finish,
  };
  const capture =
    (stream: "stdout" | "stderr") =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      out[stream] += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      const done = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      done?.();
      return true;
    };
  process.env = { PATH: saved.env.PATH, HOME: saved.env.HOME, TMPDIR: saved.env.TMPDIR, ...o.env };
  if (o.cwd) process.chdir(o.cwd);
  process.stdout.write = capture("stdout") as typeof process.stdout.write;
  process.stderr.write = capture("stderr") as typeof process.stderr.write;
  // The one --json document goes to fd 1 with writeSync in a real run: here it joins the captured stdout.
  (jsonOutput as unknown as { result?: unknown }).result = undefined;
  let written = false;
  jsonOutput.finish = function (failure) {
    if (!this.enabled || written) return;
    written = true;
    out.stdout += redact(JSON.stringify(this.document(failure), null, 2)) + "\n";
  };
  // Node's own warnings (a deprecation, too many listeners) go to a real run's stderr: here too, so a
  // test that wants an empty stderr still sees them (each deprecation is emitted once per process).
  const warned = (w: Error & { code?: string }) =>
    (out.stderr += `(node:${process.pid}) ${w.code ? `[${w.code}] ` : ""}${w.name}: ${w.message}\n`);
  process.on("warning", warned);
  try {
    const code = await main([process.execPath, "strongbox", ...args]).catch((err: unknown) => {
      process.stderr.write(`strongbox: internal error: ${redact(describeError(err))}\n`);
      return 1;
    });
    return { code, ...out };
  } finally {
    process.off("warning", warned);
    jsonOutput.finish = saved.finish;
    jsonOutput.enabled = false; // as a fresh process has it: the next file in this worker may not run main()
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    if (o.cwd) process.chdir(saved.cwd);
    process.env = saved.env;
  }
}

// verify and prune from the CLI, stopped by SIGTERM/SIGINT once their job has started: they stop through
// the one command lifecycle, as backup and restore do: exit 143/130, the repository lock released, the
// job's failure audit line written. The repository is an S3 endpoint that accepts every request and never
// answers, so the job is certainly running (its first request arrived) and certainly not finished.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

let server: Server;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req) => void requests.push(`${req.method} ${req.url}`)); // never answers
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function stalledRepo() {
  const { port } = server.address() as AddressInfo;
  const user = { uid: "stalled", accessKeyId: "stalled", secretAccessKey: "stalled-secret" };
  const prefix = `stall-${Math.random().toString(16).slice(2, 8)}`;
  const s3 = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: "stalled",
    prefix,
    admin: user,
    writer: user,
    reader: user,
    pruner: user,
  };
  const repo = makeRepo({ sources: [{ name: "a", type: "files", path: tempDir("stalled-src") }], s3, prefix });
  const lockDir = tempDir("stalled-locks");
  const audit = join(repo.dir, "audit.jsonl");
  const file = repo.write((c) => {
    Object.assign(c, { lock_dir: lockDir, audit_log: audit });
    c.retention = { keep_last: 1 };
  });
  return { file, prefix, lockDir, audit };
}

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

describe("verify and prune stopped by a signal from the CLI", () => {
  for (const [command, sig, code] of [
    ["verify", "SIGTERM", 143],
    ["prune", "SIGINT", 130],
  ] as const) {
    it(`${command}: ${sig} once its job has started: exit ${code}, no lock left, a failure audit line`, async () => {
      const r = stalledRepo();
      const run = start(["-c", r.file, command, ...(command === "verify" ? ["latest"] : [])]);
      await until(() => requests.some((q) => q.includes(r.prefix)), 30_000);
      expect(readdirSync(r.lockDir).filter((f) => f.endsWith(".lock"))).toHaveLength(1);
      run.child.kill(sig);
      const exit = await run.exited;
      expect({ exit, signal: run.child.signalCode }).toEqual({ exit: code, signal: null });
      expect(run.stderr()).toMatch(new RegExp(`${sig} received: stopping cleanly`));
      expect(run.stderr()).toMatch(new RegExp(`error: interrupted by ${sig}`));
      expect(readdirSync(r.lockDir)).toEqual([]);
      expect(existsSync(r.audit)).toBe(true);
      const last = JSON.parse(readFileSync(r.audit, "utf8").trim().split("\n").at(-1)!);
      expect(last).toMatchObject({ command, result: "failure", error: expect.stringMatching(`interrupted by ${sig}`) });
    }, 90_000);
  }
});

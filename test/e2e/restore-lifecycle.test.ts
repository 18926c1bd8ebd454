// restore runs along the one command lifecycle (commands/lifecycle.ts): signals first, then the lock
// with --retry-lock's bounded wait, then the job. Before, restore's signal handling began only once the
// extraction started: a SIGTERM while it waited for the lock killed it by the signal's default action.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lockPath, repositoryIdentity } from "../../src/repository/lock.js";
import { BIN, makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

const kills: (() => void)[] = [];
afterEach(() => {
  for (const k of kills.splice(0)) k();
});

/** A repository with one backup, its lock file held by a live process on this host (this test runner). */
async function heldRepository() {
  const data = tempDir("rl-data");
  writeFileSync(join(data, "a.txt"), "hello");
  const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
  repo.config.lock_dir = tempDir("rl-locks");
  repo.write();
  expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
  const lockFile = lockPath(repositoryIdentity(repo.config.repository.url), repo.config.lock_dir as string);
  const holder = { pid: process.pid, host: hostname(), boot: "", command: "backup", since: "2026-12-01T10:00:00.000Z" };
  writeFileSync(lockFile, JSON.stringify({ ...holder, repository: "x", token: "held" }));
  return { repo, lockFile };
}

function startRestore(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
    stdio: ["ignore", "pipe", "pipe"],
  });
  kills.push(() => child.kill("SIGKILL"));
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", () => {});
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.on("close", (code, signal) => r({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

describe("restore along the command lifecycle", () => {
  it("waits for a held lock (--retry-lock), then restores once it is free", async () => {
    const { repo, lockFile } = await heldRepository();
    const out = tempDir("rl-out");
    const r = startRestore(["-c", repo.configFile, "restore", "latest", "--to-dir", out, "--retry-lock", "45s"]);
    await until(() => /waiting up to 45s for the repository lock held by backup/.test(r.stderr()));
    rmSync(lockFile);
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(readFileSync(join(out, "files", "a.txt"), "utf8")).toBe("hello");
  });

  it("SIGTERM while it waits for the lock: stops cleanly, exit 143, one error line, nothing restored", async () => {
    const { repo, lockFile } = await heldRepository();
    const out = tempDir("rl-out");
    const r = startRestore(["-c", repo.configFile, "restore", "latest", "--to-dir", out, "--retry-lock", "45s"]);
    await until(() => /waiting up to 45s for the repository lock/.test(r.stderr()));
    r.child.kill("SIGTERM");
    expect(await r.exited).toEqual({ code: 143, signal: null });
    expect(r.stderr()).toMatch(/SIGTERM received: stopping cleanly/);
    const errors = r
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("strongbox: error"));
    expect(errors).toEqual([expect.stringMatching(/^strongbox: error: interrupted by SIGTERM/)]);
    expect(existsSync(join(out, "files"))).toBe(false);
    expect(JSON.parse(readFileSync(lockFile, "utf8")).token).toBe("held"); // the holder's lock is left alone
  });
});

describe("copy along the command lifecycle", () => {
  it("SIGTERM while it waits for the lock: stops cleanly, exit 143, nothing copied (it was killed by the signal before)", async () => {
    const { repo } = await heldRepository();
    const dest = tempDir("rl-copy");
    const r = startRestore(["-c", repo.configFile, "copy", "latest", "--to", `file://${dest}`, "--retry-lock", "45s"]);
    await until(() => /waiting up to 45s for the repository lock/.test(r.stderr()));
    r.child.kill("SIGTERM");
    expect(await r.exited).toEqual({ code: 143, signal: null });
    expect(r.stderr()).toMatch(/SIGTERM received: stopping cleanly/);
    expect(existsSync(join(dest, "backups"))).toBe(false);
  });
});

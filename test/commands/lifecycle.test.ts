// The one command lifecycle (commands/lifecycle.ts): the repository lock around the job, the job's audit
// line, the caller's signal handed to the job, and the job's own error rethrown as it is.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CommandContext } from "../../src/commands/context.js";
import { runCommand } from "../../src/commands/lifecycle.js";
import { StrongboxError } from "../../src/errors.js";
import { acquireLock, LockHeldError, repositoryIdentity } from "../../src/repository/lock.js";
import { makeRepo, tempDir } from "../helpers/cli.js";

function context() {
  const dir = tempDir("lifecycle");
  const repo = makeRepo({ sources: [{ name: "a", type: "files", path: dir }] });
  const audit = join(dir, "audit.log");
  const lockDir = tempDir("lifecycle-locks");
  const file = repo.write((c) => Object.assign(c, { audit_log: audit, lock_dir: lockDir }));
  const ctx = new CommandContext({ config: file, quiet: true });
  const identity = repositoryIdentity(ctx.config().repository.url);
  const lines = () =>
    readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ctx, identity, lockDir, lines };
}

describe("runCommand", () => {
  it("holds the repository lock while the job runs, releases it after, and writes the job's audit line", async () => {
    const { ctx, identity, lockDir, lines } = context();
    const ac = new AbortController();
    let seen: AbortSignal | undefined;
    const result = await runCommand(ctx, { command: "verify", job: "weekly", signal: ac.signal }, async (signal) => {
      seen = signal;
      await expect(acquireLock(identity, "prune", lockDir)).rejects.toBeInstanceOf(LockHeldError);
      return { summary: "verified 1 backup(s): OK" };
    });
    expect(result.summary).toBe("verified 1 backup(s): OK");
    expect(seen).toBe(ac.signal);
    const release = await acquireLock(identity, "prune", lockDir);
    await release();
    expect(lines()).toEqual([expect.objectContaining({ command: "verify", job: "weekly", result: "success" })]);
  });

  it("rethrows the job's error as it is (its code makes the exit code), audited as a failure, lock released", async () => {
    const { ctx, identity, lockDir, lines } = context();
    const bad = new StrongboxError("VERIFY", "verification failed for 1 of 1 backup(s): x");
    await expect(
      runCommand(ctx, { command: "copy" }, async () => {
        throw bad;
      }),
    ).rejects.toBe(bad);
    await (
      await acquireLock(identity, "prune", lockDir)
    )();
    expect(lines()).toEqual([
      expect.objectContaining({ command: "copy", job: "copy", result: "failure", error: bad.message }),
    ]);
  });
});

// Waiting for a held repository lock (issue 22 item 12): bounded, backing off, logged once, ended by the job's signal.
import { unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { acquireLockWaiting } from "../../src/commands/repository-lock.js";
import { Logger } from "../../src/log.js";
import { lockPath } from "../../src/repository/lock.js";
import { tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

function held(identity: string, dir: string): string {
  const file = lockPath(identity, dir);
  writeFileSync(
    file,
    JSON.stringify({
      pid: process.pid,
      host: hostname(),
      boot: "",
      command: "restore",
      since: "2026-12-01T10:00:00.000Z",
      repository: identity,
      token: "held",
    }),
  );
  return file;
}

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const log = new Logger({
    level: "debug",
    human: false,
    stream: { write: (s: string) => (lines.push(JSON.parse(s)), true) } as unknown as NodeJS.WritableStream,
  });
  return { log, lines };
}

describe("acquireLockWaiting", () => {
  it("a signal (deadline, SIGTERM) ends the wait at once with its reason; the holder was logged once", async () => {
    const dir = tempDir("lockwait");
    held("file:///repo-a", dir);
    const { log, lines } = recordingLogger();
    const ac = new AbortController();
    const waiting = acquireLockWaiting("file:///repo-a", "backup", dir, { waitMs: 600_000, log, signal: ac.signal });
    await until(() => lines.length > 0);
    const t = Date.now();
    ac.abort(new Error("job nightly: deadline 1m exceeded after 1m"));
    await expect(waiting).rejects.toThrow(/deadline 1m exceeded/);
    expect(Date.now() - t).toBeLessThan(500);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(
        /^waiting up to 10m for the repository lock held by restore \(pid \d+ on .*, since 2026-12-01T10:00:00.000Z\)$/,
      ),
    ]);
  });

  it("polls with backoff, not in a busy loop, and takes the lock once it is released", async () => {
    const dir = tempDir("lockwait");
    const file = held("file:///repo-b", dir);
    const { log } = recordingLogger();
    let polls = 0;
    const realStat = (await import("node:fs")).promises.readFile;
    // Count the attempts through the lock file reads they make.
    const fsp = (await import("node:fs")).promises as { readFile: typeof realStat };
    fsp.readFile = ((...a: Parameters<typeof realStat>) => (
      String(a[0]) === file && polls++,
      realStat(...a)
    )) as typeof realStat;
    try {
      const t0 = Date.now();
      const waiting = acquireLockWaiting("file:///repo-b", "backup", dir, { waitMs: 60_000, log });
      await until(() => polls >= 4);
      // The 2nd, 3rd and 4th attempts come 200, 400 and 800 ms apart: a busy loop would make them in a few ms.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
      unlinkSync(file);
      const release = await waiting;
      await release();
    } finally {
      fsp.readFile = realStat;
    }
  });
});

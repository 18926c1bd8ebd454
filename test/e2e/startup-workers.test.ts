// A small backup or WAL segment starts no worker thread: a thread costs about 0.2 CPU-seconds to
// start, more than the whole work of a one-file backup. The age STREAM job of an object that fits one
// job runs on the main thread unless a crypto worker already runs; the tree count for the ETA starts
// only once a backup has run for a second. Checked by the worker starts a hook records
// (test/helpers/worker-trace.mjs), not by timing.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, runCli, runCollect, tempDir } from "../helpers/cli.js";
import { makeDataDir, makeSegment, segName, SYSID } from "../helpers/wal-craft.js";

const HOOK = new URL("../helpers/worker-trace.mjs", import.meta.url).pathname;

/** Runs the built CLI with the worker trace; returns its result and the entry files of the workers it started. */
async function traced(args: string[], cwd?: string) {
  const trace = join(tempDir("wtrace"), "workers.txt");
  const r = await runCollect(process.execPath, ["--import", HOOK, BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, STRONGBOX_WORKER_TRACE: trace },
  });
  const workers = readFileSync(trace, "utf8").split("\n").filter(Boolean);
  // The entry file's name: beside its module in dist/, or beside the chunks in dist/bundle/.
  return { ...r, workers: workers.map((w) => w.replace(/^.*\//, "")) };
}

describe("start-up: small work starts no worker thread", () => {
  it("a one-file backup to file:// starts none, and verifies; 3 MiB of random bytes start the crypto worker", async () => {
    const tree = tempDir("tree");
    writeFileSync(join(tree, "a.txt"), "a small file\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tree }] });
    const small = await traced(["-q", "-c", repo.configFile, "backup", "now"]);
    expect(small.stderr).toBe("");
    expect(small.code).toBe(0);
    expect(small.workers).toEqual([]);
    const verify = await traced(["-q", "-c", repo.configFile, "verify", "latest"]);
    expect(verify.code).toBe(0);
    expect(verify.workers).toEqual([]);

    // The trace sees workers: an object of several jobs (1 MiB each) runs them on the crypto worker.
    writeFileSync(join(tree, "b.bin"), randomBytes(3 << 20));
    const big = await traced(["-q", "-c", repo.configFile, "backup", "now"]);
    expect(big.code).toBe(0);
    expect(big.workers).toContain("stream-worker.js"); // (and the count, if it ran for a second)
    const restored = tempDir("restored");
    const restore = await runCli(["-q", "-c", repo.configFile, "restore", "latest", "--to-dir", restored]);
    expect(restore.stderr).toBe("");
    expect(readFileSync(join(restored, "files", "b.bin")).equals(readFileSync(join(tree, "b.bin")))).toBe(true);
  });

  it("wal push of a segment of few distinct bytes to file:// starts none, and wal fetch gives it back", async () => {
    const repo = makeRepo({
      sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://u@localhost/db" }],
    });
    const config = repo.write((c) => (c.state_dir = tempDir("walstate")));
    const data = makeDataDir(tempDir("pgdata"), SYSID);
    const segment = makeSegment({ sysid: SYSID, tli: 1, segno: 9 });
    writeFileSync(join(data, "pg_wal", segName(1, 9)), segment);
    const push = await traced(["-c", config, "wal", "push", `pg_wal/${segName(1, 9)}`], data);
    expect(push.stderr).toBe("");
    expect(push.code).toBe(0);
    expect(push.workers).toEqual([]);
    const fetch = await runCli(["-c", config, "wal", "fetch", segName(1, 9), join(data, "back")], { cwd: data });
    expect(fetch.code).toBe(0);
    expect(readFileSync(join(data, "back")).equals(segment)).toBe(true);
  });
});

import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { acquireLock, defaultLockDir, lockPath, repositoryIdentity } from "../../src/repository/lock.js";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";

const DIST_LOCK = new URL("../../dist/repository/lock.js", import.meta.url).href;

describe("repository identity", () => {
  it.each([
    [
      "s3://bucket/prefix",
      "s3://bucket/prefix/",
      { endpoint: "http://127.0.0.1:7480" },
      { endpoint: "http://127.0.0.1:7480/" },
    ],
    [
      "s3://bucket//a/b",
      "s3://bucket/a/b/",
      { endpoint: "https://S3.example.com:443" },
      { endpoint: "https://s3.example.com" },
    ],
    ["s3://bucket", "s3://bucket/", undefined, undefined],
  ])("%s and %s are one repository", (a, b, ea, eb) => {
    expect(repositoryIdentity(a, ea)).toBe(repositoryIdentity(b, eb));
  });

  it("tells different repositories apart", () => {
    expect(repositoryIdentity("s3://bucket/a", { endpoint: "http://h:1" })).not.toBe(
      repositoryIdentity("s3://bucket/b", { endpoint: "http://h:1" }),
    );
    expect(repositoryIdentity("s3://bucket/a", { endpoint: "http://h:1" })).not.toBe(
      repositoryIdentity("s3://bucket/a", { endpoint: "http://h:2" }),
    );
    expect(repositoryIdentity("s3://bucket/a")).not.toBe(repositoryIdentity("s3://other/a"));
  });

  it("resolves file:// paths through symlinks and trailing slashes, also for a repository not created yet", () => {
    const d = tempDir("ident");
    mkdirSync(join(d, "real"));
    symlinkSync(join(d, "real"), join(d, "link"));
    expect(repositoryIdentity(`file://${d}/link/repo/`)).toBe(repositoryIdentity(`file://${d}/real/repo`));
    expect(repositoryIdentity(`file://${d}/real//repo`)).toBe(repositoryIdentity(`file://${d}/real/repo`));
  });
});

/** A lock record as acquireLock writes it, of a run on this host: `start` only where a test sets one. */
const lockRecord = (pid: number, token: string, start?: string) =>
  JSON.stringify({ pid, host: hostname(), boot: "", start, command: "prune", since: "", repository: "", token });

describe("repository lock", () => {
  it("is written whole before it appears, holds out a second taker, and is released", async () => {
    const dir = tempDir("lockdir");
    const release = await acquireLock("file:///x", "backup", dir);
    const file = lockPath("file:///x", dir);
    const info = JSON.parse(readFileSync(file, "utf8"));
    expect(info).toMatchObject({ pid: process.pid, host: hostname(), command: "backup", repository: "file:///x" });
    await expect(acquireLock("file:///x", "prune", dir)).rejects.toThrow(/lock held: .*\(backup, pid \d+/);
    await release();
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir)).toEqual([]); // no temp file or takeover marker left
  });

  it("a recent lock file that cannot be read is never taken as stale; an old one is", async () => {
    const dir = tempDir("lockdir");
    const file = lockPath("file:///y", dir);
    writeFileSync(file, "");
    await expect(acquireLock("file:///y", "backup", dir)).rejects.toThrow(/unreadable and recent/);
    const { utimesSync } = await import("node:fs");
    utimesSync(file, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    const release = await acquireLock("file:///y", "backup", dir);
    expect(JSON.parse(readFileSync(file, "utf8")).pid).toBe(process.pid);
    await release();
  });

  it("a live holder on another host is never taken over; a dead PID on this host is", async () => {
    const dir = tempDir("lockdir");
    const file = lockPath("file:///z", dir);
    writeFileSync(
      file,
      JSON.stringify({
        pid: 2 ** 22 + 4321,
        host: "other-host",
        boot: "",
        command: "backup",
        since: "2026-01-01T00:00:00Z",
        repository: "file:///z",
        token: "aaaa",
      }),
    );
    await expect(acquireLock("file:///z", "backup", dir)).rejects.toThrow(/lock held: .*on other-host/);
    writeFileSync(
      file,
      JSON.stringify({
        pid: 2 ** 22 + 4321,
        host: hostname(),
        boot: "",
        command: "backup",
        since: "2026-01-01T00:00:00Z",
        repository: "file:///z",
        token: "bbbb",
      }),
    );
    const release = await acquireLock("file:///z", "verify", dir);
    expect(JSON.parse(readFileSync(file, "utf8")).command).toBe("verify");
    await release();
  });

  // A contender killed (kill -9) between claiming a takeover and finishing it leaves its marker, a hard
  // link to its own lock record. The next run must not be locked out for the marker's grace time.
  it("a takeover marker left by a killed contender does not lock the repository out", async () => {
    const dir = tempDir("lockdir");
    const file = lockPath("file:///m", dir);
    writeFileSync(file, lockRecord(2 ** 22 + 11, "stale1"));
    const tmp = `${file}.${2 ** 22 + 12}.ab12.tmp`;
    writeFileSync(tmp, lockRecord(2 ** 22 + 12, "ab12"));
    linkSync(tmp, `${file}.takeover-stale1`);
    const release = await acquireLock("file:///m", "backup", dir);
    expect(JSON.parse(readFileSync(file, "utf8")).command).toBe("backup");
    await release();
    // The dead contender's temp record is swept too: nothing is left.
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a clear claim left by a killed clearer, a reused PID, and dead markers do not lock it out or stay", async () => {
    const dir = tempDir("lockdir");
    const file = lockPath("file:///o", dir);
    writeFileSync(file, lockRecord(2 ** 22 + 21, "5a1e"));
    // A contender killed mid-takeover, and the clearer of its marker killed mid-clear.
    writeFileSync(`${file}.takeover-5a1e`, lockRecord(2 ** 22 + 22, "c0de"));
    writeFileSync(`${file}.takeover-5a1e.clear-c0de`, lockRecord(2 ** 22 + 23, "dead"));
    // A marker of an older takeover whose contender's PID now belongs to another process (started at another time).
    writeFileSync(`${file}.takeover-01d`, lockRecord(process.ppid, "beef", "1"));
    const release = await acquireLock("file:///o", "backup", dir);
    expect(JSON.parse(readFileSync(file, "utf8")).command).toBe("backup");
    await release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a takeover marker of a live contender is respected", async () => {
    const dir = tempDir("lockdir");
    const file = lockPath("file:///n", dir);
    writeFileSync(file, lockRecord(2 ** 22 + 13, "s"));
    writeFileSync(`${file}.takeover-s`, lockRecord(process.ppid, "t"));
    await expect(acquireLock("file:///n", "backup", dir)).rejects.toThrow(/contended/);
  });

  // Real parallelism: worker threads race through link()/rename() on the same directory.
  it("race: 8 contenders, 60 rounds (half of them over a stale lock): exactly one wins each round", async () => {
    const dir = tempDir("lockrace");
    const N = 8;
    const ROUNDS = 60;
    const shared = new SharedArrayBuffer(4 * (4 + ROUNDS));
    const ctl = new Int32Array(shared); // [0]=arrived, [1]=round, [2]=holders now, [3]=max holders, [4+r]=winners of round r
    const code = `
      const { workerData } = require("node:worker_threads");
      (async () => {
        const { acquireLock } = await import(workerData.lib);
        const ctl = new Int32Array(workerData.shared);
        for (let r = 0; r < workerData.rounds; r++) {
          while (Atomics.load(ctl, 1) < r + 1) Atomics.wait(ctl, 1, r, 50);
          try {
            const release = await acquireLock("file:///race", "w" + workerData.i, workerData.dir);
            const now = Atomics.add(ctl, 2, 1) + 1;
            let m; while ((m = Atomics.load(ctl, 3)) < now && Atomics.compareExchange(ctl, 3, m, now) !== m);
            Atomics.add(ctl, 4 + r, 1);
            // hold until every other contender of this round has tried (or 2 s passed)
            const end = Date.now() + 2000;
            while (Atomics.load(ctl, 0) < workerData.n * r + workerData.n - 1 && Date.now() < end) await new Promise((res) => setTimeout(res, 2));
            Atomics.sub(ctl, 2, 1);
            await release();
          } catch (e) {
            if (!/lock held/.test(String(e && e.message))) { console.error(e); process.exit(1); }
          }
          Atomics.add(ctl, 0, 1);
        }
      })();`;
    const workers = Array.from(
      { length: N },
      (_, i) => new Worker(code, { eval: true, workerData: { lib: DIST_LOCK, shared, dir, i, n: N, rounds: ROUNDS } }),
    );
    const file = lockPath("file:///race", dir);
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 1)
        writeFileSync(
          file,
          JSON.stringify({
            pid: 2 ** 22 + r,
            host: hostname(),
            boot: "",
            command: "killed",
            since: "2026-01-01T00:00:00Z",
            repository: "file:///race",
            token: `stale${r}`,
          }),
        );
      Atomics.store(ctl, 1, r + 1);
      Atomics.notify(ctl, 1);
      while (Atomics.load(ctl, 0) < N * (r + 1)) await new Promise((res) => setTimeout(res, 5));
    }
    await Promise.all(workers.map((w) => w.terminate()));
    const winners = Array.from({ length: ROUNDS }, (_, r) => ctl[4 + r]);
    expect(winners).toEqual(Array(ROUNDS).fill(1));
    expect(ctl[3]).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});

// systemd's PrivateTmp= gives each service its own /tmp: a lock under $TMPDIR would not keep a manual
// run and the daemon apart. The default lock directory must not depend on TMPDIR.
describe("the default lock directory (no lock_dir set)", () => {
  it("is not under TMPDIR, and is the same whatever TMPDIR is; STRONGBOX_LOCK_DIR overrides it", () => {
    const env = { HOME: "/home/op", XDG_STATE_HOME: "/home/op/.local/state" };
    const a = defaultLockDir({ ...env, TMPDIR: "/tmp/systemd-private-1-strongbox.service/tmp" });
    const b = defaultLockDir({ ...env, TMPDIR: "/tmp" });
    expect(a).toBe(b);
    expect(a).not.toMatch(/^\/tmp/);
    expect(["/run/strongbox", "/home/op/.local/state/strongbox/locks"]).toContain(a);
    expect(defaultLockDir({ ...env, STRONGBOX_LOCK_DIR: "/srv/locks" })).toBe("/srv/locks");
  });

  it("a run with another private TMPDIR meets the lock another process holds (exit 1, lock held)", async () => {
    const data = tempDir("lockdata");
    writeFileSync(join(data, "f.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "f", type: "files", path: data }] });
    const release = await acquireLock(repositoryIdentity(repo.config.repository.url), "backup (daemon)");
    try {
      const r = await runCli(["-c", repo.configFile, "backup", "now"], { env: { TMPDIR: tempDir("private-tmp") } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/lock held: .*backup \(daemon\), pid \d+/);
    } finally {
      await release();
    }
    const ok = await runCli(["-c", repo.configFile, "backup", "now"], { env: { TMPDIR: tempDir("private-tmp") } });
    expect(ok.code).toBe(0);
  });
});

// Asynchronous archiving must not stall on what a previous life left in the spool: a lock whose pid
// now belongs to another process (pid reuse after a reboot or a kill -9), and a record that matches the
// file's size and modification time but not its bytes (a file put back with its mtime kept).
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { processesLeft } from "../helpers/processes.js";
import { makeDataDir, makeSegment, segName, sha256, SYSID } from "../helpers/wal-craft.js";

describe("wal.async with a stale spool", () => {
  const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_URL}" }] });
  const root = join(repo.dir, "repository");
  const stateDir = tempDir("walstate-stale");
  const spool = join(stateDir, "wal-spool", `${SYSID}`);
  const config = repo.write((c) => {
    c.state_dir = stateDir;
    c.sources[0].wal = { async: { processes: 1, queue_max: 8, timeout: "10s" } };
  });
  const data = makeDataDir(tempDir("pgdata-stale"), SYSID);
  mkdirSync(join(data, "pg_wal", "archive_status"), { recursive: true });
  const stored = (name: string) => {
    const dir = join(root, "wal", `${SYSID}`, "00000001");
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${name}.`) && f.endsWith(".age")) : [];
  };
  const ready = (segno: number, fill?: Buffer) => {
    const name = segName(1, segno);
    const seg = makeSegment({ sysid: SYSID, tli: 1, segno, fill });
    writeFileSync(join(data, "pg_wal", name), seg);
    writeFileSync(join(data, "pg_wal", "archive_status", `${name}.ready`), "");
    return { name, seg };
  };
  const push = (name: string) => runCli(["-c", config, "wal", "push", `pg_wal/${name}`], { cwd: data });
  const workers = () => processesLeft(`wal push-worke[r] ${data}/pg_wal`);

  afterAll(async () => {
    const left = await workers();
    for (const pid of left.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    expect(left, "no worker left running").toBe("");
  });

  it("a lock held by a live pid that has not been touched for long is stale: a worker starts", async () => {
    mkdirSync(spool, { recursive: true, mode: 0o700 });
    // This test's own pid: alive, and no archiving worker (as when the pid was reused after a reboot).
    writeFileSync(join(spool, "worker.lock"), `${process.pid}\n`);
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(spool, "worker.lock"), hourAgo, hourAgo);
    const { name, seg } = ready(0x50);
    const r = await push(name);
    rmSync(join(spool, "worker.lock"), { force: true }); // in case no worker replaced it
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(stored(name)).toEqual([`${name}.${sha256(seg)}.zst.age`]);
  }, 60_000);

  it("a record with the file's size and mtime but other bytes does not keep the worker from storing it", async () => {
    const { name } = ready(0x51, Buffer.from("first"));
    const path = join(data, "pg_wal", name);
    const mtime = new Date(Date.now() - 60_000); // whole milliseconds, so that it can be put back exactly
    utimesSync(path, mtime, mtime);
    expect(await push(name)).toMatchObject({ code: 0, stderr: "" });
    // Other bytes, same size, the old mtime kept (a copy with -p), marked ready again.
    const other = makeSegment({ sysid: SYSID, tli: 1, segno: 0x51, fill: Buffer.from("second") });
    writeFileSync(path, other);
    utimesSync(path, mtime, mtime);
    writeFileSync(join(data, "pg_wal", "archive_status", `${name}.ready`), "");
    expect(await push(name)).toMatchObject({ code: 0, stderr: "" });
    expect(stored(name)).toContain(`${name}.${sha256(other)}.zst.age`);
  }, 60_000);

  it("a spool another user can write is not trusted: a forged record acknowledges nothing", async () => {
    // Its own data directory: a worker of the tests above, still idling, would store a file ready in theirs.
    const own = makeDataDir(tempDir("pgdata-open"), SYSID);
    mkdirSync(join(own, "pg_wal", "archive_status"), { recursive: true });
    const name = segName(1, 0x53);
    const seg = makeSegment({ sysid: SYSID, tli: 1, segno: 0x53 });
    writeFileSync(join(own, "pg_wal", name), seg);
    writeFileSync(join(own, "pg_wal", "archive_status", `${name}.ready`), "");
    const open = tempDir("walstate-open");
    const openSpool = join(open, "wal-spool", `${SYSID}`);
    mkdirSync(openSpool, { recursive: true });
    chmodSync(openSpool, 0o777); // as a shared state_dir lets another account write
    const key = `wal/${SYSID}/00000001/${name}.${sha256(seg)}.zst.age`;
    const record = { name, sha256: sha256(seg), key, repository: `file://${root}`, size: seg.length, mtimeMs: 0 };
    writeFileSync(join(openSpool, `${name}.ok`), JSON.stringify(record));
    const cfg = repo.write((c) => {
      c.state_dir = open;
      c.sources[0].wal = { async: { processes: 1, queue_max: 8, timeout: "10s" } };
    });
    const r = await runCli(["-c", cfg, "wal", "push", `pg_wal/${name}`], { cwd: own });
    expect(stored(name)).toEqual([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^strongbox: error: ${openSpool}: writable by everyone \\(mode 777\\)`));
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);

  it("a worker that fails as a whole: wal push exits 1 at once with its one-line reason", async () => {
    const own = makeDataDir(tempDir("pgdata-broken"), SYSID);
    mkdirSync(join(own, "pg_wal", "archive_status"), { recursive: true });
    const name = segName(1, 0x54);
    writeFileSync(join(own, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 0x54 }));
    writeFileSync(join(own, "pg_wal", "archive_status", `${name}.ready`), "");
    const broken = tempDir("walstate-broken");
    const brokenSpool = join(broken, "wal-spool", `${SYSID}`);
    mkdirSync(join(brokenSpool, "worker.lock"), { recursive: true, mode: 0o700 }); // no worker can take that lock
    chmodSync(join(broken, "wal-spool"), 0o700);
    const cfg = repo.write((c) => {
      c.state_dir = broken;
      c.sources[0].wal = { async: { processes: 1, queue_max: 8, timeout: "30s" } };
    });
    const started = Date.now();
    const r = await runCli(["-c", cfg, "wal", "push", `pg_wal/${name}`], { cwd: own });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^strongbox: error: ${name}: the archiving worker exited with code 1: .*worker.lock`),
    );
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(Date.now() - started, "long before wal.async.timeout").toBeLessThan(20_000);
  }, 60_000);
});

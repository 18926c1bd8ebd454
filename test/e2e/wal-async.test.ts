// Asynchronous archiving (wal.async): `wal push` hands ready files to a detached worker, which
// stores several at once; a later `wal push` of a stored file is acknowledged from the spool without
// touching the store, and never for content other than what was stored.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeRepo, runAndKillWhen, runCli, tempDir } from "../helpers/cli.js";
import { processesLeft } from "../helpers/processes.js";
import { runInProcess } from "../helpers/run-in-process.js";
import { until } from "../helpers/until.js";
import { makeDataDir, makeSegment, segName, sha256, SYSID } from "../helpers/wal-craft.js";

/** The objects stored for WAL file `name` in the file:// repository under `root`. */
const storedOf = (root: string, name: string) => {
  const dir = join(root, "wal", `${SYSID}`, "00000001");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${name}.`) && f.endsWith(".age")) : [];
};

describe("wal push with wal.async", () => {
  const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_URL}" }] });
  const root = join(repo.dir, "repository");
  const stateDir = tempDir("walstate-async");
  const spool = join(stateDir, "wal-spool", `${SYSID}`);
  const asyncOn = (c: Record<string, any>, processes = 2) => {
    c.state_dir = stateDir;
    c.sources[0].wal = { async: { processes, queue_max: 8, timeout: "60s" } };
  };
  const config = repo.write((c) => asyncOn(c));
  const data = makeDataDir(tempDir("pgdata-async"), SYSID);
  const segs = new Map<string, Buffer>();
  /** A segment in pg_wal, marked ready as PostgreSQL does. */
  const ready = (segno: number, fill?: Buffer) => {
    const name = segName(1, segno);
    const seg = makeSegment({ sysid: SYSID, tli: 1, segno, fill });
    writeFileSync(join(data, "pg_wal", name), seg);
    writeFileSync(join(data, "pg_wal", "archive_status", `${name}.ready`), "");
    segs.set(name, seg);
    return name;
  };
  /** `wal push` as PostgreSQL runs it: on exit 0 it marks the file done. */
  const push = async (cfg: string, name: string) => {
    const r = await runCli(["-c", cfg, "wal", "push", `pg_wal/${name}`], { cwd: data });
    const status = join(data, "pg_wal", "archive_status", name);
    if (r.code === 0 && existsSync(`${status}.ready`)) renameSync(`${status}.ready`, `${status}.done`);
    return r;
  };
  const workers = () => processesLeft(`wal push-worke[r] ${data}/pg_wal`);

  afterAll(async () => {
    const left = await workers();
    for (const pid of left.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    expect(left, "no worker left running").toBe("");
  });

  it("the worker stores every ready file; a stored one is acknowledged without the store, a changed one is not", async () => {
    mkdirSync(join(data, "pg_wal", "archive_status"), { recursive: true });
    const names = [1, 2, 3, 4, 5].map((n) => ready(0x10 + n));
    const r = await push(config, names[0]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(storedOf(root, names[0])).toEqual([`${names[0]}.${sha256(segs.get(names[0])!)}.zst.age`]);
    // The worker goes on with the rest of the ready files, without being asked.
    await until(() => names.every((n) => storedOf(root, n).length === 1));
    await until(() => names.every((n) => existsSync(join(spool, `${n}.ok`))));

    // Idle: the worker exits by itself, and its lock goes with it.
    expect(await workers()).toBe("");
    expect(existsSync(join(spool, "worker.lock"))).toBe(false);

    // Acknowledged from the spool, without the store: with wal/ a plain file, no put could succeed.
    renameSync(join(root, "wal"), join(root, "wal.away"));
    writeFileSync(join(root, "wal"), "");
    expect(await push(config, names[2])).toMatchObject({ code: 0, stderr: "" });

    // The same name with other bytes: the record does not acknowledge it, and the worker cannot store it.
    writeFileSync(join(data, "pg_wal", names[3]), makeSegment({ sysid: SYSID, tli: 1, segno: 0x14 }));
    const changed = await push(config, names[3]);
    expect(changed.code).not.toBe(0);
    expect(changed.stderr).toMatch(
      new RegExp(`^strongbox: error: ${names[3]}: the archiving worker could not store it: .*ENOTDIR`),
    );
    expect(changed.stderr.trim().split("\n")).toHaveLength(1);
    expect(await workers()).toBe("");
    rmSync(join(root, "wal"));
    renameSync(join(root, "wal.away"), join(root, "wal"));
    expect(storedOf(root, names[3])).toHaveLength(1);

    // A record is for its repository only: another one's config does not take it as stored there.
    const other = join(repo.dir, "not-a-repository");
    writeFileSync(other, "");
    const otherConfig = repo.write((c) => {
      asyncOn(c);
      c.repository = { url: `file://${other}` };
    });
    expect((await push(otherConfig, names[1])).code).not.toBe(0);
    expect(await workers()).toBe("");

    // PostgreSQL's retry, the repository back: the new bytes are stored beside the old ones, then acknowledged.
    expect(await push(config, names[3])).toMatchObject({ code: 0, stderr: "" });
    expect(storedOf(root, names[3])).toHaveLength(2);

    expect(await workers()).toBe("");
    expect(readFileSync(join(spool, "worker.log"), "utf8")).toMatch(new RegExp(`${names[4]}: stored as wal/`));
  }, 180_000);

  it("kill -9 of the worker mid-push, then of a waiting wal push: no record without its object, and the retry stores it", async () => {
    const names = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35].map((n) => ready(n));
    const lockPid = () => Number(readFileSync(join(spool, "worker.lock"), "utf8"));
    const temps = join(root, ".strongbox-tmp"); // where the store writes an object before it names it
    const putStarted = () => existsSync(temps) && readdirSync(temps).some((f) => f.includes(".strongbox-tmp-"));
    /** Every record in the spool names an object that is stored. */
    const recordsBacked = () => {
      for (const f of readdirSync(spool).filter((f) => f.endsWith(".ok"))) {
        const { key } = JSON.parse(readFileSync(join(spool, f), "utf8")) as { key: string };
        expect(existsSync(join(root, key)), `${f} names ${key}`).toBe(true);
      }
    };
    const one = repo.write((c) => asyncOn(c, 1));
    writeFileSync(join(spool, `${segName(1, 0x13)}.ok.999.tmp`), "{"); // as a worker killed mid-write leaves it
    const waiting = push(one, names[0]);
    // Killed after it started storing a file (its temporary object is in the repository).
    const pid = await until(() => existsSync(join(spool, "worker.lock")) && putStarted() && lockPid());
    process.kill(pid, "SIGKILL");
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    recordsBacked();
    // The waiting wal push finds the worker dead and starts another one.
    expect(await waiting).toMatchObject({ code: 0, stderr: "" });
    recordsBacked();
    // That acknowledgement removed what the spool held for older segments PostgreSQL is done with.
    expect(existsSync(join(spool, `${segName(1, 0x11)}.ok`))).toBe(false);
    expect(existsSync(join(spool, `${segName(1, 0x13)}.ok.999.tmp`))).toBe(false);
    expect(existsSync(join(spool, `${segName(1, 0x12)}.ok`)), "still marked ready").toBe(true);

    // kill -9 of a wal push while it waits: the worker goes on; a record is still only ever for a stored object.
    const more = [0x40, 0x41, 0x42, 0x43].map((n) => ready(n));
    const late = await runAndKillWhen(["-c", one, "wal", "push", join(data, "pg_wal", more[3])], () => putStarted());
    expect(late.killed).toBe(true);
    recordsBacked();
    const fetched = tempDir("fetched");
    for (const name of [...names, ...more]) {
      expect(await push(one, name), name).toMatchObject({ code: 0, stderr: "" });
      recordsBacked();
      const dest = join(fetched, name);
      // fetch reads what the push stored: no process of its own needed
      const f = await runInProcess(["-c", repo.configFile, "wal", "fetch", name, dest, "--system-id", `${SYSID}`]);
      expect(f, name).toMatchObject({ code: 0, stderr: "" });
      expect(readFileSync(dest).equals(segs.get(name)!), name).toBe(true);
    }
    expect(await workers()).toBe("");
  }, 180_000);
});

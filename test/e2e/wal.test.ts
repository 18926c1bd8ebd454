import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { makeDataDir, makeSegment, segName, sha256, SYSID } from "../helpers/wal-craft.js";

/** Every stored object under wal/ of the repository, relative to it. */
function walKeys(repoDir: string): string[] {
  const root = join(repoDir, "repository");
  if (!existsSync(join(root, "wal"))) return [];
  return (readdirSync(join(root, "wal"), { recursive: true }) as string[])
    .map((p) => `wal/${p}`)
    .filter((p) => /\.age$/.test(p))
    .sort();
}

describe("wal push and wal fetch (file://)", () => {
  const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_REPLICATION_URL}" }] });
  // The database host: recipients and the writer's store, no identity.
  const pushConfig = repo.write((c) => {
    delete c.encryption.identity_file;
    c.state_dir = tempDir("walstate");
  });
  const data = makeDataDir(tempDir("pgdata"), SYSID);
  const push = (path: string, cwd = data) => runCli(["-c", pushConfig, "wal", "push", path], { cwd });
  const fetch = (name: string, dest: string) =>
    runCli(["-c", repo.configFile, "wal", "fetch", name, dest], { cwd: data });

  it("stores a segment under its system id and timeline, and fetch gives back the same bytes", async () => {
    const name = segName(1, 3);
    const seg = makeSegment({ sysid: SYSID, tli: 1, segno: 3 });
    writeFileSync(join(data, "pg_wal", name), seg);
    const r = await push(`pg_wal/${name}`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(walKeys(repo.dir)).toEqual([`wal/${SYSID}/00000001/${name}.${sha256(seg)}.zst.age`]);
    const f = await fetch(name, "pg_wal/RECOVERYXLOG");
    expect(f.stderr).toBe("");
    expect(f.code).toBe(0);
    expect(readFileSync(join(data, "pg_wal", "RECOVERYXLOG")).equals(seg)).toBe(true);
  });

  it("a retry of a stored segment exits 0 and stores nothing new", async () => {
    const name = segName(1, 4);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 4 }));
    expect((await push(`pg_wal/${name}`)).code).toBe(0);
    const before = walKeys(repo.dir);
    const again = await push(`pg_wal/${name}`);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(walKeys(repo.dir)).toEqual(before);
  });

  it("a different segment under a stored name never comes back from fetch", async () => {
    const name = segName(1, 5);
    const first = makeSegment({ sysid: SYSID, tli: 1, segno: 5 });
    const other = makeSegment({ sysid: SYSID, tli: 1, segno: 5 });
    writeFileSync(join(data, "pg_wal", name), first);
    expect((await push(`pg_wal/${name}`)).code).toBe(0);
    writeFileSync(join(data, "pg_wal", name), other);
    expect((await push(`pg_wal/${name}`)).code).toBe(0); // stored beside the first, never over it
    const keys = walKeys(repo.dir).filter((k) => k.includes(name));
    expect(keys).toHaveLength(2);
    const f = await fetch(name, "pg_wal/RECOVERYXLOG-5");
    expect(f.code).toBe(255); // above 125: PostgreSQL stops recovery rather than ending it here
    expect(f.stderr.trim().split("\n")).toHaveLength(1);
    expect(f.stderr).toContain(`${name}: 2 different files are archived under this name`);
    for (const k of keys) expect(f.stderr).toContain(k);
    expect(existsSync(join(data, "pg_wal", "RECOVERYXLOG-5"))).toBe(false);
  });

  it("any failure but 'not archived' exits 255, so PostgreSQL stops recovery instead of promoting early", async () => {
    const name = segName(1, 0x21);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 1, segno: 0x21 }));
    expect((await push(`pg_wal/${name}`)).code).toBe(0);
    // No identity on this host: the file is archived but cannot be read.
    const noKey = await runCli(["-c", pushConfig, "wal", "fetch", name, "pg_wal/RECOVERYXLOG-k"], { cwd: data });
    expect(noKey.code).toBe(255);
    expect(noKey.stderr.trim().split("\n")).toHaveLength(1);
    expect(noKey.stderr).toMatch(/recovery stops here: exit 255\)\n$/);
    // A damaged object: every byte is checked before the file is written.
    const key = walKeys(repo.dir).find((k) => k.includes(name))!;
    const path = join(repo.dir, "repository", key);
    const bytes = readFileSync(path);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(path, bytes);
    const damaged = await fetch(name, "pg_wal/RECOVERYXLOG-d");
    expect(damaged.code).toBe(255);
    expect(existsSync(join(data, "pg_wal", "RECOVERYXLOG-d"))).toBe(false);
  });

  it("a file that is not archived exits 1 with one line and writes nothing", async () => {
    const f = await fetch(segName(1, 0x7f), "pg_wal/RECOVERYXLOG-x");
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(
      /^strongbox: error: object not found: .*WAL file 000000010000000000000[0-9A-F]{3} is not archived\)\n$/,
    );
    expect(
      readdirSync(join(data, "pg_wal")).filter((n) => n.startsWith("RECOVERYXLOG-x") || n.includes("strongbox")),
    ).toEqual([]);
  });

  it("history and backup files take the system id from pg_control in the working directory", async () => {
    const history = "1\t0/5000000\tno recovery target specified\n";
    writeFileSync(join(data, "pg_wal", "00000002.history"), history);
    const label = `${segName(1, 3)}.00000028.backup`;
    writeFileSync(join(data, "pg_wal", label), "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n");
    expect(await push("pg_wal/00000002.history")).toMatchObject({ code: 0, stderr: "" });
    expect(await push(`pg_wal/${label}`)).toMatchObject({ code: 0, stderr: "" });
    expect(walKeys(repo.dir)).toContain(
      `wal/${SYSID}/00000002/00000002.history.${sha256(Buffer.from(history))}.zst.age`,
    );
    expect(await fetch("00000002.history", "pg_wal/RECOVERYHISTORY")).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(data, "pg_wal", "RECOVERYHISTORY"), "utf8")).toBe(history);
    // Outside a data directory, with no --system-id: one line, non-zero.
    const elsewhere = await push(join(data, "pg_wal", "00000002.history"), tempDir("nodata"));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/cannot read the system identifier from global\/pg_control .*--system-id\n$/);
  });

  it("refuses what is not a WAL file, or a segment of another cluster", async () => {
    writeFileSync(join(data, "pg_wal", "notes.txt"), "x");
    const bad = await push("pg_wal/notes.txt");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/notes\.txt: not a WAL file name/);
    const name = segName(1, 9);
    writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid: SYSID, tli: 2, segno: 9 }));
    const wrongTli = await push(`pg_wal/${name}`);
    expect(wrongTli.code).toBe(3);
    expect(wrongTli.stderr).toMatch(/header timeline 2, name timeline 1/);
  });
});

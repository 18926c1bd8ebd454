import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
// doctor, backup and verify in-process; restore --target-time stays a process: it writes its own
// binary into the restored cluster's restore_command, which the server then runs.
import { runInProcess } from "../helpers/run-in-process.js";
import { clusterAt, freePort, giveToPostgres, initCluster, PG_BIN, type TestCluster } from "../helpers/pg-cluster.js";
import { processesLeft } from "../helpers/processes.js";
import { until } from "../helpers/until.js";
import { fill, handBlocks } from "../helpers/pitr-docs.js";
import { encryptTo, sha256 } from "../helpers/forge-store.js";
import { signedRepo } from "../helpers/signing.js";

const PASSWORD = "pitr-test-pw";

/** The archive settings `strongbox pitr setup` prints, with this test's config. */
function archiveSettings(configFile: string): string[] {
  const push = `${process.execPath} ${BIN} -c ${configFile} wal push %p`;
  return ["archive_mode=on", "wal_level=replica", "archive_timeout=5", `archive_command='${push}'`, "fsync=off"];
}

/** Waits until the segment holding the current WAL position (after a switch) is archived. */
async function switchAndWaitArchived(c: TestCluster): Promise<void> {
  const [{ wal }] = await c.query<{ wal: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS wal");
  await until(async () => {
    const [s] = await c.query<{ last: string | null; failed: string | null }>(
      "SELECT last_archived_wal AS last, last_failed_wal AS failed FROM pg_stat_archiver",
    );
    return s.last !== null && s.last >= wal;
  }, 60_000);
}

/** What a source cluster left in its repository: a base backup, then WAL up to past T, all archived. */
interface Archived {
  repo: TestRepo;
  /** The database host's config (writes) and the restore host's (reads). */
  host: string;
  restore: string;
  work: string;
  /** A moment after rows 101-150 and the insert into doomed, before doomed was dropped. */
  t: string;
}

/**
 * The archiving half of the point-in-time story on a real PostgreSQL: archive with `wal push`, take a base
 * backup, write rows, note T, drop a table, archive past it, verify. The server is stopped at the end.
 */
async function archivePastT(makeConfig: (url: string) => { repo: TestRepo; host: string; restore: string }) {
  const work = tempDir("pitr");
  const src = await initCluster(work, PASSWORD, []);
  const { repo, host, restore } = makeConfig(src.url());
  // The server runs wal push and wal fetch as the postgres user: it reads the config and identity and writes wal/.
  mkdirSync(join(repo.dir, "repository"), { recursive: true });
  giveToPostgres(repo.dir);
  const live = clusterAt(src.dataDir, src.port, PASSWORD, archiveSettings(host));
  try {
    live.start();
    // doctor reads the cluster's archiving settings (the host's config names the superuser here).
    const d = await runInProcess(["-c", host, "doctor"]);
    expect(d.stdout).toMatch(/source cluster.*PostgreSQL 1\d.*pg_basebackup.*archiving with wal push/);
    expect(d.stdout).not.toMatch(/source cluster.*(wal_level|archive_mode|archive_command) is/);
    await live.query(
      "CREATE TABLE kept (id int); CREATE TABLE doomed (id int); INSERT INTO kept SELECT generate_series(1, 100)",
    );
    const b = await runInProcess(["-c", host, "--json", "backup", "now"]);
    expect(b.stderr).not.toMatch(/error/i);
    expect(b.code).toBe(0);
    await live.query("INSERT INTO kept SELECT generate_series(101, 150); INSERT INTO doomed VALUES (1)");
    const [{ t }] = await live.query<{ t: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t",
    );
    await live.query("DROP TABLE doomed");
    await switchAndWaitArchived(live);
    // verify: the base, and every archived segment from its start on, each decrypted and checked.
    const v = await runInProcess(["-c", restore, "--json", "verify", "latest"]);
    expect(v.stderr).not.toMatch(/error/i);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/archived WAL from the base backup's start has no gap and every segment reads/);
    return { repo, host, restore, work, t };
  } finally {
    live.stop();
  }
}

let restores = 0;
/**
 * The restoring half: restore to T into a new data directory, start it: the rows written after the base
 * are there, the drop is not, and archiving is off.
 */
async function restoreToT(a: Archived, afterRestore?: (dataDir: string, repo: TestRepo, work: string) => void) {
  const restoredDir = join(a.work, `restored-${++restores}`);
  const restored = clusterAt(restoredDir, await freePort(), PASSWORD);
  try {
    const r = await runCli([
      ...["-c", a.restore, "--json", "restore", "latest", "--source", "cluster"],
      ...["--to-dir", restoredDir, "--target-time", a.t],
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    expect(out.recovery).toMatchObject({ action: "promote" });
    afterRestore?.(restoredDir, a.repo, a.work);
    giveToPostgres(restoredDir);
    restored.start();
    await until(
      async () => (await restored.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r"))[0].r === false,
      60_000,
    );
    expect(await restored.query("SELECT count(*)::int AS n FROM kept")).toEqual([{ n: 150 }]);
    expect(await restored.query("SELECT count(*)::int AS n FROM doomed")).toEqual([{ n: 1 }]);
    expect(await restored.query("SHOW archive_mode")).toEqual([{ archive_mode: "off" }]);
  } finally {
    restored.stop();
  }
}

/** The whole point-in-time story, on a cluster and repository of its own. */
async function pitrRoundTrip(
  makeConfig: (url: string) => { repo: TestRepo; host: string; restore: string },
  afterRestore?: (dataDir: string, repo: TestRepo, work: string) => void,
): Promise<void> {
  await restoreToT(await archivePastT(makeConfig), afterRestore);
}

/**
 * The plain file:// archive, made once: the plain restore, the by-hand restore and the damaged-segment
 * verify all read it (each made its own, identical, before). Whichever test comes first makes it; the
 * damaged-segment test damages a copy of it.
 */
let plainArchive: Promise<Archived> | undefined;
const plain = () =>
  (plainArchive ??= archivePastT((url) => {
    const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url }] });
    return { repo, host: repo.configFile, restore: repo.configFile };
  }));

const s3 = inject("s3");

/** docs/point-in-time-recovery.md's shell restore_command, installed as printed, in place of strongbox's. */
function handFetch(dataDir: string, repo: TestRepo, work: string): void {
  const walDir = join(repo.dir, "repository", "wal");
  const [sysid] = readdirSync(walDir);
  const script = join(work, "strongbox-wal-fetch");
  const block = fill(handBlocks[1], {
    SCRIPT: script,
    REPO: join(repo.dir, "repository"),
    SYSID: sysid,
    IDENTITY: repo.identityFile,
  });
  execFileSync("bash", ["-euo", "pipefail", "-c", block], { cwd: work, env: { PATH: "/usr/bin:/bin" } });
  const auto = join(dataDir, "postgresql.auto.conf");
  const conf = readFileSync(auto, "utf8");
  expect(conf).toMatch(/^restore_command = .*wal fetch %f %p'$/m);
  writeFileSync(auto, conf.replace(/^restore_command = .*$/m, `restore_command = '${script} %f %p'`));
}

describe.skipIf(!PG_BIN)("point-in-time recovery of a postgres-cluster source", () => {
  it("file://: base backup, WAL by wal push, restore to T: rows written after the base are there, the drop is not", async () => {
    await restoreToT(await plain());
  }, 240_000);

  it("file://, wal.async: the same round trip with WAL stored by the spool's worker", async () => {
    let host = "";
    await pitrRoundTrip((url) => {
      const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url }] });
      host = repo.write((c) => {
        c.state_dir = join(repo.dir, "state");
        c.sources[0].wal = { async: { processes: 2 } };
      });
      mkdirSync(join(repo.dir, "state"));
      return { repo, host, restore: repo.configFile };
    });
    const log = readdirSync(join(host, "..", "state", "wal-spool"), { recursive: true }).filter((f) =>
      String(f).endsWith("worker.log"),
    );
    expect(log).toHaveLength(1);
    expect(await processesLeft(`-c ${host} wal push-worke[r]`)).toBe("");
  }, 240_000);

  it("file://, by hand: the docs' shell restore_command (age -d, zstd -d, sha256sum) recovers to T the same", async () => {
    await restoreToT(await plain(), handFetch);
  }, 240_000);

  it("file://: a missing or damaged WAL segment after the base makes verify exit 3, naming it", async () => {
    // The shared archive stays intact for the tests that restore from it, whatever their order: this one
    // damages a copy.
    const { repo } = await plain();
    const root = join(tempDir("pitr-damaged"), "repository");
    cpSync(join(repo.dir, "repository"), root, { recursive: true });
    const config = repo.write((c) => (c.repository.url = `file://${root}`));
    const segments = (readdirSync(join(root, "wal"), { recursive: true }) as string[])
      .filter((p) => /\/[0-9A-F]{24}\.[0-9a-f]{64}\./.test(p))
      .sort();
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const middle = segments[Math.floor(segments.length / 2)];
    const name = /([0-9A-F]{24})\./.exec(middle)![1];
    const path = join(root, "wal", middle);
    const bytes = readFileSync(path);
    bytes[bytes.length - 50] ^= 0xff;
    writeFileSync(path, bytes);
    const damaged = await runInProcess(["-c", config, "verify", "latest"]);
    expect(damaged.code).toBe(3);
    expect(damaged.stderr).toContain(`WAL ${name}: damaged`);
    rmSync(path);
    const missing = await runInProcess(["-c", config, "verify", "latest"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`WAL ${name}`);
  }, 240_000);

  it("file://, signing configured: WAL is signed, restore to T replays only signed WAL; a forged .history is ignored", async () => {
    const { repo } = await signedRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "" }] });
    let restoredDir = "";
    const history = Buffer.from("1\tFF/0\tforged\n");
    const sealed = await encryptTo(repo.recipient, history);
    await pitrRoundTrip(
      (url) => {
        repo.config.sources[0].url = url;
        repo.write();
        return { repo, host: repo.configFile, restore: repo.configFile };
      },
      (dataDir, r) => {
        // A writer-key forger's timeline 2, branching far ahead: trusted, recovery would follow it and promote to 3.
        restoredDir = dataDir;
        const [sysid] = readdirSync(join(r.dir, "repository", "wal"));
        const dir = join(r.dir, "repository", "wal", sysid, "00000002");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `00000002.history.${sha256(history)}.age`), sealed);
        giveToPostgres(r.dir);
      },
    );
    const keys = (readdirSync(join(repo.dir, "repository", "wal"), { recursive: true }) as string[]).filter((k) =>
      k.endsWith(".zst.age"),
    );
    expect(keys.length).toBeGreaterThanOrEqual(3);
    for (const k of keys) expect(k).toMatch(/\.[0-9a-f]{64}\.[0-9a-f]{128}\.zst\.age$/);
    // The recovered cluster promoted to timeline 2, the next after the real 1: the forged history was not fetched.
    const wal = readdirSync(join(restoredDir, "pg_wal"));
    expect(wal).toContain("00000002.history");
    expect(wal).not.toContain("00000003.history");
    const v = await runInProcess(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code).toBe(0);
    expect(v.stdout + v.stderr).toMatch(
      // The key is quoted; in a JSON log line its quotes are escaped.
      /ignored 1 untrusted WAL object: \\?"wal\/\d+\/00000002\/00000002\.history\.[^"]*\\?" \(unsigned\)/,
    );
  }, 240_000);

  it.skipIf(!s3)(
    "Ceph RGW: base backup and wal push with a writer that can only PutObject (no identity), restore and wal fetch with the reader",
    async () => {
      await pitrRoundTrip((url) => {
        const repo = makeRepo({
          sources: [{ name: "cluster", type: "postgres-cluster", url }],
          s3: s3!,
          roles: { writer: s3!.writer, reader: s3!.reader },
        });
        // The database host: the writer's key and the recipients, nothing that reads or decrypts.
        const host = repo.write((c) => {
          delete c.repository.s3.credentials.reader;
          delete c.encryption.identity_file;
        });
        // The restore host: the reader's key and the identity, nothing that writes.
        const restore = repo.write((c) => delete c.repository.s3.credentials.writer);
        return { repo, host, restore };
      });
    },
    240_000,
  );
});

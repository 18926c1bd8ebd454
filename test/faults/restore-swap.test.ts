// issue 21 item 6: a --force restore of several sources killed (kill -9) between its per-source swaps.
// The run is paused by a test hook (STRONGBOX_TEST_PAUSE_BETWEEN_SWAPS, inert without it) right after
// the first swap and killed there; the target must say it is unfinished and which sources are old,
// and the next restore completes it (every staging directory still there) or undoes it (one lost).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { secondApart } from "../helpers/backup-clock.js";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";
import { snapshotTree } from "../helpers/tree.js";

const JOURNAL = "STRONGBOX-RESTORE-UNFINISHED.json";
const SOURCES = ["media", "projects", "text"];

/** Polls `cond` every 5 ms until it holds (true) or the child ended first (false). */
async function until(child: ChildProcess, cond: () => boolean, limitMs = 60_000): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

async function setup() {
  // The old tree's backup, then the new one's a second later by the backups' clock: `latest` is the new one
  // however fast the two runs follow each other (ids have one-second resolution).
  const nextSecond = secondApart();
  const data = Object.fromEntries(SOURCES.map((s) => [s, tempDir(`rsw-${s}`)]));
  for (const s of SOURCES) writeFileSync(join(data[s], "a.txt"), `${s}: old`);
  const repo = makeRepo({ sources: SOURCES.map((name) => ({ name, type: "files", path: data[name] })) });
  expect((await runCli(["-c", repo.configFile, "backup", "now"], { env: nextSecond() })).code).toBe(0);
  const to = tempDir("rsw-to");
  expect((await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to])).code).toBe(0);
  const oldTrees = Object.fromEntries(SOURCES.map((s) => [s, snapshotTree(join(to, s))]));
  for (const s of SOURCES) writeFileSync(join(data[s], "a.txt"), `${s}: new`);
  for (const s of SOURCES) writeFileSync(join(data[s], "b.txt"), `${s}: added`);
  expect((await runCli(["-c", repo.configFile, "backup", "now"], { env: nextSecond() })).code).toBe(0);
  const newTrees = Object.fromEntries(SOURCES.map((s) => [s, snapshotTree(data[s])]));
  return { repo, to, oldTrees, newTrees };
}

const pg = inject("pg");

/** restore latest --force, killed -9 right after its first swap. */
async function killAfterFirstSwap(configFile: string, to: string, extra: string[] = []): Promise<void> {
  const pause = join(tempDir("rsw-pause"), "paused");
  const child = spawn(
    process.execPath,
    [BIN, "-c", configFile, "restore", "latest", "--to-dir", to, "--force", ...extra],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STRONGBOX_TEST_PAUSE_BETWEEN_SWAPS: pause },
      stdio: "ignore",
    },
  );
  const done = new Promise<void>((r) => child.on("close", () => r()));
  const caught = await until(child, () => existsSync(pause));
  child.kill("SIGKILL");
  await done;
  expect(caught).toBe(true); // without the journal's swap loop the hook never fires and the restore just finishes
}

describe("a --force restore of several sources killed between swaps", () => {
  it(
    "the target names itself unfinished and its old sources; the next restore completes the swap",
    { timeout: 120_000 },
    async () => {
      const { repo, to, oldTrees, newTrees } = await setup();
      await killAfterFirstSwap(repo.configFile, to);
      // mixed on disk, and it says so, plainly, in a file ls shows
      expect(snapshotTree(join(to, "media"))).toEqual(newTrees.media);
      expect(snapshotTree(join(to, "text"))).toEqual(oldTrees.text);
      const journal = JSON.parse(readFileSync(join(to, JOURNAL), "utf8"));
      expect(journal.old).toEqual(["projects", "text"]);
      expect(journal.note).toMatch(
        /unfinished restore of backup \S+ into .*: media came from that backup, projects, text are still the old trees\. The next strongbox restore into this directory completes it/,
      );

      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
      expect(r.stderr).toMatch(/unfinished restore of backup .* Completing it: swapping in projects, text/);
      expect(r.code).toBe(0);
      expect(readdirSync(to).sort()).toEqual(SOURCES);
      for (const s of SOURCES) expect(snapshotTree(join(to, s))).toEqual(newTrees[s]);
    },
  );

  it(
    "a staging directory lost after the kill: the next restore puts every old tree back instead",
    { timeout: 120_000 },
    async () => {
      const { repo, to, oldTrees } = await setup();
      await killAfterFirstSwap(repo.configFile, to);
      const journal = JSON.parse(readFileSync(join(to, JOURNAL), "utf8"));
      rmSync(join(to, journal.entries[2].staging), { recursive: true });
      // without --force the next restore refuses the (old, whole) trees once it has put them back
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to]);
      expect(r.stderr).toMatch(
        /A staging directory is missing, so it cannot be completed: putting every old tree back/,
      );
      expect(r.stderr).toMatch(/is not empty; refusing to restore over it without --force/);
      expect(r.code).toBe(2);
      expect(readdirSync(to).sort()).toEqual(SOURCES);
      for (const s of SOURCES) expect(snapshotTree(join(to, s))).toEqual(oldTrees[s]);
    },
  );

  it.skipIf(!pg)(
    "with a database in the same restore: the database is restored (and its mark cleared) before the first swap",
    { timeout: 120_000 },
    async () => {
      const src = await createDb(pg!, "rswsrc");
      await withClient(src.url, (c) =>
        c.query("CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 100)"),
      );
      const a = tempDir("rswdb-a");
      const b = tempDir("rswdb-b");
      writeFileSync(join(a, "x.txt"), "a");
      writeFileSync(join(b, "y.txt"), "b");
      const repo = makeRepo({
        sources: [
          { name: "db", type: "postgres", url: src.url },
          { name: "a", type: "files", path: a },
          { name: "b", type: "files", path: b },
        ],
      });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const to = tempDir("rswdb-to");
      const dst = await createDb(pg!, "rswdst");
      await killAfterFirstSwap(repo.configFile, to, ["--to-db", dst.url]);
      expect(
        await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n),
      ).toBe(100);
      const mark = await withClient(dst.url, (c) =>
        c.query(
          "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
        ),
      );
      expect(mark.rows[0].c).toBeNull();
      expect(JSON.parse(readFileSync(join(to, JOURNAL), "utf8")).old).toEqual(["b"]);
    },
  );
});

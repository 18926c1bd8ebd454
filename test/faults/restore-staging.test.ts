// Kills at chosen moments (not timers): the staging directory and its marker, the swap window of
// --force, and database restores killed while pg_restore is at work.
import { execSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
// runProcess where a run must write its temp files under the TMPDIR it is given (os.tmpdir() is fixed
// per process: in-process it would not be the test's).
import { BIN, makeRepo, runCli as runProcess, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";
import { snapshotTree } from "../helpers/tree.js";

const pg = inject("pg");
const MARKER = `staging-marker-${randomBytes(6).toString("hex")}`;

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: "ignore",
  });
  return { child, done: new Promise((r) => child.on("close", () => r())) };
}

/** Polls `cond` every 5 ms until it holds (true) or the child ended first (false). */
async function until(child: ChildProcess, cond: () => boolean, limitMs = 20_000): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

function grepTree(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile() && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

const pgRestoreOn = (db: string) => execSync(`pgrep -f -- 'pg_restore.*--dbname=${db}( |$)' || true`).toString().trim();

async function noPgRestoreOn(db: string): Promise<string> {
  let left = "";
  for (let i = 0; i < 40 && (left = pgRestoreOn(db)); i++) await new Promise((r) => setTimeout(r, 250));
  return left;
}

describe("file restore staging", () => {
  it(
    "kill -9 while files are written: only a marked partial directory stays; the next restore reports it in one line, removes it, and succeeds",
    { timeout: 120_000 },
    async () => {
      const data = tempDir("rs-data");
      mkdirSync(join(data, "media"));
      for (let i = 0; i < 6; i++)
        writeFileSync(join(data, "media", `clip-${i}.bin`), Buffer.concat([Buffer.from(MARKER), randomBytes(3 << 20)]));
      writeFileSync(join(data, "note.txt"), MARKER);
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
      const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
      expect(b.code).toBe(0);
      const id = JSON.parse(b.stdout).id;
      const want = snapshotTree(data);
      const to = tempDir("rs-to");
      const partials = () => readdirSync(to).filter((n) => n.startsWith(".strongbox-partial-assets-"));

      const run = start(["-c", repo.configFile, "restore", id, "--to-dir", to]);
      // kill once the staging directory holds some restored media, so the tree is surely partial
      const caught = await until(run.child, () =>
        partials().some((p) => existsSync(join(to, p, "media", "clip-1.bin"))),
      );
      run.child.kill("SIGKILL");
      await run.done;
      expect(caught).toBe(true);
      expect(existsSync(join(to, "assets"))).toBe(false);
      const [partial] = partials();
      expect(readdirSync(to)).toEqual([partial]);
      expect(readFileSync(join(to, partial, ".strongbox-restore-unfinished"), "utf8")).toMatch(
        new RegExp(`unfinished restore of backup ${id}, source assets.*\\n.*not a restored tree`),
      );

      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", to]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/assets → .*: restored and checked/);
      expect(r.stderr.split("\n").filter((l) => l.includes(".strongbox-partial-"))).toEqual([
        expect.stringMatching(
          new RegExp(`removing .*${partial}: left by a restore that was killed before it finished`),
        ),
      ]);
      expect(readdirSync(to)).toEqual(["assets"]);
      expect(snapshotTree(join(to, "assets"))).toEqual(want);
      expect(existsSync(join(to, "assets", ".strongbox-restore-unfinished"))).toBe(false);
      expect(statSync(join(to, "assets")).mode & 0o777).toBe(0o755);
    },
  );

  it("a --force restore killed between setting the old tree aside and renaming the new one: the next restore puts the old tree back", async () => {
    const data = tempDir("rsw-data");
    writeFileSync(join(data, "a.txt"), "old tree");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const to = tempDir("rsw-to");
    expect((await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to])).code).toBe(0);
    const before = snapshotTree(join(to, "assets"));
    // the state a kill -9 leaves in that window, made by hand with the pid of a process that is gone
    const dead = spawnSync("true").pid;
    renameSync(join(to, "assets"), join(to, `.strongbox-replaced-assets-${dead}-0123abcd`));
    mkdirSync(join(to, `.strongbox-partial-assets-${dead}-89abcdef`));
    writeFileSync(join(to, `.strongbox-partial-assets-${dead}-89abcdef`, "a.txt"), "new tree");

    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to]);
    expect(r.stderr).toMatch(
      /putting .*\.strongbox-replaced-assets-\d+-0123abcd back as .*\/assets: a restore with --force was killed/,
    );
    expect(r.stderr).toMatch(/removing .*\.strongbox-partial-assets-\d+-89abcdef: left by a restore that was killed/);
    expect(r.stderr).toMatch(/assets is not empty; refusing to restore over it without --force/);
    expect(r.code).toBe(2);
    expect(readdirSync(to)).toEqual(["assets"]);
    expect(snapshotTree(join(to, "assets"))).toEqual(before);
  });

  it("a --force restore killed while it removed the old tree (the new one in place): the next restore removes the rest and keeps the new tree", async () => {
    const data = tempDir("rsx-data");
    writeFileSync(join(data, "a.txt"), "the tree");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const to = tempDir("rsx-to");
    expect((await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to])).code).toBe(0);
    const restored = snapshotTree(join(to, "assets"));
    // the state a kill -9 during the removal leaves: the new tree in place, half of the old one aside
    const dead = spawnSync("true").pid;
    const aside = join(to, `.strongbox-replaced-assets-${dead}-0123abcd`);
    mkdirSync(join(aside, "half"), { recursive: true });
    writeFileSync(join(aside, "half", "b.txt"), "old tree, half removed");

    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(r.stderr).toMatch(
      /removing .*\.strongbox-replaced-assets-\d+-0123abcd: a tree set aside by a restore with --force that was killed after the new tree was in place/,
    );
    expect(r.code).toBe(0);
    expect(readdirSync(to)).toEqual(["assets"]);
    expect(snapshotTree(join(to, "assets"))).toEqual(restored);
  });

  it("--force with a target that is a file: refused before anything is written, no source replaced", async () => {
    const a = tempDir("rsf-a");
    const b = tempDir("rsf-b");
    writeFileSync(join(a, "x.txt"), "from backup");
    writeFileSync(join(b, "y.txt"), "from backup");
    const repo = makeRepo({
      sources: [
        { name: "a", type: "files", path: a },
        { name: "b", type: "files", path: b },
      ],
    });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const to = tempDir("rsf-to");
    mkdirSync(join(to, "a"));
    writeFileSync(join(to, "a", "local.txt"), "local edit");
    writeFileSync(join(to, "b"), "a file where source b's directory would go");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
    expect(r.stderr).toMatch(/\/b exists and is not a directory/);
    expect(r.code).toBe(2);
    // a failure never leaves a mixed result: source a was not swapped while b could not be
    expect(readdirSync(join(to, "a"))).toEqual(["local.txt"]);
    expect(readdirSync(to).sort()).toEqual(["a", "b"]);
  });
});

describe.skipIf(!pg)("database restores killed while pg_restore works", () => {
  it(
    "single transaction and --jobs 2: no pg_restore outlives strongbox, nothing committed (single), no plaintext in TMPDIR, the mark makes the next restore refuse",
    { timeout: 120_000 },
    async () => {
      const src = await createDb(pg!, "rssrc");
      await withClient(src.url, async (c) => {
        await c.query("CREATE TABLE t (id int primary key, note text)");
        await c.query(`INSERT INTO t SELECT g, '${MARKER}' || md5(g::text) FROM generate_series(1, 300000) g`);
        await c.query("CREATE TABLE u (id int primary key)");
        await c.query("INSERT INTO u SELECT generate_series(1, 200000)");
      });
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const tmp = tempDir("rs-tmp");

      const one = await createDb(pg!, "rsone");
      const a = start(["-c", repo.configFile, "restore", "latest", "--to-db", one.url], { TMPDIR: tmp });
      // kill while the COPY of the big table runs, so the kill surely lands inside the transaction
      const copying = async () =>
        (
          await withClient(one.url, (c) =>
            c.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query ILIKE 'COPY%'",
            ),
          )
        ).rows[0].n > 0;
      let caughtOne = false;
      for (let i = 0; i < 2000 && a.child.exitCode === null && a.child.signalCode === null && !caughtOne; i++)
        caughtOne = await copying();
      a.child.kill("SIGKILL");
      await a.done;
      expect(caughtOne).toBe(true);
      expect(await noPgRestoreOn(one.name)).toBe("");
      const tables = await withClient(one.url, (c) =>
        c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"),
      );
      expect(tables.rows[0].n).toBe(0);

      const par = await createDb(pg!, "rspar");
      const b = start(["-c", repo.configFile, "restore", "latest", "--to-db", par.url, "--jobs", "2"], { TMPDIR: tmp });
      // pg_restore --jobs starts only once the whole dump is spooled: the plaintext is complete now
      const caughtPar = await until(b.child, () => pgRestoreOn(par.name) !== "");
      await new Promise((r) => setTimeout(r, 200));
      b.child.kill("SIGKILL");
      await b.done;
      expect(caughtPar).toBe(true);
      expect(await noPgRestoreOn(par.name)).toBe("");
      expect(readdirSync(tmp).filter((n) => n.startsWith("strongbox-restore-"))).toEqual([]);
      expect(grepTree(tmp, MARKER)).toEqual([]);
      const note = await withClient(par.url, (c) =>
        c.query(
          "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
        ),
      );
      expect(note.rows[0].c).toMatch(/^strongbox: a restore into this database started .* and has not finished/);

      const again = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-db", par.url, "--jobs", "2"], {
        env: { TMPDIR: tmp },
      });
      expect(again.stderr).toMatch(
        /target database \S*rspar\S*: strongbox: a restore into this database started .* has not finished .*may be incomplete/,
      );
      const hasTables = (
        await withClient(par.url, (c) =>
          c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"),
        )
      ).rows[0].n;
      if (hasTables) {
        expect(again.code).toBe(2);
        expect(again.stderr).toMatch(/refusing to restore over it without --force/);
      }
      const forced = await runProcess(
        ["-c", repo.configFile, "--json", "restore", "latest", "--to-db", par.url, "--jobs", "2", "--force"],
        { env: { TMPDIR: tmp } },
      );
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout).sources[0].checks[0]).toMatchObject({
        ok: true,
        detail: "2 tables, 500000 rows",
      });
      const cleared = await withClient(par.url, (c) =>
        c.query(
          "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
        ),
      );
      expect(cleared.rows[0].c).toBeNull();
      expect(grepTree(tmp, MARKER)).toEqual([]);
    },
  );
});

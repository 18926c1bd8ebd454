// Interrupted and failed restores must never look like successful ones: kill -9 of strongbox at
// seeded points of file and database restores, and an object that fails its integrity check.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
// runProcess where a run must write its temp files under the TMPDIR it is given (os.tmpdir() is fixed
// per process: in-process it would not be the test's).
import { BIN, makeRepo, runAndKill, runAndKillWhen, runCli as runProcess, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { processesLeft, processesMatching } from "../helpers/processes.js";
import { mulberry32 } from "../helpers/random.js";
import { tamper } from "../helpers/forge.js";
import { createDb, withClient } from "../helpers/pg.js";
import { snapshotTree } from "../helpers/tree.js";

const pg = inject("pg");
const SEED = Number(process.env.STRONGBOX_FAULT_SEED ?? 9);
const MARKER = `restore-marker-${randomBytes(6).toString("hex")}`;

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

/** pg_restore processes (leader or parallel workers) still working on database `db`, after up to 10 s. */
const pgRestoresOn = (db: string) => processesLeft(`--dbname=${db}( |$)`);

describe("interrupted file restores", () => {
  it(
    "kill -9 at 8 seeded points: the target never holds a partial tree, the next restore cleans up and succeeds",
    { timeout: 180_000 },
    async () => {
      const rnd = mulberry32(SEED);
      const data = tempDir("rk-data");
      mkdirSync(join(data, "media"));
      for (let i = 0; i < 5; i++) writeFileSync(join(data, "media", `clip-${i}.bin`), randomBytes(4 << 20));
      for (let i = 0; i < 200; i++) writeFileSync(join(data, `item-${i}.json`), JSON.stringify({ i }));
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const want = snapshotTree(data);
      const to = tempDir("rk-to");
      let killedMidRun = 0;
      for (let i = 0; i < 8; i++) {
        const { killed } = await runAndKill(
          ["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"],
          150 + Math.floor(rnd() * 900),
        );
        if (killed) killedMidRun++;
        // Whatever the kill point: either no restored tree, or a whole one that matches the source.
        if (existsSync(join(to, "assets"))) expect(snapshotTree(join(to, "assets"))).toEqual(want);
        // A kill while the trees are swapped (--force) leaves the old tree set aside: whole if the new
        // one is not in place yet (the next restore puts it back); once it is, the old tree is renamed
        // .strongbox-deleting-… and removed (the next restore finishes removing it, never puts it back).
        // Nothing else may be left.
        const aside = readdirSync(to).filter((n) => n.startsWith(".strongbox-replaced-assets-"));
        expect(aside.length).toBeLessThanOrEqual(1);
        if (!existsSync(join(to, "assets"))) for (const n of aside) expect(snapshotTree(join(to, n))).toEqual(want);
        const leftover = (n: string) => [".strongbox-partial-", ".strongbox-deleting-"].some((p) => n.startsWith(p));
        expect(readdirSync(to).filter((n) => !leftover(n) && !aside.includes(n) && n !== "assets")).toEqual([]);
      }
      expect(killedMidRun).toBeGreaterThan(0);
      const partialsLeft = readdirSync(to).filter(
        (n) =>
          n.startsWith(".strongbox-partial-") ||
          n.startsWith(".strongbox-replaced-") ||
          n.startsWith(".strongbox-deleting-"),
      ).length;
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to, "--force"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/assets → .*: restored and checked/);
      if (partialsLeft)
        expect(r.stderr).toMatch(
          /left by a restore that was killed before it finished|a restore with --force was killed while it swapped the trees|set aside by a restore with --force that was killed after the new tree was in place|an old tree a restore with --force was deleting when it was killed/,
        );
      expect(readdirSync(to)).toEqual(["assets"]);
      expect(snapshotTree(join(to, "assets"))).toEqual(want);
      expect(statSync(join(to, "assets")).mode & 0o777).toBe(0o755);
    },
  );

  it("SIGTERM mid-restore stops it cleanly: exit 143, nothing in the target, the lock released", async () => {
    const data = tempDir("rt-data");
    // 60 MiB: still being written long after its staging directory appears (a SIGTERM too late would see exit 0).
    for (let i = 0; i < 6; i++) writeFileSync(join(data, `f${i}.bin`), randomBytes(10 << 20));
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], compression: "none" });
    const locks = tempDir("rt-locks");
    const cfg = repo.write((c) => (c.lock_dir = locks));
    expect((await runCli(["-c", cfg, "backup", "now"])).code).toBe(0);
    const to = tempDir("rt-to");
    const child = spawn(process.execPath, [BIN, "-c", cfg, "restore", "latest", "--to-dir", to], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    // Wait until it is writing into its staging directory (however long a busy machine takes to get
    // there: a SIGTERM before its handlers are in place would end it by the signal), then ask it to stop.
    const staging = () => readdirSync(to).some((n) => n.startsWith(".strongbox-partial-"));
    for (const end = Date.now() + 60_000; !staging(); await new Promise((r) => setTimeout(r, 10)))
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`restore never wrote its staging directory: ${stderr}`);
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(stderr).toMatch(/interrupted by SIGTERM/);
    expect(readdirSync(to)).toEqual([]);
    expect(readdirSync(locks)).toEqual([]);
  });

  it("an object that fails its integrity check leaves nothing of it in the target (exit 3), and --force keeps the old tree", async () => {
    const data = tempDir("ri-data");
    writeFileSync(join(data, "big.bin"), randomBytes(600_000));
    writeFileSync(join(data, "a.txt"), "a");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const good = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const bad = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
    const store = join(repo.dir, "repository");
    const obj = readdirSync(join(store, "backups", bad)).find((f) => f.startsWith("assets."))!;
    // a flipped byte in the last chunk, complete.json re-hashed: only age authentication can catch it
    tamper(store, bad, obj, (b) => ((b[b.length - 50] ^= 1), b), { rehash: true });
    const to = tempDir("ri-to");
    const r = await runCli(["-c", repo.configFile, "restore", bad, "--to-dir", to]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/authentication/);
    expect(readdirSync(to)).toEqual([]);
    // over an existing good restore with --force: the good tree stays as it was
    expect((await runCli(["-c", repo.configFile, "restore", good, "--to-dir", to])).code).toBe(0);
    const before = snapshotTree(join(to, "assets"));
    const f = await runCli(["-c", repo.configFile, "restore", bad, "--to-dir", to, "--force"]);
    expect(f.code).toBe(3);
    expect(readdirSync(to)).toEqual(["assets"]);
    expect(snapshotTree(join(to, "assets"))).toEqual(before);
  });
});

describe.skipIf(!pg)("interrupted database restores", () => {
  it(
    "kill -9 of strongbox mid-restore: single transaction rolls back, no pg_restore lives on; --jobs leaves no plaintext on disk and a mark the next restore reports",
    { timeout: 180_000 },
    async () => {
      const src = await createDb(pg!, "rksrc");
      await withClient(src.url, async (c) => {
        await c.query("CREATE TABLE t (id int primary key, note text)");
        await c.query(`INSERT INTO t SELECT g, '${MARKER}' || md5(g::text) FROM generate_series(1, 300000) g`);
      });
      const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url }] });
      expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
      const tmp = tempDir("rk-tmp");

      const single = await createDb(pg!, "rkone");
      const ok = await runProcess(["-c", repo.configFile, "restore", "latest", "--to-db", single.url], {
        env: { TMPDIR: tmp },
      });
      expect(ok.code).toBe(0);
      // Killed while pg_restore works (a timer guessed from a full run's time could fire before the
      // unfinished mark was written, or after it was cleared): the mark is written before pg_restore starts.
      const restoring = (db: string) => () => processesMatching(`--dbname=${db}( |$)`) !== "";
      const target = await createDb(pg!, "rktarget");
      expect(
        await runAndKillWhen(
          ["-c", repo.configFile, "restore", "latest", "--to-db", target.url],
          restoring(target.name),
          { TMPDIR: tmp },
        ),
      ).toMatchObject({ killed: true });
      expect(await pgRestoresOn(target.name)).toBe("");
      const tables = await withClient(target.url, (c) =>
        c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"),
      );
      // One transaction: the kill rolled it back, so no tables, and the database says a restore did not finish.
      expect(tables.rows[0].n).toBe(0);
      const mark = await withClient(target.url, (c) =>
        c.query(
          "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
        ),
      );
      expect(mark.rows[0].c).toMatch(/^strongbox: a restore into this database started .* and has not finished/);

      const par = await createDb(pg!, "rkjobs");
      expect(
        await runAndKillWhen(
          ["-c", repo.configFile, "restore", "latest", "--to-db", par.url, "--jobs", "2"],
          restoring(par.name),
          { TMPDIR: tmp },
        ),
      ).toMatchObject({ killed: true });
      expect(await pgRestoresOn(par.name)).toBe("");
      expect(grepTree(tmp, MARKER)).toEqual([]);
      expect(grepTree(tmp, "PGDMP")).toEqual([]);
      const again = await runProcess(
        ["-c", repo.configFile, "restore", "latest", "--to-db", par.url, "--jobs", "2", "--force"],
        { env: { TMPDIR: tmp } },
      );
      expect(again.stderr).toMatch(/a restore into this database started .* and has not finished/);
      expect(again.code).toBe(0);
      const note = await withClient(par.url, (c) =>
        c.query(
          "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = current_database()",
        ),
      );
      expect(note.rows[0].c).toBeNull();
    },
  );
});

// kill -9 at seeded random points of real backups (files + PostgreSQL) and prunes on a file://
// repository, with the invariants checked after every kill:
//   - no complete.json without every object intact (each complete backup verifies, exit 0, "<id>  OK");
//   - prune never removes the newest complete backup of any source;
//   - nothing hangs (every run has a deadline);
//   - no plaintext of the sources is left on disk (TMPDIR and the repository are searched for markers);
//   - leftovers (temp files, stale locks) are cleaned by the next run.
// STRONGBOX_FAULT_SEED changes the seed; the summary line gives the counts the README quotes.
// Only the runs that are killed need a process of their own: the checks between kills (list, verify) and
// the backups that refill the pool for prune run in-process (no process start-up each time), and the
// plaintext search reads each file once, not again at every check while it stays unchanged.
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, runAndKill, runAndKillWhen, runCli, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess } from "../helpers/run-in-process.js";
import { mulberry32 } from "../helpers/random.js";
import { createDb, withClient } from "../helpers/pg.js";

const pg = inject("pg");
const SEED = Number(process.env.STRONGBOX_FAULT_SEED ?? 9);
const POINTS = 20;
const MARKER = `plaintext-marker-${randomBytes(6).toString("hex")}`;

/**
 * Every file below `dir` whose bytes contain `needle`. `clean` remembers the files found clean (by
 * path, inode, size and mtime): one that has not changed since is not read again; a changed one is.
 */
function filesContaining(dir: string, needle: string, clean: Set<string>): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false, bigint: true });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (!st.isFile() || st.size >= 256n << 20n) continue;
      else if (clean.has(`${p} ${st.ino} ${st.size} ${st.mtimeNs}`)) continue;
      else if (readFileSync(p).includes(needle)) hits.push(p);
      else clean.add(`${p} ${st.ino} ${st.size} ${st.mtimeNs}`);
    }
  };
  walk(dir);
  return hits;
}

const stats = { faults: 0, killedMidRun: 0, violations: 0 };

/** The files below `dir` now (a directory removed while it is read ends the walk early). */
function filesUnder(dir: string): string[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else files.push(join(d, e.name));
  };
  try {
    walk(dir);
  } catch {
    // gone or changing under us: what was found so far
  }
  return files;
}

const fileCount = (dir: string) => filesUnder(dir).length;

/**
 * Runs the CLI and kills it: at `ms` after its start (any point, start-up included), or, with `ms`
 * undefined, as soon as the number of files under `dir` differs from now (its first write or delete
 * there: a point a timer finds only by luck on a busy or a fast machine).
 */
function killAtTimeOrChange(args: string[], env: NodeJS.ProcessEnv, dir: string, ms: number | undefined) {
  if (ms !== undefined) return runAndKill(args, ms, env);
  const start = fileCount(dir);
  return runAndKillWhen(args, () => fileCount(dir) !== start, env);
}

async function checkInvariants(
  repo: TestRepo,
  env: NodeJS.ProcessEnv,
  verified: Set<string>,
  label: string,
  clean: Set<string>,
): Promise<{ problems: string[]; rows: { id: string; complete: boolean }[] }> {
  const problems: string[] = [];
  const list = await runInProcess(["-c", repo.configFile, "--json", "list", "--all"], { env });
  if (list.code !== 0) problems.push(`${label}: list exits ${list.code}: ${list.stderr.trim()}`);
  const rows =
    list.code === 0 ? (JSON.parse(list.stdout) as { id: string; complete: boolean; damaged?: string }[]) : [];
  for (const r of rows.filter((x) => x.damaged)) problems.push(`${label}: ${r.id} damaged: ${r.damaged}`);
  for (const r of rows.filter((x) => x.complete && !verified.has(x.id))) {
    const v = await runInProcess(["-c", repo.configFile, "verify", r.id], { env });
    if (v.code !== 0 || v.stdout.trim() !== `${r.id}  OK`)
      problems.push(`${label}: complete backup ${r.id} does not verify: ${v.stdout.trim()} ${v.stderr.trim()}`);
    else verified.add(r.id);
  }
  const leaks = [
    ...filesContaining(env.TMPDIR!, MARKER, clean),
    ...filesContaining(join(repo.dir, "repository"), MARKER, clean),
  ];
  if (leaks.length) problems.push(`${label}: plaintext on disk: ${leaks.join(", ")}`);
  return { problems, rows };
}

describe.skipIf(!pg)(`kill -9 at random points (seed ${SEED})`, () => {
  it(
    `backup (files + database) and prune: ${POINTS} kills each, invariants after every one`,
    { timeout: 600_000 },
    async () => {
      const rnd = mulberry32(SEED);
      const data = tempDir("kill-data");
      mkdirSync(join(data, "media"));
      // Small data: the kills, not the sizes, are the subject; the kill points are spread over a whole run's time.
      for (let i = 0; i < 6; i++)
        writeFileSync(
          join(data, "media", `clip-${i}.bin`),
          Buffer.concat([Buffer.from(MARKER), randomBytes(256 << 10)]),
        );
      for (let i = 0; i < 300; i++) writeFileSync(join(data, `item-${i}.json`), JSON.stringify({ i, marker: MARKER }));
      const db = await createDb(pg!, "kill");
      await withClient(db.url, async (c) => {
        await c.query("CREATE TABLE t (id int primary key, note text)");
        await c.query(`INSERT INTO t SELECT g, '${MARKER}' || g FROM generate_series(1, 20000) g`);
      });
      const repo = makeRepo({
        sources: [
          { name: "files", type: "files", path: data },
          { name: "db", type: "postgres", url: db.url },
        ],
      });
      const tmp = tempDir("kill-tmp");
      const locks = tempDir("kill-locks");
      const pruneCfg = repo.write((c) => {
        // max_delete_share 1: the pool of backups may grow past 4, and this test is about kills, not the share refusal.
        c.retention = { keep_last: 2, max_delete_share: 1 };
        c.lock_dir = locks;
      });
      repo.write((c) => (c.lock_dir = locks));
      const cfg = repo.write((c) => (c.lock_dir = locks));
      const env = { TMPDIR: tmp };
      const verified = new Set<string>();
      const clean = new Set<string>();
      const problems: string[] = [];

      // How long one whole backup takes here, to spread the kill points over it.
      const t0 = Date.now();
      const first = await runCli(["-c", cfg, "backup", "now"], { env });
      expect(first.code).toBe(0);
      const span = Math.max(400, Date.now() - t0);
      const known = new Set(
        (JSON.parse((await runInProcess(["-c", cfg, "--json", "list"], { env })).stdout) as { id: string }[]).map(
          (x) => x.id,
        ),
      );
      const left = { nothing: 0, incomplete: 0, complete: 0, pruneDeletedNothing: 0, pruneDeletedSome: 0 };

      // Every other kill at a seeded time over a whole run, the others at the run's first write.
      const backups = join(repo.dir, "repository", "backups");
      for (let i = 0; i < POINTS; i++) {
        const at = i % 2 ? undefined : Math.floor(rnd() * span * 1.1);
        const label = `backup kill ${i} ${at === undefined ? "at its first write" : `at ${at} ms`}`;
        const filesBefore = new Set(filesUnder(backups));
        const r = await killAtTimeOrChange(["-c", cfg, "backup", "now"], env, backups, at);
        stats.faults++;
        if (r.killed) stats.killedMidRun++;
        const check = await checkInvariants(repo, env, verified, label, clean);
        problems.push(...check.problems);
        // Which class of kill point this was, by what the run left: nothing yet, files of a backup
        // without its complete.json (killed while it wrote), or a complete backup (killed after it).
        const added = check.rows.filter((x) => !known.has(x.id));
        added.forEach((x) => known.add(x.id));
        const wrote = filesUnder(backups).some((f) => !filesBefore.has(f));
        left[added.some((x) => x.complete) ? "complete" : wrote ? "incomplete" : "nothing"]++;
      }

      // Prune: keep a pool of complete backups; kill prune at random points; the newest of each source must survive.
      for (let i = 0; i < POINTS; i++) {
        while (verified.size < 4 || i === 0) {
          const b = await runInProcess(["-c", cfg, "backup", "now"], { env });
          expect(b.code, b.stderr).toBe(0);
          (await checkInvariants(repo, env, verified, "top-up", clean)).rows.forEach((x) => known.add(x.id));
          if (i === 0) break;
        }
        const before = JSON.parse((await runInProcess(["-c", cfg, "--json", "list"], { env })).stdout) as {
          id: string;
          sources: string[];
        }[];
        const newest = before[0]?.id;
        // Every other kill at a seeded time, the others at prune's first delete.
        const at = i % 2 ? undefined : Math.floor(rnd() * 700);
        const label = `prune kill ${i} ${at === undefined ? "at its first delete" : `at ${at} ms`}`;
        const filesBefore = fileCount(backups);
        const r = await killAtTimeOrChange(["-c", pruneCfg, "prune"], env, backups, at);
        stats.faults++;
        if (r.killed) stats.killedMidRun++;
        const after = JSON.parse((await runInProcess(["-c", cfg, "--json", "list"], { env })).stdout) as {
          id: string;
        }[];
        if (newest && !after.some((x) => x.id === newest))
          problems.push(`${label} removed the newest complete backup ${newest}`);
        for (const id of [...verified]) if (!after.some((x) => x.id === id)) verified.delete(id);
        problems.push(...(await checkInvariants(repo, env, verified, label, clean)).problems);
        left[fileCount(backups) === filesBefore ? "pruneDeletedNothing" : "pruneDeletedSome"]++;
      }

      // Leftovers: the next complete run takes over the dead runs' lock and sweeps their temp files.
      const last = await runCli(["-c", cfg, "backup", "now"], { env });
      expect(last.stderr).not.toMatch(/lock held/);
      expect(last.code).toBe(0);
      const pruned = await runCli(["-c", pruneCfg, "prune"], { env });
      expect(pruned.code).toBe(0);
      const all = await runCli(["-c", cfg, "list", "--all"], { env });
      expect(all.stdout).toMatch(/leftovers: 0 temporary file\(s\)/);
      const tempLeft = readdirSync(tmp).filter((n) => n.startsWith("strongbox-"));
      if (tempLeft.length) problems.push(`temp files left in TMPDIR after a complete run: ${tempLeft.join(", ")}`);

      stats.violations = problems.length;
      console.log(
        `[faults] kill -9 seed ${SEED}: ${stats.faults} kills injected (${stats.killedMidRun} while the run was still going), invariant violations: ${stats.violations}; ` +
          `backup kills that left nothing new ${left.nothing}, files of an unfinished backup ${left.incomplete}, a complete one ${left.complete}; ` +
          `prune kills before any delete ${left.pruneDeletedNothing}, after some ${left.pruneDeletedSome}`,
      );
      expect(problems).toEqual([]);
    },
  );
});

// npm run bench: strongbox against the shell pipelines it replaces, in one run on the current Node,
// as ratios (shell seconds ÷ strongbox seconds: higher is better) with strongbox's peak RSS, and the
// targets next to them. Figures only: nothing here fails.
//   media  600 MB of incompressible files (60)      vs tar -c | zstd -1 -T0 | age -r
//   small  20,000 small JSON files (~30 MB)          vs the same
//   db     a pgbench database (~1 GB at scale 60)    vs pg_dump -Fc -Z0 | zstd -1 -T0 | age -r
// and restore + verify of each against the reverse pipelines; with db, also the database and the
// media in one backup and one restore (strongbox runs sources side by side; the shell, one after the other).
//   s3     the media to a local Ceph RGW             vs tar | zstd -1 -T0 | age | rclone rcat
//          and back from it (no verify line)         vs rclone cat | age -d | zstd -d | tar -x
//   wal    wal push, one process per 16 MiB segment, to file:// and Ceph RGW vs dd conv=fsync
//   base   a postgres-cluster base backup                vs pg_basebackup -Ft -D - | zstd -1 -T0 | age -r
//          (both in scripts/bench-pitr.mjs; BENCH_WAL_SEGMENTS=20 BENCH_BASE_SCALE=20)
//   scale  a tree of 2,000,000 empty files (2,000 directories): backup, verify and restore once
//          each, time and peak RSS against tar; and scripts/scale-manifest.mjs (the manifest
//          path alone, with synthetic entries). Not in the default set: it takes ~15 minutes.
//   db-backup  the database backup line alone (its limit without pg_restore; no restore, verify or media)
// BENCH_ONLY=media,small,db,s3,wal,base[,scale|db-backup]  BENCH_RUNS=3 (median; strongbox and shell alternate)
// BENCH_SCALE_FILES=2000000
// BENCH_LINES=backup,restore,verify,restic: which lines of media and small (default all; the backup
// the other lines read is then taken once, untimed)
// BENCH_MEDIA_MB=600  BENCH_SMALL=20000  BENCH_PG_SCALE=60  BENCH_DIR=.bench
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { limitOf, measureStages, sumWork, workOf } from "./bench-limit.mjs";
import { baseBench, makeSegments, walAsyncLine, walBench, walPushLines } from "./bench-pitr.mjs";
import { startService } from "./bench-services.mjs";

const root = resolve(process.env.BENCH_DIR ?? ".bench");
const only = new Set((process.env.BENCH_ONLY ?? "media,small,db,s3,wal,base").split(","));
const runs = Number(process.env.BENCH_RUNS ?? 3);
const lines = new Set((process.env.BENCH_LINES ?? "backup,restore,verify,restic").split(","));
const mediaMb = Number(process.env.BENCH_MEDIA_MB ?? 600);
const smallCount = Number(process.env.BENCH_SMALL ?? 20_000);
const pgScale = Number(process.env.BENCH_PG_SCALE ?? 60);
const scaleFiles = Number(process.env.BENCH_SCALE_FILES ?? 2_000_000);
const bin = resolve("bin/strongbox");
const node = process.execPath;
const TARGET = { backup: 1.0, restore: 1.0, verify: 1.0, s3: 1.2, "s3-restore": 1.0, rssMb: 300, limit: 0.9 };
// BENCH_CORES=2,1: every line on all cores, then again under `taskset -c 0` (one core); "2" skips the second.
const coreSets = (process.env.BENCH_CORES ?? "2,1").split(",").map(Number);
const cores = availableParallelism();
/** When set, every timed command runs under `taskset -c <pinned>`. */
let pinned = null;
const hasRestic = spawnSync("sh", ["-c", "command -v restic"]).status === 0;

function sh(cmd, env = {}) {
  return timed("sh", ["-c", cmd], env);
}

/** The peak RSS of every strongbox run of this bench, on every line: the one-core lines, the lines
 * one source at a time and the wal lines included (the summary's bound is on every line). */
let sbPeakRss = 0;

/** Wall seconds, peak RSS (MB, of the largest process) and core-seconds (user + system, with children) by GNU time. */
function timed(cmd, args, env = {}) {
  const merged = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  const pin = pinned === null ? [] : ["taskset", "-c", pinned];
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M %U %S", ...pin, cmd, ...args], {
    env: merged,
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  const [wall, rssKb, user, sys] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  if (cmd === node && args[0] === bin) sbPeakRss = Math.max(sbPeakRss, rssKb / 1024);
  return { s: wall, rss: rssKb / 1024, cpu: user + sys, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `runs` runs of x and of y, alternating, each after its `before`. */
function alternate(x, y, beforeX, beforeY = beforeX) {
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    beforeX();
    a.push(x());
    beforeY();
    b.push(y());
  }
  return [a, b];
}

/** Runs strongbox and the shell `runs` times each, alternating; `before` resets state before each run. */
function measure(label, kind, strongbox, shell, before, work, n) {
  const [a, b] = alternate(strongbox, shell, before);
  const row = {
    label,
    kind,
    sb: median(a.map((x) => x.s)),
    rss: Math.max(...a.map((x) => x.rss)),
    shell: median(b.map((x) => x.s)),
    limit: work ? limitOf(work, n) : NaN,
  };
  row.ratio = row.shell / row.sb;
  row.share = row.limit / row.sb;
  return row;
}

/**
 * One line: strongbox against the shell on every core, with strongbox's share of the limit that
 * `work` (bench-limit.mjs) sets on this many cores; then, with BENCH_CORES holding 1, the same on one
 * core (taskset -c 0), printed under it (not counted against the targets).
 */
function compare(label, kind, strongbox, shell, before = () => {}, work = null) {
  const row = measure(label, kind, strongbox, shell, before, work, cores);
  rows.push(row);
  print(row);
  if (coreSets.includes(1) && cores > 1) {
    pinned = "0";
    try {
      print({ ...measure(`  on 1 core (taskset -c 0)`, kind, strongbox, shell, before, work, 1), kind: "info" });
    } finally {
      pinned = null;
    }
  }
  return row;
}

/** The line under a two-source row: the same runs with one source at a time, and how much faster side by side was. */
function printOneAtATime(runsOne, row) {
  const s = median(runsOne.map((x) => x.s));
  console.log(
    `${"  the same, strongbox one source at a time".padEnd(46)}${s.toFixed(2).padStart(8)}${Math.max(
      ...runsOne.map((x) => x.rss),
    )
      .toFixed(0)
      .padStart(8)}   side by side ${(s / row.sb).toFixed(2)}× faster`,
  );
}

const rows = [];
const meets = (r) => r.ratio >= TARGET[r.kind] && r.rss <= TARGET.rssMb && !(r.share < TARGET.limit);
function print(r) {
  const target = r.kind === "info" ? "" : `≥${TARGET[r.kind]}× ${meets(r) ? "PASS" : "MISS"}`;
  const limit = Number.isNaN(r.limit)
    ? `${"—".padStart(8)}${"—".padStart(7)}`
    : `${r.limit.toFixed(2).padStart(8)}${`${(r.share * 100).toFixed(0)}%`.padStart(7)}`;
  console.log(
    `${r.label.padEnd(46)}${r.sb.toFixed(2).padStart(8)}${r.rss.toFixed(0).padStart(8)}${r.shell.toFixed(2).padStart(9)}${`${r.ratio.toFixed(2)}×`.padStart(8)}${limit}   ${target}`,
  );
}

/** A line against a peer that does the same job its own way (restic): strongbox ÷ peer, higher is better. */
function peer(label, sb, other, beforeSb, beforeOther = beforeSb) {
  const [a, b] = alternate(sb, other, beforeSb, beforeOther);
  const [s, o] = [median(a.map((x) => x.s)), median(b.map((x) => x.s))];
  const rss = Math.max(...b.map((x) => x.rss));
  console.log(
    `${label.padEnd(46)}${s.toFixed(2).padStart(8)}${"".padStart(8)}${o.toFixed(2).padStart(9)}${`${(o / s).toFixed(2)}×`.padStart(8)}   restic's peak RSS ${rss.toFixed(0)} MB`,
  );
}

function generate() {
  const marker = join(root, `data-${mediaMb}-${smallCount}`);
  if (existsSync(marker)) return;
  rmSync(join(root, "data"), { recursive: true, force: true });
  mkdirSync(join(root, "data/media"), { recursive: true });
  const per = Math.floor((mediaMb * 1e6) / 60);
  for (let i = 0; i < 60; i++) writeFileSync(join(root, `data/media/clip-${i}.mp4`), randomBytes(per));
  for (let i = 0; i < smallCount; i++) {
    const dir = join(root, `data/small/show-${i % 100}/rundown-${Math.floor(i / 100) % 20}`);
    if (i < 2000) mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `item-${i}.json`),
      JSON.stringify({
        rundown: i,
        items: Array.from({ length: 12 }, (_, k) => ({
          id: k,
          template: "lower-third",
          f0: `Name ${i}`,
          f1: "Title",
          duration: 5000,
        })),
      }),
    );
  }
  writeFileSync(marker, "");
}

/** A strongbox config in its own directory, for one source, with a fresh identity. */
function workspace(name, source, repository = null) {
  const dir = join(root, "work", name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync(node, [bin, "keygen", "-o", join(dir, "identity.txt")], { stdio: "ignore" });
  const recipient = /public key: (age1\S+)/.exec(readFileSync(join(dir, "identity.txt"), "utf8"))[1];
  const cfg = join(dir, "strongbox.yaml");
  const repo = repository ?? `repository: { url: "file://${join(dir, "repo")}" }`;
  writeFileSync(
    cfg,
    [
      `version: 1`,
      repo,
      `encryption: { recipients: ["${recipient}"], identity_file: ${join(dir, "identity.txt")} }`,
      `lock_dir: ${dir}`,
      `sources:`,
      `  - ${source}`,
      "",
    ].join("\n"),
  );
  return { dir, cfg, recipient, identity: join(dir, "identity.txt") };
}

/**
 * A tool's cost for the limit: its wall seconds and core-seconds, each the median of BENCH_RUNS runs
 * (one run alone moved by 40 % between two complete runs here), `before` run untimed before each.
 */
function toolCost(run, before = () => {}) {
  const got = [];
  for (let i = 0; i < runs; i++) {
    before();
    got.push(run());
  }
  return { s: median(got.map((x) => x.s)), cpu: median(got.map((x) => x.cpu)) };
}

/**
 * What the tools cost on one tree, for its limit: GNU tar creating, extracting and listing it, and the
 * zstd CLI (-1, one thread) compressing and decompressing the tar. Sizes in bytes, costs in core-seconds.
 */
function treeWork(dir, path) {
  const tar = join(dir, "plain.tar");
  const x = join(dir, "x");
  const c = toolCost(() => sh(`tar -C '${path}' -cf - . > '${tar}'`)).cpu;
  const z = toolCost(() => sh(`zstd -1 -T1 -q -f '${tar}' -o '${tar}.zst'`)).cpu;
  const d = toolCost(() => sh(`zstd -d -q -c '${tar}.zst' > /dev/null`)).cpu;
  // As the restore line runs it: into a directory where the last extraction was just removed.
  const extract = toolCost(
    () => sh(`mkdir -p '${x}' && tar -xf '${tar}' -C '${x}'`),
    () => rmSync(x, { recursive: true, force: true }),
  );
  const t = toolCost(() => sh(`tar -tf - < '${tar}' > /dev/null`)).cpu;
  const [plain, stored] = [statSync(tar).size, statSync(`${tar}.zst`).size];
  rmSync(x, { recursive: true, force: true });
  rmSync(tar, { force: true });
  rmSync(`${tar}.zst`, { force: true });
  // Blocks that do not compress (media) strongbox stores raw, as zstd itself would: no zstd work to count.
  const raw = plain < stored * 1.05;
  const line = (op, toolCpu, zstdCpu, createWall) =>
    workOf({ op, plain, stored, perFile: true, toolCpu, zstdCpu, createWall }, stages);
  return {
    backup: line("backup", c, raw ? 0 : z),
    // Creating the files is bound by the file system, not the cores: tar -x's wall time on this tree.
    restore: line("restore", extract.cpu, d, extract.s),
    verify: line("verify", t, d),
  };
}

/** restic backup and restore of the same tree into a fresh repository, against strongbox's. */
function resticLines(name, path, w, sb) {
  if (!hasRestic) return console.log(`${name}: restic skipped (apt-get install restic)`);
  const repo = join(w.dir, "restic");
  const env = { RESTIC_PASSWORD: "bench", RESTIC_CACHE_DIR: join(w.dir, "restic-cache") };
  const restic = (...args) => timed("restic", ["-q", "-r", repo, ...args], env);
  peer(
    `  vs restic backup (fresh repository)`,
    () => sb("backup", "now"),
    () => restic("backup", path),
    () => rmSync(join(w.dir, "repo"), { recursive: true, force: true }),
    () => {
      rmSync(repo, { recursive: true, force: true });
      restic("init");
    },
  );
  const out = join(w.dir, "out");
  peer(
    `  vs restic restore`,
    () => sb("restore", "latest", "--to-dir", out),
    () => restic("restore", "latest", "--target", out),
    () => rmSync(out, { recursive: true, force: true }),
  );
  rmSync(repo, { recursive: true, force: true });
}

function filesBench(name, path) {
  const w = workspace(name, `{ name: ${name}, type: files, path: ${path} }`);
  const work = treeWork(w.dir, path);
  lineWork[name] = work;
  const shellOut = join(w.dir, "shell.tar.zst.age");
  const sb = (...args) => timed(node, [bin, "-q", "-c", w.cfg, ...args]);
  const shellBackup = () => sh(`tar -C '${path}' -cf - . | zstd -1 -T0 -q | age -r ${w.recipient} > '${shellOut}'`);
  if (lines.has("backup"))
    compare(
      `${name}: backup`,
      "backup",
      () => sb("backup", "now"),
      shellBackup,
      () => rmSync(join(w.dir, "repo"), { recursive: true, force: true }),
      work.backup,
    );
  else shellBackup();
  sb("backup", "now");
  const out = join(w.dir, "out");
  if (lines.has("restore"))
    compare(
      `${name}: restore (every file checked)`,
      "restore",
      () => sb("restore", "latest", "--to-dir", out),
      () => sh(`mkdir -p '${out}' && age -d -i '${w.identity}' '${shellOut}' | zstd -d -q | tar -xf - -C '${out}'`),
      () => rmSync(out, { recursive: true, force: true }),
      work.restore,
    );
  if (lines.has("verify"))
    compare(
      `${name}: verify (vs tar -t)`,
      "verify",
      () => sb("verify", "latest"),
      () => sh(`age -d -i '${w.identity}' '${shellOut}' | zstd -d -q | tar -tf - > /dev/null`),
      () => {},
      work.verify,
    );
  if (lines.has("restic")) resticLines(name, path, w, sb);
  rmSync(w.dir, { recursive: true, force: true });
}

/**
 * What the database's tools cost, for its limit: pg_dump alone (to a pipe), the row counts (for a restore), pg_restore
 * alone into an empty database, pg_restore --list, and the zstd CLI on the dump. pg_dump and pg_restore
 * (with the server behind them) are counted as one core busy for their wall time, and as a chain.
 */
function dbWork(pgBin, env, pg, backupOnly = false) {
  const dir = join(root, "work", "db-limit");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dump = join(dir, "plain.pgdump");
  // pg_dump's cost to a pipe, as strongbox and the shell run it: written to a file, its 616 MB of
  // writes measured slower than the whole backup. The file the tools below read is made untimed.
  const dumped = toolCost(() => sh(`${pgBin}/pg_dump -Fc -Z0 bench > /dev/null`, env)).s;
  sh(`${pgBin}/pg_dump -Fc -Z0 -f '${dump}' bench`, env);
  const countSql = join(dir, "counts.sql");
  writeFileSync(
    countSql,
    pg(
      "psql",
      "-tAc",
      "SELECT string_agg(format('SELECT count(*) FROM %I.%I;', schemaname, relname), E'\\n') FROM pg_stat_user_tables",
      "bench",
    ),
  );
  const counted = toolCost(() => sh(`${pgBin}/psql -q -o /dev/null -f '${countSql}' bench`, env)).s;
  const z = toolCost(() => sh(`zstd -1 -T1 -q -f '${dump}' -o '${dump}.zst'`)).cpu;
  const d = toolCost(() => sh(`zstd -d -q -c '${dump}.zst' > /dev/null`)).cpu;
  let restored = NaN;
  if (!backupOnly) {
    restored = toolCost(
      () => sh(`${pgBin}/pg_restore --no-owner -d limit '${dump}'`, env),
      () => {
        pg("dropdb", "--if-exists", "limit");
        pg("createdb", "limit");
      },
    ).s;
    pg("dropdb", "limit");
  }
  const listed = toolCost(() => sh(`${pgBin}/pg_restore --list '${dump}' > /dev/null`)).cpu;
  const [plain, stored] = [statSync(dump).size, statSync(`${dump}.zst`).size];
  rmSync(dir, { recursive: true, force: true });
  const line = (op, toolCpu, toolChain, zstdCpu) =>
    workOf({ op, plain, stored, perFile: false, toolCpu, toolChain, zstdCpu }, stages);
  return {
    // A backup counts rows in pg_dump's output (sources/postgres/dump-rows.ts), not with count(*);
    // a restore checks its tables with count(*) after pg_restore.
    backup: line("backup", dumped, dumped, z),
    restore: line("restore", restored + counted, restored + counted, d),
    verify: line("verify", listed, 0, d),
  };
}

function dbBench() {
  const pgBin = execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]).toString().trim();
  const pgDir = join(root, "pg");
  const port = 45000 + Math.floor(Math.random() * 10000);
  rmSync(pgDir, { recursive: true, force: true });
  const stopPg = startService("postgres.sh", pgDir, String(port), "bench-pw");
  const env = { PGPASSWORD: "bench-pw", PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "postgres" };
  const url = (db) => `postgres://postgres:bench-pw@127.0.0.1:${port}/${db}`;
  const pg = (tool, ...args) =>
    execFileSync(join(pgBin, tool), args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
  try {
    pg("createdb", "bench");
    pg("pgbench", "-i", "-q", "-s", String(pgScale), "bench");
    const mb = Number(pg("psql", "-tAc", "SELECT pg_database_size('bench')", "bench").trim()) / 1e6;
    console.log(`db: pgbench scale ${pgScale}, ${mb.toFixed(0)} MB on disk`);
    // BENCH_ONLY=db-backup (without db): the backup line alone.
    const backupOnly = !only.has("db");
    const work = dbWork(pgBin, env, pg, backupOnly);
    const w = workspace("db", `{ name: db, type: postgres, url: "${url("bench")}" }`);
    const shellOut = join(w.dir, "shell.pgdump.zst.age");
    const sb = (...args) => timed(node, [bin, "-q", "-c", w.cfg, ...args], env);
    compare(
      "db: backup",
      "backup",
      () => sb("backup", "now"),
      () => sh(`${pgBin}/pg_dump -Fc -Z0 bench | zstd -1 -T0 -q | age -r ${w.recipient} > '${shellOut}'`, env),
      () => rmSync(join(w.dir, "repo"), { recursive: true, force: true }),
      work.backup,
    );
    if (backupOnly) return;
    sb("backup", "now");
    let n = 0;
    const fresh = () => {
      n++;
      pg("createdb", `r${n}`);
    };
    compare(
      "db: restore (+ row counts)",
      "restore",
      () => sb("restore", "latest", "--to-db", url(`r${n}`), "--no-owner"),
      () => sh(`age -d -i '${w.identity}' '${shellOut}' | zstd -d -q | ${pgBin}/pg_restore --no-owner -d r${n}`, env),
      fresh,
      work.restore,
    );
    compare(
      "db: verify (pg_restore --list reads the TOC only)",
      "verify",
      () => sb("verify", "latest"),
      () => sh(`age -d -i '${w.identity}' '${shellOut}' | zstd -d -q | ${pgBin}/pg_restore --list > /dev/null`, env),
      () => {},
      work.verify,
    );
    rmSync(w.dir, { recursive: true, force: true });

    // The database and the media in one backup: strongbox runs the two side by side; the shell runs
    // its two pipelines one after the other, as a backup script would. Also timed: strongbox with
    // STRONGBOX_SOURCE_CONCURRENCY=1 (one source at a time), to show what running them at once gives.
    const media = join(root, "data/media");
    const both = workspace(
      "db+media",
      `{ name: db, type: postgres, url: "${url("bench")}" }\n  - { name: media, type: files, path: ${media} }`,
    );
    const shellDb = join(both.dir, "shell.pgdump.zst.age");
    const shellMedia = join(both.dir, "shell.tar.zst.age");
    const sb2 = (extra, ...args) => timed(node, [bin, "-q", "-c", both.cfg, ...args], { ...env, ...extra });
    const oneAtATime = [];
    const resetRepo = () => rmSync(join(both.dir, "repo"), { recursive: true, force: true });
    const bk = compare(
      "db + media: backup (shell: one after the other)",
      "backup",
      () => {
        // One source at a time is timed on every core only (not again under taskset -c 0).
        if (pinned === null) {
          resetRepo();
          oneAtATime.push(sb2({ STRONGBOX_SOURCE_CONCURRENCY: "1" }, "backup", "now"));
        }
        resetRepo();
        return sb2({}, "backup", "now");
      },
      () =>
        sh(
          `${pgBin}/pg_dump -Fc -Z0 bench | zstd -1 -T0 -q | age -r ${both.recipient} > '${shellDb}' && tar -C '${media}' -cf - . | zstd -1 -T0 -q | age -r ${both.recipient} > '${shellMedia}'`,
          env,
        ),
      () => {},
      lineWork.media && sumWork([work.backup, lineWork.media.backup]),
    );
    printOneAtATime(oneAtATime, bk);
    const restoreOne = [];
    const out = join(both.dir, "out");
    const freshBoth = () => {
      fresh();
      rmSync(out, { recursive: true, force: true });
    };
    const rs = compare(
      "db + media: restore",
      "restore",
      () => {
        if (pinned !== null)
          return sb2({}, "restore", "latest", "--to-dir", out, "--to-db", url(`r${n}`), "--no-owner");
        restoreOne.push(
          sb2(
            { STRONGBOX_SOURCE_CONCURRENCY: "1" },
            "restore",
            "latest",
            "--to-dir",
            out,
            "--to-db",
            url(`r${n}`),
            "--no-owner",
          ),
        );
        freshBoth();
        return sb2({}, "restore", "latest", "--to-dir", out, "--to-db", url(`r${n}`), "--no-owner");
      },
      () =>
        sh(
          `age -d -i '${both.identity}' '${shellDb}' | zstd -d -q | ${pgBin}/pg_restore --no-owner -d r${n} && mkdir -p '${out}' && age -d -i '${both.identity}' '${shellMedia}' | zstd -d -q | tar -xf - -C '${out}'`,
          env,
        ),
      freshBoth,
      lineWork.media && sumWork([work.restore, lineWork.media.restore]),
    );
    printOneAtATime(restoreOne, rs);
    rmSync(both.dir, { recursive: true, force: true });
  } finally {
    stopPg();
    rmSync(pgDir, { recursive: true, force: true });
  }
}

async function s3Bench(path) {
  if (spawnSync("sh", ["-c", "command -v radosgw"]).status !== 0)
    return console.log("s3: skipped (needs radosgw: apt-get install radosgw ceph-mon ceph-osd rclone)");
  const media = only.has("s3") && spawnSync("sh", ["-c", "command -v rclone"]).status === 0;
  if (only.has("s3") && !media) console.log("s3: media line skipped (needs rclone: apt-get install rclone)");
  // A short path (Ceph's admin sockets must fit in 108 bytes) and a second or third port if one is taken.
  let cephDir = "";
  let port = 0;
  let stopCeph = () => {};
  for (let attempt = 1; ; attempt++) {
    cephDir = mkdtempSync(join(tmpdir(), "strongbox-bench-ceph-"));
    port = 20000 + Math.floor(Math.random() * 12000);
    try {
      stopCeph = startService("ceph-rgw.sh", cephDir, String(port));
      break;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
  try {
    const key = `BENCH${randomBytes(6).toString("hex").toUpperCase()}`;
    const secret = randomBytes(24).toString("base64url");
    execFileSync(
      "radosgw-admin",
      [
        "-c",
        join(cephDir, "ceph.conf"),
        "user",
        "create",
        "--uid=bench",
        "--display-name=bench",
        `--access-key=${key}`,
        `--secret-key=${secret}`,
      ],
      { stdio: "ignore" },
    );
    const endpoint = `http://127.0.0.1:${port}`;
    const { S3Client, CreateBucketCommand } = await import("@aws-sdk/client-s3");
    const client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: key, secretAccessKey: secret },
    });
    await client.send(new CreateBucketCommand({ Bucket: "bench" }));
    client.destroy();
    let n = 0;
    const w = workspace(
      "s3",
      `{ name: media, type: files, path: ${path} }`,
      `repository: { url: "s3://bench/sb", s3: { endpoint: "${endpoint}", force_path_style: true, credentials: { writer: { access_key_id: "${key}", secret_access_key: "${secret}" }, reader: { access_key_id: "${key}", secret_access_key: "${secret}" } } } }`,
    );
    const sb = (...args) => timed(node, [bin, "-q", "-c", w.cfg, ...args]);
    const rclone = {
      RCLONE_CONFIG_CEPH_TYPE: "s3",
      RCLONE_CONFIG_CEPH_PROVIDER: "Ceph",
      RCLONE_CONFIG_CEPH_ENDPOINT: endpoint,
      RCLONE_CONFIG_CEPH_ACCESS_KEY_ID: key,
      RCLONE_CONFIG_CEPH_SECRET_ACCESS_KEY: secret,
      AWS_CA_BUNDLE: undefined,
    };
    // The wal line to Ceph (bench-pitr.mjs), while Ceph is up.
    if (walSegments) {
      const ww = workspace(
        "wal-s3",
        `{ name: cluster, type: postgres-cluster, url: "postgres://unused@localhost/postgres" }`,
        `repository: { url: "s3://bench/wal", s3: { endpoint: "${endpoint}", force_path_style: true, credentials: { writer: { access_key_id: "${key}", secret_access_key: "${secret}" } } } }`,
      );
      walPushLines(benchKit, "wal: push to Ceph RGW (vs dd conv=fsync)", ww.cfg, walSegments);
      rmSync(ww.dir, { recursive: true, force: true });
      walAsyncLine(
        benchKit,
        "wal: push to Ceph RGW with wal.async (2 processes)",
        walSegments,
        `repository: { url: "s3://bench/wal-async", s3: { endpoint: "${endpoint}", force_path_style: true, credentials: { writer: { access_key_id: "${key}", secret_access_key: "${secret}" } } } }`,
      );
    }
    if (!media) return;
    // The memstore OSD holds 2 GiB: emptied before each backup (RGW frees deleted objects only at its
    // garbage collection, so that runs too), or a later run finds Ceph full and stalls.
    const empty = () => {
      sh("rclone delete ceph:bench", rclone);
      execFileSync("radosgw-admin", ["-c", join(cephDir, "ceph.conf"), "gc", "process", "--include-all"], {
        stdio: "ignore",
      });
    };
    const shellBackup = () =>
      sh(
        `tar -C '${path}' -cf - . | zstd -1 -T0 -q | age -r ${w.recipient} | rclone rcat ceph:bench/shell-${++n}.tar.zst.age`,
        rclone,
      );
    compare("s3: backup media to Ceph RGW (vs rclone rcat)", "s3", () => sb("backup", "now"), shellBackup, empty);
    // What a disaster waits on: the same media back from the bucket, each file checked by strongbox.
    empty();
    sb("backup", "now");
    shellBackup();
    const out = join(w.dir, "out");
    compare(
      "s3: restore media from Ceph RGW (vs rclone cat)",
      "s3-restore",
      () => sb("restore", "latest", "--to-dir", out),
      () =>
        sh(
          `mkdir -p '${out}' && rclone cat ceph:bench/shell-${n}.tar.zst.age | age -d -i '${w.identity}' | zstd -d -q | tar -xf - -C '${out}'`,
          rclone,
        ),
      () => rmSync(out, { recursive: true, force: true }),
    );
  } finally {
    stopCeph();
    rmSync(cephDir, { recursive: true, force: true });
  }
}

/** A huge tree of empty files: what the manifest, the walk and the tree check must hold within bounded memory. */
function scaleBench() {
  const manifestOnly = JSON.parse(
    execFileSync(node, ["scripts/scale-manifest.mjs", String(scaleFiles)], { encoding: "utf8", maxBuffer: 1 << 20 })
      .trim()
      .split("\n")
      .pop(),
  );
  console.log(
    `scale: manifest of ${manifestOnly.entries} entries (synthetic): write ${manifestOnly.write_s} s, read ${manifestOnly.read_s} s, match ${manifestOnly.match_s} s, ${manifestOnly.peak_rss_mb} MB peak RSS ${manifestOnly.peak_rss_mb <= TARGET.rssMb ? "PASS" : "MISS"}`,
  );
  const tree = join(root, `scale-${scaleFiles}`);
  if (!existsSync(`${tree}.done`)) {
    rmSync(tree, { recursive: true, force: true });
    execFileSync(node, [
      "-e",
      `
      const fs = require("node:fs");
      const [root, n] = [process.argv[1], Number(process.argv[2])];
      for (let i = 0; i < n; i++) {
        const d = root + "/d" + String(Math.floor(i / 1000)).padStart(4, "0");
        if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
        fs.closeSync(fs.openSync(d + "/f" + String(i).padStart(7, "0"), "w"));
      }
      fs.writeFileSync(root + ".done", "");`,
      tree,
      String(scaleFiles),
    ]);
  }
  const w = workspace("scale", `{ name: scale, type: files, path: ${tree} }`);
  const sb = (...args) => timed(node, [bin, "-q", "-c", w.cfg, ...args]);
  const out = join(w.dir, "out");
  const line = (label, r, shell) => {
    const row = { label, kind: "scale", sb: r.s, rss: r.rss, shell: shell?.s ?? NaN, ratio: shell ? shell.s / r.s : 0 };
    rows.push(row);
    const vs = shell
      ? `${shell.s.toFixed(2).padStart(9)}${`${row.ratio.toFixed(2)}×`.padStart(8)}`
      : `${"—".padStart(9)}${"—".padStart(8)}`;
    console.log(
      `${label.padEnd(46)}${r.s.toFixed(2).padStart(8)}${r.rss.toFixed(0).padStart(8)}${vs}   ≤${TARGET.rssMb} MB ${r.rss <= TARGET.rssMb ? "PASS" : "MISS"}`,
    );
  };
  const shellOut = join(w.dir, "shell.tar.zst.age");
  const label = `scale (${scaleFiles.toLocaleString("en")} empty files)`;
  line(
    `${label}: backup`,
    sb("backup", "now"),
    sh(`tar -C '${tree}' -cf - . | zstd -1 -T0 -q | age -r ${w.recipient} > '${shellOut}'`),
  );
  line(
    `${label}: verify`,
    sb("verify", "latest"),
    sh(`age -d -i '${w.identity}' '${shellOut}' | zstd -d -q | tar -tf - > /dev/null`),
  );
  // No tar -x next to it: GNU tar takes ~0.4 ms a file to create them here (~13 minutes for 2 million).
  line(`${label}: restore`, sb("restore", "latest", "--to-dir", out), null);
  rmSync(w.dir, { recursive: true, force: true });
}

TARGET.scale = 0;
if ([...only].some((k) => !["scale", "wal", "base"].includes(k))) generate();
execFileSync("sync");
const started = Date.now();
mkdirSync(join(root, "work"), { recursive: true });
const stages = measureStages(join(root, "work"));
/** Each files line's work (treeWork), for the lines that back up several sources at once. */
const lineWork = {};
console.log(
  `\nstrongbox bench: node ${process.version}, ${cores} cores, median of ${runs}; ratio = shell seconds ÷ strongbox seconds (higher is better)`,
);
console.log(
  `stages on this machine: ChaCha20-Poly1305 ${stages.chacha.toFixed(2)}, SHA-256 ${stages.sha256.toFixed(2)} core-s/GB (Node); write + fsync ${stages.fsyncWrite.toFixed(2)} s/GB; tar and zstd -1 measured on each line's data`,
);
console.log(
  `limit = the best wall time ${cores} cores allow for strongbox's work (scripts/bench-limit.mjs); of limit = limit ÷ strongbox seconds\n`,
);
console.log(
  `${"what".padEnd(46)}${"sb s".padStart(8)}${"RSS MB".padStart(8)}${"shell s".padStart(9)}${"ratio".padStart(8)}${"limit s".padStart(8)}${"of lim".padStart(7)}   target`,
);
if (only.has("media")) filesBench("media", join(root, "data/media"));
if (only.has("small")) filesBench("small", join(root, "data/small"));
if (only.has("db") || only.has("db-backup")) dbBench();
/** What bench-pitr.mjs's lines use of this file. */
const benchKit = { timed, sh, compare, workspace, print, node, bin };
const walSegments = only.has("wal") ? { dir: join(root, "work", "wal-segments"), paths: [] } : null;
if (walSegments) {
  walSegments.paths = makeSegments(walSegments.dir, Number(process.env.BENCH_WAL_SEGMENTS ?? 20));
  walBench(benchKit, walSegments);
}
if (only.has("s3") || walSegments) await s3Bench(join(root, "data/media"));
if (walSegments) rmSync(walSegments.dir, { recursive: true, force: true });
if (only.has("base")) baseBench(benchKit, { root, scale: Number(process.env.BENCH_BASE_SCALE ?? 20) });
if (only.has("scale")) scaleBench();
const missed = rows.filter((r) => !meets(r));
console.log(
  `\n${rows.length - missed.length} of ${rows.length} lines meet their target (ratio, ≥ ${TARGET.limit * 100} % of the limit, RSS); peak RSS ${Math.max(...rows.map((r) => r.rss)).toFixed(0)} MB on those lines, ${sbPeakRss.toFixed(0)} MB over every strongbox run of this bench (target ≤ ${TARGET.rssMb} ${sbPeakRss <= TARGET.rssMb ? "PASS" : "MISS"}). The run took ${((Date.now() - started) / 60000).toFixed(1)} minutes.`,
);
console.log(
  "strongbox also hashes every file and every stored object, fsyncs what it writes, and checks every restored file or table against the manifest.",
);

// The point-in-time recovery lines of `npm run bench` (BENCH_ONLY=wal,base selects them alone):
//   wal   `wal push` of BENCH_WAL_SEGMENTS (default 20) distinct 16 MiB segments, one process per
//         segment as archive_command runs it, to file:// (and to Ceph RGW when bench.mjs has it up),
//         beside `dd conv=fsync` of each segment, one process each: pg_receivewal's local write (the
//         write and fsync of each segment) without a server to stream from. Also the CPU time of one
//         push and of a bare `strongbox --version` (the CLI start-up in every push). Then the same
//         segments with wal.async (processes 2): each marked ready, pushed in order and marked done on
//         exit 0 as PostgreSQL does; segments/s is the wall time of all the pushes.
//   base  backup of a postgres-cluster source (a pgbench database at BENCH_BASE_SCALE, default 20)
//         against pg_basebackup -D - -Ft -X none | zstd -1 -T0 | age -r.
// Figures only: nothing here fails.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { startService } from "./bench-services.mjs";

const SEG = 16 * 1024 * 1024;
const SYSID = 7300000000000000123n;
const h8 = (x) => x.toString(16).toUpperCase().padStart(8, "0");

/** A WAL segment PostgreSQL would accept the header of: half random, half zeros (WAL compresses about that well). */
function segment(segno) {
  const b = Buffer.alloc(SEG);
  for (let off = 64; off < SEG; off += 16384) randomBytes(8192).copy(b, off);
  b.writeUInt16LE(0xd110, 0);
  b.writeUInt16LE(0x0006, 2);
  b.writeUInt32LE(1, 4);
  b.writeBigUInt64LE(BigInt(segno) * BigInt(SEG), 8);
  b.writeBigUInt64LE(SYSID, 24);
  b.writeUInt32LE(SEG, 32);
  b.writeUInt32LE(8192, 36);
  return b;
}

/** n segment files under dir/pg_wal, with names distinct on every call (a kept repository takes each once). */
export function makeSegments(dir, n) {
  mkdirSync(join(dir, "pg_wal"), { recursive: true });
  const base = (Math.floor(Date.now() / 1000) % 0x10000) * 256 + Math.floor(Math.random() * 128);
  const paths = [];
  for (let i = 0; i < n; i++) {
    const segno = base + i;
    const path = join(dir, "pg_wal", `00000001${h8(Math.floor(segno / 256))}${h8(segno % 256)}`);
    writeFileSync(path, segment(segno));
    paths.push(path);
  }
  return paths;
}

/** Runs one timed command per path; returns the sum of wall and CPU seconds and the largest peak RSS. */
function each(timed, paths, run) {
  const r = paths.map((p) => timed(...run(p)));
  return {
    s: r.reduce((a, x) => a + x.s, 0),
    cpu: r.reduce((a, x) => a + x.cpu, 0),
    rss: Math.max(...r.map((x) => x.rss)),
  };
}

/**
 * The wal lines: `wal push` of every segment (one process each) to the config's repository, beside
 * dd conv=fsync of each; printed as bench.mjs rows (kind info: no target) and segments/s.
 */
export function walPushLines(b, label, cfg, segments) {
  const { timed, node, bin, print } = b;
  const out = join(segments.dir, "dd");
  mkdirSync(out, { recursive: true });
  const sb = each(timed, segments.paths, (p) => [node, [bin, "-q", "-c", cfg, "wal", "push", p]]);
  const dd = each(timed, segments.paths, (p) => [
    "dd",
    [`if=${p}`, `of=${join(out, p.slice(-24))}`, "bs=1M", "conv=fsync", "status=none"],
  ]);
  rmSync(out, { recursive: true, force: true });
  const n = segments.paths.length;
  print({ label, kind: "info", sb: sb.s, rss: sb.rss, shell: dd.s, ratio: dd.s / sb.s, limit: NaN });
  console.log(
    `  ${(n / sb.s).toFixed(2)} segments/s (${((n * 16) / sb.s).toFixed(0)} MiB/s), ${(sb.cpu / n).toFixed(2)} core-s per segment; dd conv=fsync ${(n / dd.s).toFixed(1)} segments/s`,
  );
}

/** The CPU time (user + system) of a bare `strongbox --version`, median of 5: the start-up every push pays. */
export function startupCpu(b) {
  const xs = Array.from({ length: 5 }, () => b.timed(b.node, [b.bin, "--version"]).cpu).sort((x, y) => x - y);
  return xs[2];
}

/** The wal lines to file:// (the Ceph one is walPushLines called by bench.mjs's s3 part). */
export function walBench(b, segments) {
  console.log(
    `wal: ${segments.paths.length} segments of 16 MiB, one process each; strongbox --version takes ${startupCpu(b).toFixed(2)} core-s`,
  );
  const w = b.workspace(
    "wal",
    `{ name: cluster, type: postgres-cluster, url: "postgres://unused@localhost/postgres" }`,
  );
  walPushLines(b, "wal: push to file:// (vs dd conv=fsync)", w.cfg, segments);
  rmSync(w.dir, { recursive: true, force: true });
  walAsyncLine(b, "wal: push to file:// with wal.async (2 processes)", segments);
}

/** `wal push` of every segment in order with wal.async, as PostgreSQL runs it (ready marks, done on exit 0). */
export function walAsyncLine(b, label, segments, repository = null) {
  const w = b.workspace(
    repository ? "wal-async-s3" : "wal-async",
    `{ name: cluster, type: postgres-cluster, url: "postgres://unused@localhost/postgres", wal: { async: { processes: 2, queue_max: 32 } } }`,
    repository,
  );
  appendFileSync(w.cfg, `state_dir: ${join(w.dir, "state")}\n`);
  const status = join(segments.dir, "pg_wal", "archive_status");
  mkdirSync(status, { recursive: true });
  for (const p of segments.paths) writeFileSync(join(status, `${basename(p)}.ready`), "");
  const ready = (p) => join(status, `${basename(p)}.ready`);
  // In order, one at a time, each marked done after its exit 0, as PostgreSQL does.
  const runs = segments.paths.map((p) => {
    const r = b.timed(b.node, [b.bin, "-q", "-c", w.cfg, "wal", "push", p]);
    renameSync(ready(p), ready(p).replace(/\.ready$/, ".done"));
    return r;
  });
  const sb = { s: runs.reduce((a, x) => a + x.s, 0), cpu: runs.reduce((a, x) => a + x.cpu, 0) };
  const n = segments.paths.length;
  console.log(
    `${label}: ${(n / sb.s).toFixed(2)} segments/s (${((n * 16) / sb.s).toFixed(0)} MiB/s), ${(sb.cpu / n).toFixed(2)} core-s per archive_command (the worker's own CPU not counted)`,
  );
  rmSync(status, { recursive: true, force: true });
  rmSync(w.dir, { recursive: true, force: true });
}

/** The base line: a cluster base backup against pg_basebackup | zstd | age, on a fresh PostgreSQL. */
export function baseBench(b, o) {
  const { timed, sh, compare, workspace, node, bin } = b;
  const pgBin = execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]).toString().trim();
  const pgDir = join(o.root, "pg-base");
  const port = 45000 + Math.floor(Math.random() * 10000);
  rmSync(pgDir, { recursive: true, force: true });
  const stopPg = startService("postgres.sh", pgDir, String(port), "bench-pw");
  const env = { PGPASSWORD: "bench-pw", PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "postgres" };
  const pg = (tool, ...args) =>
    execFileSync(join(pgBin, tool), args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "ignore"] });
  try {
    pg("createdb", "bench");
    pg("pgbench", "-i", "-q", "-s", String(o.scale), "bench");
    const mb = Number(pg("psql", "-tAc", "SELECT sum(pg_database_size(datname)) FROM pg_database").toString()) / 1e6;
    console.log(`base: a cluster with pgbench scale ${o.scale}, ${mb.toFixed(0)} MB of databases`);
    const url = `postgres://postgres:bench-pw@127.0.0.1:${port}/postgres`;
    const w = workspace("base", `{ name: cluster, type: postgres-cluster, url: "${url}", checkpoint: fast }`);
    const out = join(w.dir, "shell.tar.zst.age");
    compare(
      "base: backup of the cluster",
      "backup",
      () => timed(node, [bin, "-q", "-c", w.cfg, "backup", "now"], env),
      () =>
        sh(
          `${pgBin}/pg_basebackup -D - -Ft -X none --checkpoint=fast --no-password | zstd -1 -T0 -q | age -r ${w.recipient} > '${out}'`,
          env,
        ),
    );
    rmSync(w.dir, { recursive: true, force: true });
  } finally {
    stopPg();
    rmSync(pgDir, { recursive: true, force: true });
  }
}

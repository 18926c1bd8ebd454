// npm run bench: throughput and peak memory of strongbox backup/restore on a ~1 GB tree, next to
// the shell pipeline `tar -c | zstd -3 -T0 | age -r KEY` and its reverse, in the same run.
// Figures only; nothing here is asserted. BENCH_MB sets the size (default 1000), BENCH_DIR the place.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(process.env.BENCH_DIR ?? ".bench");
const totalMb = Number(process.env.BENCH_MB ?? 1000);
const bin = resolve("bin/strongbox");
const data = join(root, "data");

function generate() {
  const marker = join(root, `generated-${totalMb}`);
  if (existsSync(marker)) return;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(data, "ASSETS/media"), { recursive: true });
  const smallCount = 20_000;
  const smallMb = Math.min(totalMb * 0.1, 100);
  const mediaMb = totalMb - smallMb;
  const files = 8;
  const chunk = randomBytes(16 * 1024 * 1024);
  for (let i = 0; i < files; i++) {
    const size = Math.floor((mediaMb * 1e6) / files);
    const parts = [];
    for (let off = 0; off < size; off += chunk.length) parts.push(randomBytes(Math.min(chunk.length, size - off)));
    writeFileSync(join(data, `ASSETS/media/clip-${i}.mp4`), Buffer.concat(parts));
  }
  const per = Math.floor((smallMb * 1e6) / smallCount);
  for (let i = 0; i < smallCount; i++) {
    const dir = join(data, `projects/show-${i % 100}/rundown-${Math.floor(i / 100) % 20}`);
    if (i < 2000) mkdirSync(dir, { recursive: true });
    const items = [];
    while (JSON.stringify(items).length < per) items.push({ id: items.length, template: "lower-third", f0: `Name ${i}`, f1: "Title", duration: 5000 });
    writeFileSync(join(dir, `item-${i}.json`), JSON.stringify({ rundown: i, items }));
  }
  writeFileSync(marker, "");
}

/** Runs a command, returns wall seconds and the peak RSS (MiB) of the top process. */
function run(cmd, args, o = {}) {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ["ignore", o.stdout ?? "ignore", "inherit"], ...o });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {}
    }, 20);
    child.on("close", (code) => {
      clearInterval(poll);
      if (code !== 0) return rej(new Error(`${cmd} ${args.join(" ")} exited ${code}`));
      res({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, peakMb: peak });
    });
  });
}

const du = (p) => Number(execFileSync("du", ["-sb", p]).toString().split("\t")[0]);

generate();
const bytes = du(data);
const work = join(root, "work");
rmSync(work, { recursive: true, force: true });

mkdirSync(work, { recursive: true });
execFileSync(process.execPath, [bin, "init", work, "--files", data], { stdio: "ignore" });
const cfg = join(work, "strongbox.yaml");
const recipient = /public key: (age1\S+)/.exec(readFileSync(join(work, "strongbox-identity.txt"), "utf8"))[1];
execFileSync("sync");

const rows = [];
const mbps = (r) => (bytes / 1e6 / r.seconds).toFixed(0);
const sb = await run(process.execPath, [bin, "-q", "-c", cfg, "backup", "now"]);
rows.push(["strongbox backup (tar→zstd→age→file://)", sb]);
const shellOut = join(work, "shell.tar.zst.age");
const sh = await run("sh", ["-c", `tar -C '${data}' -cf - . | zstd -3 -T0 -q | age -r ${recipient} > '${shellOut}'`]);
rows.push(["tar -c | zstd -3 -T0 | age -r", sh]);
const sbr = await run(process.execPath, [bin, "-q", "-c", cfg, "restore", "latest", "--to-dir", join(work, "restored")]);
rows.push(["strongbox restore (+ per-file SHA-256 check)", sbr]);
const sbv = await run(process.execPath, [bin, "-q", "-c", cfg, "verify", "latest"]);
rows.push(["strongbox verify (decrypt+check, no writes)", sbv]);
const shv = await run("sh", ["-c", `age -d -i '${join(work, "strongbox-identity.txt")}' '${shellOut}' | zstd -d -q | tar -tf - > /dev/null`]);
rows.push(["age -d | zstd -d | tar -t", shv]);
mkdirSync(join(work, "shell-restored"));
const shr = await run("sh", ["-c", `age -d -i '${join(work, "strongbox-identity.txt")}' '${shellOut}' | zstd -d -q | tar -xf - -C '${join(work, "shell-restored")}'`]);
rows.push(["age -d | zstd -d | tar -x", shr]);

console.log(`\nstrongbox benchmark: ${(bytes / 1e6).toFixed(0)} MB (8 incompressible media files + 20,000 small JSON files), node ${process.version}, ${execFileSync("nproc").toString().trim()} cores\n`);
console.log("what".padEnd(46) + "seconds".padStart(9) + "MB/s".padStart(8) + "peak RSS MiB".padStart(14));
for (const [name, r] of rows) console.log(name.padEnd(46) + r.seconds.toFixed(2).padStart(9) + mbps(r).padStart(8) + (r.peakMb ? r.peakMb.toFixed(0) : "-").padStart(14));
console.log(`\nspeed ratio strongbox / shell — backup: ${(sh.seconds / sb.seconds).toFixed(2)}×  verify vs tar -t: ${(shv.seconds / sbv.seconds).toFixed(2)}×  restore: ${(shr.seconds / sbr.seconds).toFixed(2)}×  (1 = same speed)`);
console.log("strongbox's backup also fsyncs every object and hashes every file; its restore checks every file against the manifest.");
console.log("(peak RSS of the shell pipelines is the shell's own, not the pipeline's)");
rmSync(work, { recursive: true, force: true });

// --- PostgreSQL: a pgbench database (scale 60 ≈ 1 GB on disk) ---
const pgBinDir = (() => {
  try {
    return execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]).toString().trim();
  } catch {
    return "";
  }
})();
if (pgBinDir && process.env.BENCH_PG !== "0") {
  const scale = Number(process.env.BENCH_PG_SCALE ?? 60);
  const pgDir = join(root, "pg");
  const port = 45000 + Math.floor(Math.random() * 10000);
  const password = "bench-pw";
  rmSync(pgDir, { recursive: true, force: true });
  execFileSync("test/services/postgres.sh", ["start", pgDir, String(port), password], { stdio: "ignore" });
  const env = { ...process.env, PGPASSWORD: password, PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "postgres" };
  const url = (db) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  try {
    execFileSync(join(pgBinDir, "createdb"), ["bench"], { env });
    execFileSync(join(pgBinDir, "pgbench"), ["-i", "-q", "-s", String(scale), "bench"], { env, stdio: "ignore" });
    const dbBytes = Number(execFileSync(join(pgBinDir, "psql"), ["-tAc", "SELECT pg_database_size('bench')", "bench"], { env }).toString().trim());
    const pw = join(root, "pgwork");
    rmSync(pw, { recursive: true, force: true });
    mkdirSync(pw, { recursive: true });
    execFileSync(process.execPath, [bin, "init", pw], { stdio: "ignore" });
    const pcfg = join(pw, "strongbox.yaml");
    const rcpt = /public key: (age1\S+)/.exec(readFileSync(join(pw, "strongbox-identity.txt"), "utf8"))[1];
    writeFileSync(pcfg, readFileSync(pcfg, "utf8").replace(/sources:\n(  - name: data\n    type: files\n    path: .*\n    exclude: .*\n)/, `sources:\n  - name: db\n    type: postgres\n    url: ${url("bench")}\n`));
    const prow = [];
    const pb = await run(process.execPath, [bin, "-q", "-c", pcfg, "backup", "now"], { env });
    prow.push(["strongbox backup (pg_dump -Z0 → zstd → age)", pb]);
    const ps = await run("sh", ["-c", `${pgBinDir}/pg_dump -Fc bench | age -r ${rcpt} > '${join(pw, "shell.pgdump.age")}'`], { env });
    prow.push(["pg_dump -Fc | age -r", ps]);
    execFileSync(join(pgBinDir, "createdb"), ["restored"], { env });
    const pr = await run(process.execPath, [bin, "-q", "-c", pcfg, "restore", "latest", "--to-db", url("restored")], { env });
    prow.push(["strongbox restore (+ row counts check)", pr]);
    execFileSync(join(pgBinDir, "createdb"), ["shellrestored"], { env });
    const psr = await run("sh", ["-c", `age -d -i '${join(pw, "strongbox-identity.txt")}' '${join(pw, "shell.pgdump.age")}' | ${pgBinDir}/pg_restore -d shellrestored`], { env });
    prow.push(["age -d | pg_restore -d", psr]);
    console.log(`\nPostgreSQL: pgbench scale ${scale}, database ${(dbBytes / 1e6).toFixed(0)} MB on disk (MB/s below = database size / seconds)\n`);
    console.log("what".padEnd(46) + "seconds".padStart(9) + "MB/s".padStart(8) + "peak RSS MiB".padStart(14));
    for (const [name, r] of prow) console.log(name.padEnd(46) + r.seconds.toFixed(2).padStart(9) + (dbBytes / 1e6 / r.seconds).toFixed(0).padStart(8) + (r.peakMb ? r.peakMb.toFixed(0) : "-").padStart(14));
    console.log(`\nspeed ratio strongbox / shell — dump: ${(ps.seconds / pb.seconds).toFixed(2)}×  restore: ${(psr.seconds / pr.seconds).toFixed(2)}×`);
    rmSync(pw, { recursive: true, force: true });
  } finally {
    execFileSync("test/services/postgres.sh", ["stop", pgDir], { stdio: "ignore" });
    rmSync(pgDir, { recursive: true, force: true });
  }
}

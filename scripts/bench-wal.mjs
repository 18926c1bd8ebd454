// node scripts/bench-wal.mjs: WAL push throughput, one process per segment as archive_command runs it.
// Pushes BENCH_WAL_SEGMENTS (default 20) distinct 16 MiB segments of half-compressible data one after
// the other, and prints segments/s beside the cost of starting the CLI alone (`strongbox --version`)
// and beside a plain `cp` of each segment (what pg_receivewal's local write amounts to).
// BENCH_WAL_CONFIG=<strongbox.yaml> pushes to that repository (e.g. Ceph RGW, writer role) instead
// of a fresh file:// one. Figures only: nothing here fails. Needs `npm run build`.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { generateIdentity } from "../dist/crypto/age-keys.js";

const n = Number(process.env.BENCH_WAL_SEGMENTS ?? 20);
const SEG = 16 * 1024 * 1024;
const SYSID = 7300000000000000123n;
const bin = resolve("bin/strongbox");
const dir = mkdtempSync(join(tmpdir(), "strongbox-bench-wal-"));
const h8 = (x) => x.toString(16).toUpperCase().padStart(8, "0");

function segment(segno) {
  const b = Buffer.alloc(SEG);
  // Half random, half zeros: WAL compresses about that well.
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

let config = process.env.BENCH_WAL_CONFIG;
if (!config) {
  config = join(dir, "strongbox.yaml");
  const cfg = {
    version: 1,
    repository: { url: `file://${join(dir, "repository")}` },
    encryption: { recipients: [generateIdentity().recipient] },
    sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://unused@localhost/postgres" }],
  };
  writeFileSync(config, stringify(cfg));
}
mkdirSync(join(dir, "pg_wal"));
const base = Math.floor(Date.now() / 1000) % 0x10000; // distinct names on each run against a kept repository
const names = [];
for (let i = 0; i < n; i++) {
  const segno = base * 256 + i;
  const name = `00000001${h8(Math.floor(segno / 256))}${h8(segno % 256)}`;
  writeFileSync(join(dir, "pg_wal", name), segment(segno));
  names.push(name);
}
const time = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const startup =
  time(() => {
    for (let i = 0; i < 5; i++) execFileSync(process.execPath, [bin, "--version"]);
  }) / 5;
const push = time(() => {
  for (const name of names)
    execFileSync(process.execPath, [bin, "-c", config, "wal", "push", join(dir, "pg_wal", name)]);
});
mkdirSync(join(dir, "copy"));
const cp = time(() => {
  for (const name of names) execFileSync("cp", [join(dir, "pg_wal", name), join(dir, "copy", name)]);
});
console.log(
  `wal push: ${n} segments of 16 MiB in ${push.toFixed(1)} s: ${(n / push).toFixed(1)} segments/s (${((n * 16) / push).toFixed(0)} MiB/s)`,
);
console.log(
  `  of which CLI start-up: ${startup.toFixed(2)} s per process (${((startup * n * 100) / push).toFixed(0)}% of the time)`,
);
console.log(`  cp of each segment (a local copy, as pg_receivewal writes): ${(n / cp).toFixed(1)} segments/s`);
rmSync(dir, { recursive: true, force: true });

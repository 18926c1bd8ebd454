// npm run bench:diff — differential backups against restic on the bench tree (~1 GB: 10 incompressible
// media files + 20,000 small JSON files), in one run on this machine. Figures only; nothing is asserted.
//   - a second backup with nothing changed: wall and CPU seconds, bytes stored, next to restic's
//     unchanged snapshot (target: ≤ 0.5× restic's time, ≤ 1 MB stored);
//   - the same on the small files alone (same file count, 3 % of the bytes): CPU follows files, not bytes;
//   - after 1 % of the files changed: bytes stored against bytes changed.
// BENCH_DIR sets the place (default .bench-diff), BENCH_MB the media size (default 970), BENCH_RUNS (default 3).
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(process.env.BENCH_DIR ?? ".bench-diff");
const mediaMb = Number(process.env.BENCH_MB ?? 970);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const bin = resolve("bin/strongbox");
const data = join(root, "data");
const SMALL = 20_000;

function generate() {
  const marker = join(root, `generated-${mediaMb}`);
  if (existsSync(marker)) return;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(data, "ASSETS/media"), { recursive: true });
  for (let i = 0; i < 10; i++) {
    const parts = [];
    for (let left = Math.floor((mediaMb * 1e6) / 10); left > 0; left -= 16 << 20)
      parts.push(randomBytes(Math.min(16 << 20, left)));
    writeFileSync(join(data, `ASSETS/media/clip-${i}.mp4`), Buffer.concat(parts));
  }
  for (let i = 0; i < SMALL; i++) {
    const dir = join(data, `projects/show-${i % 100}/rundown-${Math.floor(i / 100) % 20}`);
    if (i < 2000) mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `item-${i}.json`),
      JSON.stringify({
        rundown: i,
        items: Array.from({ length: 20 }, (_, k) => ({ id: k, template: "lower-third", f0: `Name ${i}` })),
      }),
    );
  }
  writeFileSync(marker, "");
}

/** Wall, user+sys CPU and peak RSS of a command, from GNU time. */
function timed(cmd, args, env = {}) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.slice(-2000)}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { wall, cpu: user + sys, rssMb: rssKb / 1024, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function strongboxRepo(name, path) {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync(process.execPath, [bin, "keygen", "-o", join(dir, "identity.txt")], { stdio: "ignore" });
  const recipient = /public key: (age1\S+)/.exec(readFileSync(join(dir, "identity.txt"), "utf8"))[1];
  const cfg = join(dir, "strongbox.yaml");
  writeFileSync(
    cfg,
    [
      "version: 1",
      `repository: { url: "file://${join(dir, "repo")}" }`,
      `encryption: { recipients: ["${recipient}"] }`,
      `state_dir: ${join(dir, "state")}`,
      `lock_dir: ${dir}`,
      "sources:",
      `  - { name: assets, type: files, path: ${path}, differential: { full_every: 7d } }`,
      "",
    ].join("\n"),
  );
  const backup = () => {
    const t = timed(process.execPath, [bin, "-q", "--json", "-c", cfg, "backup", "now"]);
    const out = JSON.parse(t.stdout);
    return { ...t, kind: out.sources[0].kind, stored: out.stored_bytes, changed: out.sources[0].files_changed };
  };
  return { backup };
}

function resticRepo(name, path) {
  const repo = join(root, name);
  rmSync(repo, { recursive: true, force: true });
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "bench", RESTIC_CACHE_DIR: join(root, `${name}-cache`) };
  execFileSync("restic", ["init", "-q"], { env: { ...process.env, ...env } });
  const backup = () => {
    const t = timed("restic", ["backup", "-q", "--json", path], env);
    const summary = t.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((l) => l.message_type === "summary");
    return { ...t, stored: summary?.data_added ?? NaN };
  };
  return { backup };
}

function unchanged(backup, label) {
  const rs = Array.from({ length: runs }, () => backup());
  return {
    label,
    wall: median(rs.map((r) => r.wall)),
    cpu: median(rs.map((r) => r.cpu)),
    rssMb: Math.max(...rs.map((r) => r.rssMb)),
    stored: median(rs.map((r) => r.stored)),
    kind: rs[0].kind,
  };
}

if (spawnSync("restic", ["version"]).status !== 0) {
  console.error("restic is not installed (apt-get install restic)");
  process.exit(1);
}
generate();
execFileSync("sync");
const bytes = Number(execFileSync("du", ["-sb", data]).toString().split("\t")[0]);
console.log(
  `\ndifferential benchmark: ${(bytes / 1e6).toFixed(0)} MB, 10 media files + ${SMALL} small files; node ${process.version}; ${execFileSync("nproc").toString().trim()} cores; median of ${runs}\n`,
);

const sb = strongboxRepo("sb", data);
const full = sb.backup();
const rc = resticRepo("restic", data);
const rfull = rc.backup();
const rows = [];
rows.push({ label: "strongbox full backup", ...full });
rows.push({ label: "restic first snapshot", ...rfull });
const sbSame = unchanged(sb.backup, "strongbox, nothing changed");
const rcSame = unchanged(rc.backup, "restic, nothing changed");
rows.push(sbSame, rcSame);

const small = strongboxRepo("sb-small", join(data, "projects"));
small.backup();
rows.push(unchanged(small.backup, "strongbox, nothing changed, small files only"));

// 1 % of the files change: 200 small files and 0 of the media files are rewritten with new content.
let changedBytes = 0;
for (let i = 0; i < SMALL; i += 100) {
  const f = join(data, `projects/show-${i % 100}/rundown-${Math.floor(i / 100) % 20}/item-${i}.json`);
  const body = JSON.stringify({
    rundown: i,
    changed: Date.now(),
    items: Array.from({ length: 20 }, (_, k) => ({ id: k, template: "full-frame", f0: `Name ${i}` })),
  });
  writeFileSync(f, body);
  changedBytes += body.length;
}
const onePct = sb.backup();
rows.push({ label: `strongbox after 1 % of files changed (${(changedBytes / 1e3).toFixed(0)} kB)`, ...onePct });
rows.push({ label: "restic after the same change", ...rc.backup() });

console.log(
  "what".padEnd(58) +
    "wall s".padStart(8) +
    "CPU s".padStart(8) +
    "RSS MiB".padStart(9) +
    "stored".padStart(12) +
    "  kind",
);
for (const r of rows) {
  const stored = r.stored >= 1e6 ? `${(r.stored / 1e6).toFixed(1)} MB` : `${(r.stored / 1e3).toFixed(1)} kB`;
  console.log(
    r.label.padEnd(58) +
      r.wall.toFixed(2).padStart(8) +
      r.cpu.toFixed(2).padStart(8) +
      r.rssMb.toFixed(0).padStart(9) +
      stored.padStart(12) +
      `  ${r.kind ?? ""}`,
  );
}
const ratio = sbSame.wall / rcSame.wall;
console.log(
  `\nunchanged backup: strongbox ${sbSame.wall.toFixed(2)} s vs restic ${rcSame.wall.toFixed(2)} s = ${ratio.toFixed(2)}× restic's time (target ≤ 0.5×: ${ratio <= 0.5 ? "PASS" : "MISS"}); stored ${(sbSame.stored / 1e3).toFixed(1)} kB (target ≤ 1 MB: ${sbSame.stored <= 1e6 ? "PASS" : "MISS"})`,
);
console.log(
  `1 % of files changed: stored ${(onePct.stored / 1e3).toFixed(1)} kB for ${(changedBytes / 1e3).toFixed(1)} kB changed (manifest of the whole tree included)`,
);

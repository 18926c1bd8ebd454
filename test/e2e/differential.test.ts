// Differential backups (SPEC §10) through a file:// repository: a chain of a full and differentials,
// each restored exactly by strongbox and by hand with GNU tar, and every reason for a full.
import { execFileSync, execSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { stateOwner } from "../../src/differential/owner.js";
import { statePath } from "../../src/differential/state.js";
import { configSchema } from "../../src/config/schema.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { BIN, makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// file:// repositories only: main() runs in-process, except for the runs killed with SIGKILL (killWhileWriting).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { snapshotTree } from "../helpers/tree.js";
import { mulberry32 } from "../helpers/random.js";
import { secondApart } from "../helpers/backup-clock.js";

function differentialRepo(data: string, extra: Record<string, unknown> = {}): TestRepo & { stateDir: string } {
  const repo = makeRepo({
    sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" }, ...extra }],
  });
  const stateDir = join(repo.dir, "state");
  repo.config.state_dir = stateDir;
  repo.config.lock_dir = repo.dir;
  repo.write();
  return Object.assign(repo, { stateDir });
}

function stateFile(repo: TestRepo): string {
  const cfg = configSchema.parse(repo.config);
  return statePath(stateOwner(cfg), "assets");
}

/** Every backup of this file a second after the last, by its clock: distinct, ordered ids without sleeping. */
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());

async function backup(
  repo: TestRepo,
  args: string[] = [],
): Promise<{ id: string; kind: string; base?: string; files_changed?: number; stored_bytes: number; log: string }> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now", ...args], { env: nextSecond() });
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  const s = out.sources.find((x: { name: string }) => x.name === "assets");
  return {
    id: out.id,
    kind: s.kind,
    base: s.base,
    files_changed: s.files_changed,
    stored_bytes: s.stored_bytes,
    log: r.stderr,
  };
}

function objectPath(repo: TestRepo, id: string): string {
  return join(repo.dir, "repository/backups", id, "assets.tar.zst.age");
}

/** SPEC §10's hand restore: each object in turn through age, zstd and `tar -x -g /dev/null`. */
function handRestore(repo: TestRepo, ids: string[]): string {
  const out = tempDir("hand");
  for (const id of ids)
    execSync(`age -d -i '${repo.identityFile}' '${objectPath(repo, id)}' | zstd -d | tar -x -g /dev/null -C '${out}'`);
  return out;
}

async function restore(repo: TestRepo, id: string): Promise<string> {
  const out = tempDir("restore");
  const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out]);
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/restored and checked/);
  return join(out, "assets");
}

/** The tree as a restore must give it: content, types, modes, mtimes (to the millisecond). */
const snap = (dir: string) => snapshotTree(dir);

/** Runs strongbox and SIGKILLs it as soon as a new backup directory holds a partly written object. */
function killWhileWriting(
  args: string[],
  backups: string,
  known: Set<string>,
): Promise<{ killed: boolean; written: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: "ignore",
    });
    let written = 0;
    const poll = setInterval(() => {
      for (const id of readdirSync(backups).filter((x) => !known.has(x))) {
        try {
          for (const f of readdirSync(join(backups, id)))
            written = Math.max(written, statSync(join(backups, id, f)).size);
        } catch {
          // the directory or file is being renamed: look again
        }
      }
      if (written > 0) {
        clearInterval(poll);
        child.kill("SIGKILL");
      }
    }, 5);
    const deadline = setTimeout(() => reject(new Error(`strongbox ${args.join(" ")} did not end within 60 s`)), 60_000);
    child.on("close", (_code, signal) => {
      clearInterval(poll);
      clearTimeout(deadline);
      resolve({ killed: signal === "SIGKILL", written });
    });
  });
}

describe("differential backups through a file:// repository", () => {
  it("a full and 3 differentials restore exactly, by strongbox and by hand with GNU tar", async () => {
    const data = tempDir("diffdata");
    mkdirSync(join(data, "projects/show one"), { recursive: true });
    mkdirSync(join(data, "ASSETS/clips"), { recursive: true });
    mkdirSync(join(data, "ASSETS/old dir/sub"), { recursive: true });
    mkdirSync(join(data, "rundowns"), { recursive: true });
    const rand = mulberry32(11);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    writeFileSync(join(data, "ASSETS/clips/clip a.mp4"), bytes(400_000));
    writeFileSync(join(data, "ASSETS/clips/clip b.mp4"), bytes(300_000));
    writeFileSync(join(data, "ASSETS/old dir/sub/x.txt"), "x\n");
    writeFileSync(join(data, "ASSETS/old dir/y.txt"), "y\n");
    writeFileSync(join(data, "projects/show one/rundown.json"), "{}\n");
    writeFileSync(join(data, "projects/ünïcødé ✓.json"), "[1]\n");
    writeFileSync(join(data, "rundowns/becomes-dir"), "file\n");
    writeFileSync(join(data, "rundowns/becomes-link"), "file\n");
    writeFileSync(join(data, "rundowns/to delete.txt"), "bye\n");
    writeFileSync(join(data, "rundowns/renamed-from.txt"), "moving\n");
    const repo = differentialRepo(data);
    const chain: { id: string; tree: ReturnType<typeof snap> }[] = [];

    const full = await backup(repo);
    expect(full.kind).toBe("full");
    expect(full.log).toMatch(/full backup: no state of a previous full/);
    expect(existsSync(stateFile(repo))).toBe(true);
    chain.push({ id: full.id, tree: snap(data) });

    // 1: content change, delete, rename, new 0-byte file, new empty dir.
    writeFileSync(join(data, "projects/show one/rundown.json"), '{"items":[1]}\n');
    unlinkSync(join(data, "rundowns/to delete.txt"));
    renameSync(join(data, "rundowns/renamed-from.txt"), join(data, "rundowns/renamed to.txt"));
    writeFileSync(join(data, "rundowns/empty"), "");
    mkdirSync(join(data, "ASSETS/new empty dir"));
    const d1 = await backup(repo);
    chain.push({ id: d1.id, tree: snap(data) });

    // 2: a deleted directory, a renamed directory, a new directory, file → symlink. (A file that
    // becomes a directory makes the backup a full: see differential-chain.test.ts.)
    rmSync(join(data, "ASSETS/old dir/sub"), { recursive: true });
    renameSync(join(data, "ASSETS/old dir"), join(data, "ASSETS/new name dir"));
    mkdirSync(join(data, "rundowns/new-dir"));
    writeFileSync(join(data, "rundowns/new-dir/inside.txt"), "in\n");
    unlinkSync(join(data, "rundowns/becomes-link"));
    symlinkSync("../projects", join(data, "rundowns/becomes-link"));
    const d2 = await backup(repo);
    chain.push({ id: d2.id, tree: snap(data) });

    // 3: one media file changed in place (same size), nothing else.
    writeFileSync(join(data, "ASSETS/clips/clip b.mp4"), bytes(300_000));
    const d3 = await backup(repo);
    chain.push({ id: d3.id, tree: snap(data) });

    for (const d of [d1, d2, d3]) {
      expect(d.kind).toBe("diff");
      expect(d.base).toBe(full.id);
    }
    // Everything changed since the full (5 files, then clip b), not the unchanged 400 kB clip a.
    expect(d3.files_changed).toBe(6);
    expect(d3.stored_bytes).toBeLessThan(full.stored_bytes / 2);
    const complete = JSON.parse(readFileSync(join(repo.dir, "repository/backups", d3.id, "complete.json"), "utf8"));
    expect(complete.objects.find((o: { source?: string }) => o.source === "assets").base).toBe(full.id);

    for (const [i, b] of chain.entries()) {
      expect(snap(await restore(repo, b.id)), `strongbox restore of backup ${i}`).toEqual(b.tree);
      const ids = i === 0 ? [full.id] : [full.id, b.id];
      expect(snap(handRestore(repo, ids)), `hand restore of backup ${i}`).toEqual(b.tree);
    }

    const v = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim().split("\n").sort()).toEqual(chain.map((b) => `${b.id}  OK`).sort());

    const list = await runCli(["-c", repo.configFile, "list"]);
    expect(list.stdout).toMatch(new RegExp(`${d3.id}.*diff \\(base ${full.id}\\)`));
    expect(list.stdout).toMatch(new RegExp(`${full.id}.*full`));
    const json = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(json.find((r: { id: string }) => r.id === d1.id)).toMatchObject({
      kind: "diff",
      bases: { assets: full.id },
    });
    expect(json.find((r: { id: string }) => r.id === full.id)).toMatchObject({ kind: "full", bases: {} });
  });

  it("an unchanged tree stores almost nothing and reads no file", async () => {
    const data = tempDir("diffsame");
    for (let i = 0; i < 50; i++) writeFileSync(join(data, `f${i}.bin`), Buffer.alloc(20_000, i));
    const repo = differentialRepo(data);
    await backup(repo);
    const d = await backup(repo);
    expect(d.kind).toBe("diff");
    expect(d.files_changed).toBe(0);
    expect(d.stored_bytes).toBeLessThan(4000);

    // Proof that an unchanged file is not read: give f7.bin a false hash in the state (checksum
    // line recomputed). Had the differential read and hashed f7.bin, its manifest would carry the
    // real hash; it carries the state's.
    const file = stateFile(repo);
    const state = JSON.parse(readFileSync(file, "utf8").slice(65));
    const real = state.entries.find((e: { path: string }) => e.path === "f7.bin").sha256;
    const fake = "0".repeat(64);
    state.entries.find((e: { path: string }) => e.path === "f7.bin").sha256 = fake;
    const body = JSON.stringify(state);
    writeFileSync(file, `${createHash("sha256").update(body).digest("hex")}\n${body}`, { mode: 0o600 });
    const d2 = await backup(repo);
    expect(d2.kind).toBe("diff");
    const hashOf = (id: string) =>
      JSON.parse(
        execSync(
          `age -d -i '${repo.identityFile}' '${join(repo.dir, "repository/backups", id, "manifest.json.zst.age")}' | zstd -d`,
        ).toString(),
      ).sources.assets.entries.find((e: { path: string }) => e.path === "f7.bin").sha256;
    expect(hashOf(d.id)).toBe(real);
    expect(hashOf(d2.id)).toBe(fake);
  });

  it("takes a full when the recipients or the source's path changed since the last full", async () => {
    const data = tempDir("diffowner");
    writeFileSync(join(data, "media.bin"), Buffer.alloc(50_000, 7));
    const repo = differentialRepo(data);
    expect((await backup(repo)).kind).toBe("full");
    expect((await backup(repo)).kind).toBe("diff");

    repo.config.encryption.recipients = [...repo.config.encryption.recipients, generateIdentity().recipient];
    repo.write();
    const rekeyed = await backup(repo);
    expect(rekeyed.kind).toBe("full");
    expect(rekeyed.log).toMatch(/full backup: the recipients changed since the last full/);
    expect((await backup(repo)).kind).toBe("diff");

    const moved = tempDir("diffowner2");
    writeFileSync(join(moved, "media.bin"), Buffer.alloc(50_000, 7));
    repo.config.sources[0].path = moved;
    repo.write();
    const elsewhere = await backup(repo);
    expect(elsewhere.kind).toBe("full");
    expect(elsewhere.log).toMatch(
      new RegExp(`full backup: the source's path changed since the last full \\(was ${data}\\)`),
    );
  });

  it("doctor says, per differential source, which full the next backup builds on or why it is a full", async () => {
    const data = tempDir("diffdoctor");
    writeFileSync(join(data, "x"), "x\n");
    const repo = differentialRepo(data);
    const findings = async () => {
      const r = await runCli(["-c", repo.configFile, "--json", "doctor"]);
      expect(r.code).toBe(0);
      // "source assets" is also the area of the readability check: keep every finding.
      return JSON.parse(r.stdout).findings.map(
        (f: { area: string; status: string; detail: string }) => `${f.area}: ${f.status}: ${f.detail}`,
      );
    };
    const before = await findings();
    expect(before).toContain(`state dir: ok: ${repo.stateDir} writable`);
    expect(before).toContain(
      "source assets: ok: differential (full_every 7d): the next backup is a full (no state of a previous full on this host)",
    );
    const full = await backup(repo);
    expect(await findings()).toContain(
      `source assets: ok: differential (full_every 7d): last full ${full.id}, 1 files tracked`,
    );
  });

  it("takes a full when the state is missing, corrupt, from another repository, --full, full_every, or the change is large", async () => {
    const data = tempDir("difffull");
    writeFileSync(join(data, "big.bin"), Buffer.alloc(100_000, 1));
    writeFileSync(join(data, "small.txt"), "s\n");
    const repo = differentialRepo(data);
    const first = await backup(repo);
    expect(first.kind).toBe("full");
    const file = stateFile(repo);
    const saved = readFileSync(file);

    // A differential reads the state but never rewrites it.
    expect((await backup(repo)).kind).toBe("diff");
    expect(readFileSync(file).equals(saved)).toBe(true);

    unlinkSync(file);
    const noState = await backup(repo);
    expect(noState.kind).toBe("full");
    expect(noState.log).toMatch(/full backup: no state of a previous full on this host/);

    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 10] ^= 1;
    writeFileSync(file, flipped);
    const corrupt = await backup(repo);
    expect(corrupt.kind).toBe("full");
    expect(corrupt.log).toMatch(/state file .* is corrupt/);

    // The state of another repository, copied where this one's belongs.
    const other = differentialRepo(data);
    await backup(other);
    copyFileSync(stateFile(other), file);
    const foreign = await backup(repo);
    expect(foreign.kind).toBe("full");
    expect(foreign.log).toMatch(/state was made for another repository/);

    // The full the state names is gone from the (file://, so readable) repository.
    rmSync(join(repo.dir, "repository/backups", foreign.id), { recursive: true });
    const gone = await backup(repo);
    expect(gone.kind).toBe("full");
    expect(gone.log).toMatch(new RegExp(`last full ${foreign.id} is no longer in the repository`));

    const forced = await backup(repo, ["--full"]);
    expect(forced.kind).toBe("full");
    expect(forced.log).toMatch(/--full was given/);

    // More than half of the full's bytes changed: a full, and the log says so.
    writeFileSync(join(data, "big.bin"), Buffer.alloc(100_000, 2));
    const large = await backup(repo);
    expect(large.kind).toBe("full");
    expect(large.log).toMatch(/more than half of the full/);

    const quick = differentialRepo(data, { differential: { full_every: "1s" } });
    await backup(quick);
    const due = await backup(quick); // a second later by the backups' clock (secondApart)
    expect(due.kind).toBe("full");
    expect(due.log).toMatch(/full_every \(1s\) has passed/);
  });

  it("a symlink that became a directory is stored as a full (GNU tar would extract through it)", async () => {
    const data = tempDir("difflink");
    mkdirSync(join(data, "real"));
    writeFileSync(join(data, "real/a"), "a\n");
    writeFileSync(join(data, "pad.bin"), Buffer.alloc(50_000, 3));
    symlinkSync("real", join(data, "link"));
    const repo = differentialRepo(data);
    await backup(repo);
    unlinkSync(join(data, "link"));
    mkdirSync(join(data, "link"));
    const b = await backup(repo);
    expect(b.kind).toBe("full");
    expect(b.log).toMatch(/link changed from a symlink to a directory/);
  });

  it("prune keeps the base of a kept differential, and a missing base is exit 3 naming it", async () => {
    const data = tempDir("diffprune");
    writeFileSync(join(data, "media.bin"), Buffer.alloc(80_000, 5));
    const repo = differentialRepo(data);
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const full = await backup(repo);
    writeFileSync(join(data, "note.txt"), "one\n");
    const d1 = await backup(repo);
    writeFileSync(join(data, "note.txt"), "two\n");
    const d2 = await backup(repo);

    const dry = await runCli(["-c", repo.configFile, "prune", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${full.id}\\s+\\S+\\s+keep\\s+base of ${d2.id}`));
    expect(dry.stdout).toMatch(new RegExp(`${d1.id}\\s+\\S+\\s+drop`));
    const p = await runCli(["-c", repo.configFile, "prune"]);
    expect(p.code).toBe(0);
    expect(readdirSync(join(repo.dir, "repository/backups")).sort()).toEqual([full.id, d2.id].sort());
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.stdout.trim()).toBe(`${d2.id}  OK`);

    // The base vanishes (deleted by hand): verify and restore fail with exit 3 and name it.
    rmSync(join(repo.dir, "repository/backups", full.id, "complete.json"));
    const bad = await runCli(["-c", repo.configFile, "verify", d2.id]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(new RegExp(`${d2.id}  FAILED: .*base ${full.id}`));
    const r = await runCli(["-c", repo.configFile, "restore", d2.id, "--to-dir", tempDir("nobase")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`base ${full.id}.*missing`));
  });

  it("a base whose object was altered fails verify of the differential (exit 3)", async () => {
    const data = tempDir("diffalter");
    writeFileSync(join(data, "media.bin"), Buffer.alloc(80_000, 9));
    const repo = differentialRepo(data);
    const full = await backup(repo);
    writeFileSync(join(data, "note.txt"), "one\n");
    const d = await backup(repo);
    const obj = objectPath(repo, full.id);
    const body = readFileSync(obj);
    body[body.length - 100] ^= 0x40;
    writeFileSync(obj, body);
    const v = await runCli(["-c", repo.configFile, "verify", d.id]);
    expect(v.code).toBe(3);
    expect(v.stdout).toMatch(new RegExp(`${d.id}  FAILED: .*${full.id}/assets.tar.zst.age`));
  });

  // 50 MiB of incompressible data through a full, three killed runs, a differential and a restore:
  // 60 s is too tight on a loaded machine (it took 105 s with the load at 19 on 2 cores).
  it(
    "kill -9 during a full or a differential: no complete.json, and the state is not advanced",
    { timeout: 180_000 },
    async () => {
      const data = tempDir("diffkill");
      // Incompressible, so that a backup takes long enough to be killed in the middle.
      const rand = mulberry32(5);
      const big = Buffer.alloc(40 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
      writeFileSync(join(data, "a.bin"), big);
      writeFileSync(join(data, "b.bin"), big.subarray(0, 10 * 1024 * 1024));
      const repo = differentialRepo(data);
      const full = await backup(repo);
      const state = readFileSync(stateFile(repo));
      // A differential of b.bin (10 MiB, under half of the full), killed mid-run.
      writeFileSync(join(data, "b.bin"), big.subarray(1, 10 * 1024 * 1024 + 1));
      // Each run is killed once its object is partly written (not during Node's startup, which on a
      // loaded machine takes longer than a fixed delay would allow): a kill in mid-differential.
      const backups = join(repo.dir, "repository/backups");
      for (const args of [[], [], ["--full"]]) {
        const known = new Set(readdirSync(backups));
        const r = await killWhileWriting(["-c", repo.configFile, "backup", "now", ...args], backups, known);
        expect(r.killed, `backup now ${args.join(" ")} ended before it was killed`).toBe(true);
        expect(r.written).toBeGreaterThan(0);
        const ids = readdirSync(backups).filter((id) => !known.has(id));
        expect(ids).toHaveLength(1);
        expect(existsSync(join(backups, ids[0], "complete.json")), `killed backup ${ids[0]} looks complete`).toBe(
          false,
        );
        expect(readFileSync(stateFile(repo)).equals(state), "the state moved on after a kill").toBe(true);
      }
      // After the kills the next run is still a differential on the same full, and it restores.
      const after = await backup(repo);
      expect(after.kind).toBe("diff");
      expect(after.base).toBe(full.id);
      expect(snap(await restore(repo, after.id))).toEqual(snap(data));
    },
  );

  it("the state file is 0600 and written atomically (no temporary file left)", async () => {
    const data = tempDir("diffmode");
    writeFileSync(join(data, "x"), "x\n");
    const repo = differentialRepo(data);
    await backup(repo);
    const file = stateFile(repo);
    expect(execFileSync("stat", ["-c", "%a", file]).toString().trim()).toBe("600");
    expect(readdirSync(dirname(file))).toEqual(["assets.json"]);
  });
});

describe("a forged differential (only the public recipient and write access)", () => {
  it("an unsafe name in a dumpdir fails verify and restore with exit 3, and nothing is written", async () => {
    const { forgeBackup, sha256 } = await import("../helpers/forge.js");
    const { archive, fileEntry, paxHeader, paxRecord, rawHeader } = await import("../helpers/tar-craft.js");
    const data = tempDir("diffforge");
    writeFileSync(join(data, "x"), "old\n");
    const repo = differentialRepo(data);
    const full = await backup(repo);
    const root = Buffer.concat([
      paxHeader(paxRecord("GNU.dumpdir", "N..\0Yx\0\0")),
      rawHeader({ name: "./", typeflag: "5" }),
    ]);
    const tar = archive(root, fileEntry("x", "hi"));
    const id = await forgeBackup(join(repo.dir, "repository"), repo.recipient, {
      files: {
        assets: {
          tar,
          entries: [{ path: "x", type: "file", size: 2, mode: 0o644, mtime: "1", sha256: sha256(Buffer.from("hi")) }],
        },
      },
      manifest: (m) => Object.assign(m.sources.assets, { base: full.id, stored_files: 1, stored_bytes: 2 }),
      complete: (c) => (c.objects[0].base = full.id),
    });
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    expect(v.stdout.trim()).toBe(`${id}  FAILED`);
    expect(v.stderr).toMatch(/directory listings match the manifest.*unsafe name/);
    const out = tempDir("diffforgeout");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", join(out, "t")]);
    expect(r.code).toBe(3);
    // Nothing of the forged tree stays: the target (created by restore) is empty, nothing beside it.
    expect(readdirSync(out).filter((n) => n !== "t")).toEqual([]);
    expect(existsSync(join(out, "t")) ? readdirSync(join(out, "t")) : []).toEqual([]);
  });
});

describe("differential backups are reported", () => {
  it("the webhook and the audit log say full or diff, with the base and the files changed; a drill report names the base", async () => {
    const { startReceiver } = await import("../helpers/http-receiver.js");
    const hook = await startReceiver();
    try {
      const data = tempDir("diffhook");
      writeFileSync(join(data, "media.bin"), Buffer.alloc(60_000, 1));
      const repo = differentialRepo(data);
      repo.config.notify = [{ type: "webhook", url: `${hook.url}/hook` }];
      repo.config.audit_log = join(repo.dir, "audit.jsonl");
      repo.write();
      const full = await backup(repo);
      writeFileSync(join(data, "new.txt"), "n\n");
      const d = await backup(repo);
      const reports = hook.calls.map((c) => JSON.parse(c.body).report);
      expect(reports[0]).toMatchObject({ kind: "full", sources: [{ name: "assets", kind: "full" }] });
      expect(reports[1]).toMatchObject({
        kind: "diff",
        sources: [{ name: "assets", kind: "diff", base: full.id, files_changed: 1 }],
      });
      const audit = readFileSync(join(repo.dir, "audit.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(audit.at(-1)).toMatchObject({ backup_id: d.id, report: { kind: "diff" } });
      const drill = await runCli(["-c", repo.configFile, "--json", "drill", d.id]);
      expect(drill.code).toBe(0);
      expect(JSON.parse(drill.stdout)).toMatchObject({ backup_id: d.id, result: "pass", bases: { assets: full.id } });
      // `drill random` picks among all complete backups, differentials included (each run: 1 in 2).
      const picked = new Set<string>();
      for (let i = 0; i < 12 && !picked.has(d.id); i++) {
        const r = await runCli(["-c", repo.configFile, "drill", "random"]);
        expect(r.code).toBe(0);
        const m = /drill \S+ of backup (\S+)( \(differential of base (\S+)\))?: PASS/.exec(r.stdout);
        expect(m, r.stdout).not.toBeNull();
        picked.add(m![1]);
        expect(m![3]).toBe(m![1] === d.id ? full.id : undefined);
      }
      expect(picked.has(d.id), "drill random never picked the differential in 12 runs").toBe(true);
    } finally {
      await hook.close();
    }
  });
});

import { execSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { secondApart } from "../helpers/backup-clock.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

function objectsOf(repo: TestRepo, id: string): string[] {
  return readdirSync(join(repo.dir, "repository/backups", id));
}

function withoutExcluded(snap: ReturnType<typeof snapshotTree>) {
  return Object.fromEntries(Object.entries(snap).filter(([p]) => !p.endsWith(".tmp")));
}

describe.each(["zstd", "gzip", "none"])("backup → restore through a file:// repository (%s)", (compression) => {
  const data = tempDir("data");
  makeSampleTree(data);
  const repo = makeRepo({
    sources: [{ name: "assets", type: "files", path: data, exclude: ["**/*.tmp"] }],
    compression,
  });
  let id = "";

  beforeAll(async () => {
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    id = JSON.parse(r.stdout).id;
  });

  it("stores one age object per source, an encrypted manifest and complete.json", () => {
    const ext = { zstd: ".tar.zst.age", gzip: ".tar.gz.age", none: ".tar.age" }[compression];
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    // The manifest is compressed like the data.
    const manifest = `manifest.json${{ zstd: ".zst", gzip: ".gz", none: "" }[compression]}.age`;
    expect(objectsOf(repo, id).sort()).toEqual([`assets${ext}`, "complete.json", manifest].sort());
    const complete = JSON.parse(readFileSync(join(repo.dir, "repository/backups", id, "complete.json"), "utf8"));
    expect(complete).toMatchObject({ format: "strongbox/1", id, compression });
    expect(complete.started_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(complete.objects).toHaveLength(2);
    expect(
      readFileSync(join(repo.dir, "repository/backups", id, manifest))
        .subarray(0, 21)
        .toString(),
    ).toBe("age-encryption.org/v1");
  });

  it("restores the tree exactly: content, modes, mtimes, symlinks, empty dirs", async () => {
    const out = tempDir("restore");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(withoutExcluded(snapshotTree(data)));
  });

  it("restores by hand with the age CLI and tar, as the README says", () => {
    const out = tempDir("hand");
    const flag = { zstd: "--zstd", gzip: "-z", none: "" }[compression];
    const file = join(
      repo.dir,
      "repository/backups",
      id,
      `assets.tar${{ zstd: ".zst", gzip: ".gz", none: "" }[compression]}.age`,
    );
    execSync(`age -d -i '${repo.identityFile}' '${file}' | tar ${flag} -xf - -C '${out}'`);
    // GNU tar restores nanosecond mtimes from the PAX headers: compare at full precision.
    expect(snapshotTree(out, 0.000001)).toEqual(withoutExcluded(snapshotTree(data, 0.000001)));
  });

  it("verify passes", async () => {
    const r = await runCli(["-c", repo.configFile, "--json", "verify", id]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });
});

describe("failures are detected and reported with the right exit code", () => {
  const data = tempDir("data");
  makeSampleTree(data);
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  // One repository for every test here: each backup a second after the last, so `latest` and list's
  // newest-first order are the backup made last, never one of an earlier test made in the same second.
  const nextSecond = secondApart();
  const backup = async () => {
    const r = await runCli(["-c", repo.configFile, "backup", "now"], { env: nextSecond() });
    expect(r.code).toBe(0);
    return r.stdout.trim().split("\n")[0];
  };
  const objectPath = (id: string) => join(repo.dir, "repository/backups", id, "assets.tar.zst.age");

  it("a flipped byte: verify exits 3 naming the SHA-256 mismatch", async () => {
    const id = await backup();
    const buf = readFileSync(objectPath(id));
    buf[Math.floor(buf.length / 2)] ^= 0x01;
    writeFileSync(objectPath(id), buf);
    const r = await runCli(["-c", repo.configFile, "verify", id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/SHA-256 mismatch/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("a flipped byte with a forged complete.json: age authentication still catches it (exit 3)", async () => {
    const id = await backup();
    const buf = readFileSync(objectPath(id));
    buf[buf.length - 40] ^= 0x01;
    writeFileSync(objectPath(id), buf);
    const completeFile = join(repo.dir, "repository/backups", id, "complete.json");
    const c = JSON.parse(readFileSync(completeFile, "utf8"));
    const { createHash } = await import("node:crypto");
    c.objects.find((o: { source?: string }) => o.source === "assets").sha256 = createHash("sha256")
      .update(buf)
      .digest("hex");
    writeFileSync(completeFile, JSON.stringify(c));
    const r = await runCli(["-c", repo.configFile, "verify", id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/authentication/);
  });

  it("a truncated object: verify exits 3 naming the truncation", async () => {
    const id = await backup();
    truncateSync(objectPath(id), statSync(objectPath(id)).size - 1000);
    const r = await runCli(["-c", repo.configFile, "verify", id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/truncated|has \d+ bytes, complete.json says \d+/); // the listing sees the short object before any download
  });

  it("a missing complete.json: the backup is incomplete, not listed, not 'latest', and verify exits 3", async () => {
    const good = await backup();
    const id = await backup();
    unlinkSync(join(repo.dir, "repository/backups", id, "complete.json"));
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/incomplete/);
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(list.map((b: { id: string }) => b.id)).not.toContain(id);
    const all = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list", "--all"])).stdout);
    expect(all.find((b: { id: string }) => b.id === id)).toMatchObject({ complete: false });
    const out = tempDir("latest");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).id).toBe(good);
  });

  it("verify all reports each corrupt backup and exits 3", async () => {
    const r = await runCli(["-c", repo.configFile, "--json", "verify", "all"]);
    expect(r.code).toBe(3);
    const res = JSON.parse(r.stdout.split("\n{")[0]);
    expect(res.backups.filter((b: { ok: boolean }) => !b.ok).length).toBeGreaterThanOrEqual(3);
    expect(res.backups.some((b: { ok: boolean }) => b.ok)).toBe(true);
  });

  it("a wrong identity gives a clear error (exit 1)", async () => {
    const id = await backup();
    const wrong = join(repo.dir, "wrong-identity.txt");
    writeFileSync(wrong, generateIdentity().text, { mode: 0o600 });
    const cfg = repo.write((c) => (c.encryption.identity_file = wrong));
    const r = await runCli(["-c", cfg, "restore", id, "--to-dir", tempDir("wrong")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no identity matches/);
  });

  it("restore refuses a non-empty target without --force, and restores with it", async () => {
    const id = await backup();
    const out = tempDir("nonempty");
    mkdirSync(join(out, "assets"));
    writeFileSync(join(out, "assets/keep.txt"), "mine");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty.*--force/);
    expect(readFileSync(join(out, "assets/keep.txt"), "utf8")).toBe("mine");
    const f = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out, "--force"]);
    expect(f.code).toBe(0);
    expect(existsSync(join(out, "assets/projects/show one/rundowns/rundown.json"))).toBe(true);
  });

  it("a missing source directory fails that source (exit 1); the other source is committed without it (issue 21)", async () => {
    const before = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout).length;
    const cfg = repo.write((c) => c.sources.push({ name: "gone", type: "files", path: "/nonexistent/strongbox-dir" }));
    const r = await runCli(["-c", cfg, "backup", "now"], { env: nextSecond() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/committed without the failed source\(s\) gone.*no such directory/);
    const after = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout) as {
      sources: string[];
    }[];
    expect(after.length).toBe(before + 1);
    expect(after[0].sources).toEqual(["assets"]);
  });

  it("a repository path that cannot be created fails the backup cleanly (exit 1)", async () => {
    const file = join(tempDir("notdir"), "plain-file");
    writeFileSync(file, "x");
    const cfg = repo.write((c) => (c.repository.url = `file://${file}/repo`));
    const r = await runCli(["-c", cfg, "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOTDIR/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  const canMount = process.getuid?.() === 0 && !process.env.STRONGBOX_NO_MOUNT;
  it.skipIf(!canMount)("a full disk fails the backup (exit 1): no complete.json, no temporary files left", async () => {
    const big = tempDir("bigdata");
    writeFileSync(join(big, "random.bin"), (await import("node:crypto")).randomBytes(3 * 1024 * 1024));
    const mnt = tempDir("full");
    execSync(`mount -t tmpfs -o size=1m tmpfs '${mnt}'`);
    try {
      const cfg = repo.write((c) => {
        c.repository.url = `file://${mnt}/repo`;
        c.sources = [{ name: "big", type: "files", path: big }];
      });
      const r = await runCli(["-c", cfg, "backup", "now"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/disk full \(ENOSPC\) writing /);
      const left = execSync(`find '${mnt}' -type f`).toString().trim();
      expect(left).toBe("");
    } finally {
      execSync(`umount '${mnt}'`);
    }
  });
});

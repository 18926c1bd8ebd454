import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { keys } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, sha256, writerStore } from "../helpers/forge-store.js";

/** Every path under root, relative, sorted. */
function allPaths(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      out.push(relative(root, join(dir, e.name)));
      if (e.isDirectory()) walk(join(dir, e.name));
    }
  };
  walk(root);
  return out.sort();
}

function dataDir(label: string): string {
  const d = tempDir(label);
  writeFileSync(join(d, "a.txt"), `hello ${label}\n`);
  mkdirSync(join(d, "sub"));
  writeFileSync(join(d, "sub", "b.bin"), Buffer.alloc(70_000, 7));
  return d;
}

/** A restore target deep inside a sentinel directory: nothing may appear outside `out`. */
function sentinel(): { root: string; toDir: string; outside: () => string[] } {
  const root = tempDir("sentinel");
  const toDir = join(root, "a", "b", "c", "out");
  mkdirSync(join(root, "a", "b", "c"), { recursive: true });
  return {
    root,
    toDir,
    outside: () =>
      allPaths(root).filter((p) => !["a", "a/b", "a/b/c", "a/b/c/out"].includes(p) && !p.startsWith("a/b/c/out/")),
  };
}

function newRepo(): { repo: TestRepo; repoRoot: string } {
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: dataDir("cfg") }] });
  return { repo, repoRoot: join(repo.dir, "repository") };
}

describe("forged backups (made with only the public recipient) are rejected on read", () => {
  it("an untampered forgery is accepted: the helper builds what the tool itself writes (control)", async () => {
    const { repo } = newRepo();
    const { id } = await forgeBackup(writerStore(repo), repo.recipient, { files: { assets: dataDir("ok") } });
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    expect(v.code).toBe(0);
    const s = sentinel();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", s.toDir]);
    expect(r.stdout).toMatch(/assets → .*: restored and checked/);
    expect(r.code).toBe(0);
    expect(readFileSync(join(s.toDir, "assets", "a.txt"), "utf8")).toBe("hello ok\n");
    expect(s.outside()).toEqual([]);
  });

  it("a traversing source name (../../../x) gives exit 3 and writes nothing outside the target", async () => {
    const { repo } = newRepo();
    const evil = "../../../x";
    const { id } = await forgeBackup(writerStore(repo), repo.recipient, {
      files: { x: dataDir("evil") },
      manifest: (m) => {
        m.sources[evil] = m.sources.x;
        delete m.sources.x;
      },
      complete: (c) => {
        c.sources[0].name = evil;
        c.objects[0].source = evil;
      },
    });
    const s = sentinel();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", s.toDir]);
    expect(r.stderr).toMatch(/"\.\.\/\.\.\/\.\.\/x" is not a source name/);
    expect(r.code).toBe(3);
    expect(allPaths(s.root)).toEqual(["a", "a/b", "a/b/c"]);
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout).toMatch(new RegExp(`^${id}  FAILED: .*is not a source name`));
    expect(v.code).toBe(3);
    // latest skips it; with no valid backup left there is nothing to restore
    const l = await runCli(["-c", repo.configFile, "--json", "list", "--all"]);
    expect(JSON.parse(l.stdout)).toMatchObject([
      { id, complete: false, damaged: expect.stringMatching(/is not a source name/) },
    ]);
  });

  it("an object key outside its backup's prefix gives exit 3", async () => {
    const { repo } = newRepo();
    const store = writerStore(repo);
    const other = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("other") },
      started: new Date(Date.now() - 3600_000),
    });
    const { id } = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("evil") },
      objectKey: () => keys.object(other.id, "assets2.tar.age"),
    });
    const s = sentinel();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", s.toDir]);
    expect(r.stderr).toMatch(new RegExp(`assets2.tar.age" is not under backups/${id}/assets`));
    expect(r.code).toBe(3);
    expect(allPaths(s.root)).toEqual(["a", "a/b", "a/b/c"]);
    const v = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(v.stdout).toContain(`${id}  FAILED`);
    expect(v.stdout).toContain(`${other.id}  OK`);
    expect(v.code).toBe(3);
  });

  it("a manifest that disagrees with complete.json (other source, other object, other id) gives exit 3", async () => {
    const { repo } = newRepo();
    const store = writerStore(repo);
    const cases: [string, (m: any) => void, RegExp][] = [
      [
        "renamed source",
        (m) => ((m.sources.other = m.sources.assets), delete m.sources.assets),
        /holds sources "other", complete.json lists assets/,
      ],
      [
        "other object",
        (m) => (m.sources.assets.object = "backups/x/assets.tar.age"),
        /sources\.assets\.object does not name the object/,
      ],
      ["other id", (m) => (m.id = "20200101T000000Z-abcdef"), /names backup "20200101T000000Z-abcdef"/],
      [
        "other type",
        (m) => (m.sources.assets.type = "postgres"),
        /sources\.assets\.type is "postgres", complete.json says files/,
      ],
    ];
    for (const [what, manifest, message] of cases) {
      const { id } = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("m") }, manifest });
      const s = sentinel();
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", s.toDir]);
      expect(r.stderr, what).toMatch(message);
      expect(r.code, what).toBe(3);
      expect(allPaths(s.root), what).toEqual(["a", "a/b", "a/b/c"]);
      const v = await runCli(["-c", repo.configFile, "verify", id]);
      expect(v.stdout, what).toMatch(new RegExp(`^${id}  FAILED: `));
      expect(v.code, what).toBe(3);
    }
  });

  it("a tampered started_at (2026→2027) is reported damaged: list, restore latest and verify all do not trust it", async () => {
    const { repo } = newRepo();
    const store = writerStore(repo);
    const old = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("old") },
      started: new Date("2026-01-02T03:04:05.678Z"),
      complete: (c) => (c.started_at = c.started_at.replace(/^2026/, "2027")),
    });
    const real = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("new") } });
    const l = await runCli(["-c", repo.configFile, "--json", "list"]);
    expect(JSON.parse(l.stdout)).toMatchObject([
      { id: real.id, complete: true },
      { id: old.id, complete: false, damaged: expect.stringMatching(/started_at/) },
    ]);
    const la = await runCli(["-c", repo.configFile, "list", "--all"]);
    expect(la.stdout).toContain(`${old.id} (DAMAGED)`);
    const s = sentinel();
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", s.toDir]);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: real.id, ok: true });
    expect(r.code).toBe(0);
    expect(readFileSync(join(s.toDir, "assets", "a.txt"), "utf8")).toBe("hello new\n");
    const v = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(v.stdout.split("\n")).toEqual([
      `${real.id}  OK`,
      expect.stringMatching(
        new RegExp(
          `^${old.id}  FAILED: .*started_at 2027-01-02T03:04:05.678Z does not match the time in the backup id`,
        ),
      ),
      "",
    ]);
    expect(v.code).toBe(3);
  });

  it("a flipped sources[].type and an unreadable complete.json of an old backup are reported; the rest still work", async () => {
    const { repo } = newRepo();
    const store = writerStore(repo);
    const flipped = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("f") },
      started: new Date(Date.now() - 7200_000),
      complete: (c) => (c.sources[0].type = "postgres"),
    });
    const garbled = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("g") },
      started: new Date(Date.now() - 3600_000),
      completeText: (t) => t.slice(0, 40) + "\u0000\u00ff" + t.slice(42),
    });
    const real = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("new") } });
    const v = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(v.stdout.split("\n")).toEqual([
      `${real.id}  OK`,
      expect.stringMatching(new RegExp(`^${garbled.id}  FAILED: .*not valid JSON`)),
      expect.stringMatching(new RegExp(`^${flipped.id}  FAILED: .*is not a postgres object name`)),
      "",
    ]);
    expect(v.code).toBe(3);
    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.stdout).toContain(real.id);
    expect(l.code).toBe(0);
    const vf = await runCli(["-c", repo.configFile, "verify", flipped.id]);
    expect(vf.code).toBe(3);
    const s = sentinel();
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", s.toDir]);
    expect(r.stdout).toMatch(/assets → .*: restored and checked/);
    expect(r.code).toBe(0);
    expect(s.outside()).toEqual([]);
  });

  it("a flipped byte in the age header of a data object or the manifest is exit 3; a wrong identity stays exit 1", async () => {
    const { repo, repoRoot } = newRepo();
    const store = writerStore(repo);
    const a = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("h1") } });
    const b = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("h2") } });
    // Inside the X25519 stanza's share (base64 from byte 32): once still base64 (every identity then
    // fails to unwrap: "no identity matches"), once not base64 (the header no longer parses).
    const flip = (key: string, byte: number) => {
      const file = join(repoRoot, key);
      const buf = readFileSync(file);
      buf[40] = buf[40] === byte ? byte + 1 : byte;
      writeFileSync(file, buf);
    };
    const c = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("h4") } });
    flip(keys.object(a.id, "assets.tar.age"), 0x41);
    flip(keys.manifest(b.id), 0x41);
    flip(keys.object(c.id, "assets.tar.age"), 0x2a);
    for (const id of [a.id, b.id, c.id]) {
      const v = await runCli(["-c", repo.configFile, "verify", id]);
      expect(v.stdout).toMatch(new RegExp(`^${id}  FAILED: .*SHA-256 mismatch`));
      expect(v.code).toBe(3);
      const s = sentinel();
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", s.toDir]);
      expect(r.stderr).toMatch(/SHA-256 mismatch/);
      expect(r.code).toBe(3);
      expect(s.outside()).toEqual([]);
    }
    const good = await forgeBackup(store, repo.recipient, { files: { assets: dataDir("h3") } });
    const other = generateIdentity();
    const idFile = join(repo.dir, "other-identity.txt");
    writeFileSync(idFile, other.text, { mode: 0o600 });
    const wrong = repo.write((c) => (c.encryption.identity_file = idFile));
    const w = await runCli(["-c", wrong, "verify", good.id]);
    expect(w.stderr).toMatch(/identit/i);
    expect(w.code).toBe(1);
  });

  it("restore latest --source picks the newest complete backup that has that source", async () => {
    const { repo } = newRepo();
    const store = writerStore(repo);
    // 5 minutes older: within retention.clock_skew of the store's time (an hour would be back-dated, untrusted)
    const withAssets = await forgeBackup(store, repo.recipient, {
      files: { assets: dataDir("older") },
      started: new Date(Date.now() - 300_000),
    });
    const newer = await forgeBackup(store, repo.recipient, { files: { docs: dataDir("docs") } });
    const s = sentinel();
    const r = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--source",
      "assets",
      "--to-dir",
      s.toDir,
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: withAssets.id, ok: true });
    expect(r.code).toBe(0);
    const r2 = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--source",
      "docs",
      "--to-dir",
      join(s.root, "a/b/c/out/2"),
    ]);
    expect(JSON.parse(r2.stdout)).toMatchObject({ id: newer.id, ok: true });
    expect(s.outside()).toEqual([]);
    expect(sha256(readFileSync(join(s.toDir, "assets", "a.txt")))).toBe(sha256(Buffer.from("hello older\n")));
  });
});

// Forged and damaged backups, made with only the PUBLIC recipient (test/helpers/forge.ts): each is
// refused with exit 3 or reported as damaged while the rest of the repository stays usable, and
// nothing is ever written outside the restore target.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, sha256, tamper } from "../helpers/forge.js";
import { createDb, withClient } from "../helpers/pg.js";
import { archive, fileEntry } from "../helpers/tar-craft.js";

const pg = inject("pg");

function filesRepo(): { repo: TestRepo; data: string; store: string } {
  const data = tempDir("forge-data");
  writeFileSync(join(data, "real.txt"), "the real data\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  return { repo, data, store: join(repo.dir, "repository") };
}

/** A restore target inside a sentinel directory: anything written next to the target shows. */
function target() {
  const root = tempDir("forge-target");
  const to = join(root, "to");
  mkdirSync(to);
  return { to, outside: () => readdirSync(root).filter((n) => n !== "to") };
}

const evilTar = () => {
  const body = "owned\n";
  return {
    tar: archive(fileEntry("authorized_keys", body)),
    entries: [
      {
        path: "authorized_keys",
        type: "file",
        size: body.length,
        mode: 0o644,
        mtime: "1462140300",
        sha256: sha256(Buffer.from(body)),
      },
    ],
  };
};

async function backup(repo: TestRepo, extra: string[] = []): Promise<string> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now", ...extra]);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).id;
}

describe("forged backups (public recipient + write access) cannot harm the restoring host", () => {
  it("a source named ../../../x is refused (exit 3), listed as damaged, and nothing lands outside the target", async () => {
    const { repo, store } = filesRepo();
    const good = await backup(repo);
    const id = await forgeBackup(store, repo.recipient, {
      files: { escape: evilTar() },
      complete: (c) => {
        c.sources[0].name = "../../../escape";
        c.objects[0].source = "../../../escape";
      },
      manifest: (m) => {
        m.sources["../../../escape"] = m.sources.escape;
        delete m.sources.escape;
      },
    });
    const t = target();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", t.to]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/sources\[0\]\.name "\.\.\/\.\.\/\.\.\/escape" is not a source name/);
    expect(t.outside()).toEqual([]);
    expect(readdirSync(t.to)).toEqual([]);
    const list = await runCli(["-c", repo.configFile, "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id} \\(DAMAGED\\)`));
    expect(list.stdout).toMatch(new RegExp(`^${good}\\s`, "m"));
    // latest is still the real backup
    const latest = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", t.to]);
    expect(latest.code).toBe(0);
    expect(readFileSync(join(t.to, "assets/real.txt"), "utf8")).toBe("the real data\n");
    expect(t.outside()).toEqual([]);
  });

  it("a key outside its backup's prefix is refused (exit 3)", async () => {
    const { repo, store } = filesRepo();
    const good = await backup(repo);
    const id = await forgeBackup(store, repo.recipient, {
      files: { assets: evilTar() },
      complete: (c) => {
        const real = JSON.parse(readFileSync(join(store, "backups", good, "complete.json"), "utf8")).objects.find(
          (o: { source?: string }) => o.source === "assets",
        );
        Object.assign(c.objects[0], { key: real.key, size: real.size, sha256: real.sha256 });
      },
    });
    const r = await runCli(["-c", repo.configFile, "verify", id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`is not under backups/${id}/assets`));
  });

  it("a manifest that disagrees with complete.json is refused (exit 3)", async () => {
    const { repo, store } = filesRepo();
    const id = await forgeBackup(store, repo.recipient, {
      files: { assets: evilTar() },
      manifest: (m) => {
        m.sources.extra = { ...m.sources.assets };
      },
    });
    const t = target();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", t.to]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/does not agree with complete\.json/);
    expect(readdirSync(t.to)).toEqual([]);
    const wrongId = await forgeBackup(store, repo.recipient, {
      files: { assets: evilTar() },
      manifest: (m) => (m.id = "20200101T000000Z-000000"),
    });
    const v = await runCli(["-c", repo.configFile, "verify", wrongId]);
    expect(v.code).toBe(3);
    expect(v.stdout).toMatch(/FAILED: .*names backup "20200101T000000Z-000000"/);
  });

  it("a forged manifest entry with a traversing path is refused before anything is written", async () => {
    const { repo, store } = filesRepo();
    const id = await forgeBackup(store, repo.recipient, {
      files: { assets: evilTar() },
      manifest: (m) => (m.sources.assets.entries[0].path = "../../authorized_keys"),
    });
    const t = target();
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", t.to]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/manifest\.json\.age: unsafe path .*"\.\.\/\.\.\/authorized_keys"/);
    expect(t.outside()).toEqual([]);
  });

  it("one flipped bit in an old backup's started_at (2026→2027) does not make it latest; it is reported damaged and prune keeps the real newest", async () => {
    const { repo, store } = filesRepo();
    const old = await backup(repo);
    const newest = await backup(repo);
    const cpath = join(store, "backups", old, "complete.json");
    const rec = JSON.parse(readFileSync(cpath, "utf8"));
    rec.started_at = rec.started_at.replace(/^(\d{4})/, (y: string) => String(Number(y) + 1)); // 2026 → 2027
    writeFileSync(cpath, JSON.stringify(rec, null, 2));

    const list = await runCli(["-c", repo.configFile, "--json", "list"]);
    const rows = JSON.parse(list.stdout);
    expect(rows[0]).toMatchObject({ id: newest, complete: true });
    expect(rows.find((r: { id: string }) => r.id === old)).toMatchObject({
      complete: false,
      damaged: expect.stringMatching(/started_at .* does not match the time in the backup id/),
    });

    const all = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(all.code).toBe(3);
    expect(all.stdout).toMatch(new RegExp(`^${newest}  OK$`, "m"));
    expect(all.stdout).toMatch(new RegExp(`^${old}  FAILED: .*started_at`, "m"));

    const pruneCfg = repo.write((c) => (c.retention = { keep_last: 1 }));
    const p = await runCli(["-c", pruneCfg, "prune"]);
    expect(p.code).toBe(0);
    expect(existsSync(join(store, "backups", newest, "complete.json"))).toBe(true);
    expect(existsSync(join(store, "backups", old))).toBe(true); // damaged: kept for inspection
    expect(p.stderr).toMatch(new RegExp(`${old}: damaged, kept for inspection`));
  });

  it("a flipped sources[].type is refused at verify (exit 3), not at restore with exit 2", async () => {
    const { repo, store } = filesRepo();
    const id = await backup(repo);
    const cpath = join(store, "backups", id, "complete.json");
    writeFileSync(cpath, readFileSync(cpath, "utf8").replace('"type": "files"', '"type": "postgres"'));
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/is not a postgres object name/);
    const t = target();
    expect((await runCli(["-c", repo.configFile, "restore", id, "--to-dir", t.to])).code).toBe(3);
  });

  it("an unreadable complete.json of an old backup breaks nothing else: list, verify all, restore latest, drill", async () => {
    const { repo, store } = filesRepo();
    const old = await backup(repo);
    const good = await backup(repo);
    writeFileSync(join(store, "backups", old, "complete.json"), Buffer.from([0xff, 0xfe, 0x00, 0x7b]));
    const list = await runCli(["-c", repo.configFile, "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${old} \\(DAMAGED\\)`));
    const all = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(all.code).toBe(3);
    expect(all.stdout).toMatch(new RegExp(`^${good}  OK$`, "m"));
    expect(all.stdout).toMatch(new RegExp(`^${old}  FAILED: .*not valid JSON`, "m"));
    const t = target();
    expect((await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", t.to])).code).toBe(0);
    const d = await runCli(["-c", repo.configFile, "--json", "drill", "latest"]);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ backup_id: good, result: "pass" });
  });

  it("a flipped byte in the age header of a data object or of the manifest is corruption (exit 3), not a wrong key (exit 1)", async () => {
    const { repo, store } = filesRepo();
    const id = await backup(repo);
    const files = readdirSync(join(store, "backups", id));
    const data = files.find((f) => f.startsWith("assets."))!;
    // byte 60 lies inside the X25519 stanza's share: every identity then fails to unwrap the key
    tamper(store, id, data, (b) => ((b[60] ^= 0x01), b), { rehash: false });
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/SHA-256 mismatch/);
    expect(v.stdout).toMatch(new RegExp(`^${id}  FAILED`, "m"));
    const id2 = await backup(repo);
    tamper(store, id2, "manifest.json.zst.age", (b) => ((b[60] ^= 0x01), b), { rehash: false });
    const v2 = await runCli(["-c", repo.configFile, "verify", id2]);
    expect(v2.code).toBe(3);
    expect(v2.stderr).toMatch(/manifest\.json\.zst\.age: SHA-256 mismatch/);
    // the genuine wrong-key case still says so, with exit 1
    const other = makeRepo({ sources: [] });
    const wrongKey = repo.write((c) => (c.encryption.identity_file = other.identityFile));
    const w = await runCli(["-c", wrongKey, "verify", await backup(repo)]);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/no identity matches/);
  });

  it("a data object the server acknowledged but lost makes its backup damaged in list, never complete; latest falls back", async () => {
    const { repo, store } = filesRepo();
    const first = await backup(repo);
    const lost = await backup(repo);
    const data = readdirSync(join(store, "backups", lost)).find((f) => f.startsWith("assets."))!;
    const { rmSync } = await import("node:fs");
    rmSync(join(store, "backups", lost, data));
    const rows = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(rows.find((r: { id: string }) => r.id === lost)).toMatchObject({
      complete: false,
      damaged: expect.stringMatching(/assets\.tar\.zst\.age is missing/),
    });
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", target().to]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).id).toBe(first);
  });

  it("restore latest --source picks the newest backup that holds that source", async () => {
    const a = tempDir("src-a");
    const b = tempDir("src-b");
    writeFileSync(join(a, "a.txt"), "A");
    writeFileSync(join(b, "b.txt"), "B");
    const repo = makeRepo({
      sources: [
        { name: "a", type: "files", path: a },
        { name: "b", type: "files", path: b },
      ],
    });
    const both = await backup(repo);
    const onlyA = await backup(repo, ["--source", "a"]);
    const t = target();
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--source", "b", "--to-dir", t.to]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).id).toBe(both);
    expect(readFileSync(join(t.to, "b/b.txt"), "utf8")).toBe("B");
    const ra = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--source",
      "a",
      "--to-dir",
      target().to,
    ]);
    expect(JSON.parse(ra.stdout).id).toBe(onlyA);
  });

  it("drill.max_backup_age is checked per source: a stale source fails even when another is fresh", async () => {
    const a = tempDir("age-a");
    const b = tempDir("age-b");
    writeFileSync(join(a, "a.txt"), "A");
    writeFileSync(join(b, "b.txt"), "B");
    const repo = makeRepo({
      sources: [
        { name: "a", type: "files", path: a },
        { name: "b", type: "files", path: b },
      ],
    });
    const old = await backup(repo);
    // make that backup two days old: a consistent copy under an older id, then drop the original
    const store = join(repo.dir, "repository");
    const t = new Date(Date.now() - 2 * 86400_000);
    const oldId = `${t
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")}-abcdef`;
    const { cpSync, rmSync } = await import("node:fs");
    cpSync(join(store, "backups", old), join(store, "backups", oldId), { recursive: true });
    rmSync(join(store, "backups", old), { recursive: true });
    const rec = JSON.parse(readFileSync(join(store, "backups", oldId, "complete.json"), "utf8").replaceAll(old, oldId));
    rec.started_at = new Date(Math.floor(t.getTime() / 1000) * 1000).toISOString();
    rec.finished_at = new Date(Math.floor(t.getTime() / 1000) * 1000 + 500).toISOString();
    writeFileSync(join(store, "backups", oldId, "complete.json"), JSON.stringify(rec));
    // ... stored two days ago too (the store's time judges the claimed one: else it is back-dated, untrusted)
    const { utimesSync } = await import("node:fs");
    utimesSync(join(store, "backups", oldId, "complete.json"), t, t);
    // the manifest names the old id: re-encrypting it needs only the public recipient, but a copy cannot; so drill the fresh one
    // (by its id: `drill latest` would drill the restore point, the doctored copy included)
    const fresh = await backup(repo, ["--source", "a"]);
    const cfg = repo.write((c) => (c.drill = { max_backup_age: "26h" }));
    const d = await runCli(["-c", cfg, "--json", "drill", fresh]);
    expect(d.code).toBe(3);
    const checks = JSON.parse(d.stdout.slice(0, d.stdout.indexOf("\n}\n") + 2)).checks as {
      name: string;
      ok: boolean;
      detail: string;
    }[];
    expect(checks.find((c) => c.name === "a: newest backup is at most 26h old")?.ok).toBe(true);
    expect(checks.find((c) => c.name === "b: newest backup is at most 26h old")).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/finished 4[78]\.\d h ago/),
    });
  });
});

describe.skipIf(!pg)("a postgres dump whose last chunk is tampered (complete.json re-hashed) fails verify", () => {
  it("verify reads the whole object: exit 3, and a good dump prints '<id>  OK'", async () => {
    const db = await createDb(pg!, "forgelast");
    await withClient(db.url, async (c) => {
      await c.query("CREATE TABLE big (id int primary key, payload text)");
      await c.query("INSERT INTO big SELECT g, md5(g::text) || md5((g*7)::text) FROM generate_series(1, 60000) g");
    });
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: db.url }] });
    const id = await backup(repo);
    const ok = await runCli(["-c", repo.configFile, "verify", id]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(`${id}  OK`);
    const okJson = await runCli(["-c", repo.configFile, "--json", "verify", id]);
    expect(JSON.parse(okJson.stdout)).toMatchObject({ ok: true, backups: [{ id, ok: true }] });
    const store = join(repo.dir, "repository");
    const dump = readdirSync(join(store, "backups", id)).find((f) => f.startsWith("db.pgdump"))!;
    expect(readFileSync(join(store, "backups", id, dump)).length).toBeGreaterThan(3 * 65_536);
    tamper(store, id, dump, (b) => ((b[b.length - 100] ^= 0x40), b), { rehash: true });
    const bad = await runCli(["-c", repo.configFile, "verify", id]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(new RegExp(`^${id}  FAILED: .*final chunk failed authentication`, "m"));
  });
});

// Restore points (issue 21): `restore latest` restores every configured source, each from the newest
// complete, trusted, restorable backup that holds it; `--at` picks per source; a flag that cannot be
// honoured is exit 2; a differential whose base is gone is a BROKEN CHAIN: never latest, never
// counted by retention, and prune keeps a backup that restores; `verify latest` sees a damaged newest.
import { appendFileSync, mkdirSync, rmSync, truncateSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { secondApart } from "../helpers/backup-clock.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { createDb, withClient } from "../helpers/pg.js";
import { snapshotTree } from "../helpers/tree.js";

const fx = inject("pg");

function tree(root: string, files: Record<string, string>): void {
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), body);
  }
}

async function backup(
  repo: TestRepo,
  args: string[] = [],
  cfg = repo.configFile,
  env?: NodeJS.ProcessEnv,
): Promise<{ id: string; started_at: string; kinds: Record<string, string> }> {
  const r = await runCli(["-c", cfg, "--json", "backup", "now", ...args], env ? { env } : {});
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  return {
    id: out.id,
    started_at: out.started_at,
    kinds: Object.fromEntries(out.sources.map((s: { name: string; kind?: string }) => [s.name, s.kind ?? "full"])),
  };
}

const rows = (sql: string) => (c: { query: (q: string) => Promise<{ rows: unknown[] }> }) =>
  c.query(sql).then((r) => r.rows);

describe("restore points per source (file://)", () => {
  it("one full plus hourly --source rundowns backups: restore latest restores every source (and the database), names the ids, --at picks per source", async () => {
    const rundowns = tempDir("rp-rundowns");
    const media = tempDir("rp-media");
    tree(rundowns, { "a.txt": "rundown v1\n", "show/b.txt": "b1\n" });
    tree(media, { "clip.bin": "x".repeat(5000), "stills/s.jpg": "jpeg" });
    const db = fx ? await createDb(fx, "rp") : undefined;
    if (db)
      await withClient(db.url, (c) =>
        c.query(
          "CREATE TABLE items (id int PRIMARY KEY, note text); INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 50) g",
        ),
      );
    const sources: Record<string, unknown>[] = [
      { name: "rundowns", type: "files", path: rundowns },
      { name: "media", type: "files", path: media },
      ...(db ? [{ name: "db", type: "postgres", url: db.url }] : []),
    ];
    const repo = makeRepo({ sources });
    repo.config.lock_dir = repo.dir;
    repo.write();

    const full = await backup(repo);
    const mediaAtFull = snapshotTree(media);
    // Changes after the full that only a later full would hold: the restore point must not have them.
    if (db) await withClient(db.url, (c) => c.query("INSERT INTO items VALUES (999, 'after the full')"));
    appendFileSync(join(rundowns, "a.txt"), "hour 1\n");
    const h1 = await backup(repo, ["--source", "rundowns"]);
    const rundownsAtH1 = snapshotTree(rundowns);
    appendFileSync(join(rundowns, "a.txt"), "hour 2\n");
    tree(rundowns, { "show/c.txt": "new in hour 2\n" });
    const h2 = await backup(repo, ["--source", "rundowns"]);
    const rundownsAtH2 = snapshotTree(rundowns);

    // restore latest --to-dir D --to-db URL: every configured source, each from its newest backup.
    const out = tempDir("rp-out");
    const target = db ? await createDb(fx!, "rptarget") : undefined;
    const r = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--to-dir",
      out,
      ...(target ? ["--to-db", target.url] : []),
    ]);
    expect(r.stderr).not.toMatch(/"level":"error"/);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.ok).toBe(true);
    expect(res.id).toBeNull(); // two backups were used
    expect(res.ids.sort()).toEqual([full.id, h2.id].sort());
    const from = Object.fromEntries(
      res.sources.map((s: { source: string; backup_id: string }) => [s.source, s.backup_id]),
    );
    expect(from).toEqual({ rundowns: h2.id, media: full.id, ...(db ? { db: full.id } : {}) });
    expect(snapshotTree(join(out, "rundowns"))).toEqual(rundownsAtH2);
    expect(snapshotTree(join(out, "media"))).toEqual(mediaAtFull);
    if (db) {
      const got = await withClient(target!.url, rows("SELECT id, note FROM items ORDER BY id"));
      expect(got).toHaveLength(50); // as of the full: the row written afterwards is not in any backup
      expect(got.at(-1)).toEqual({ id: 50, note: "n50" });
    }

    // The text output names the backup of each source.
    const out2 = tempDir("rp-out2");
    const t = await runCli([
      "-c",
      repo.configFile,
      "restore",
      "latest",
      "--source",
      "rundowns",
      "--source",
      "media",
      "--to-dir",
      out2,
    ]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`rundowns → .*restored and checked from backup ${h2.id}`));
    expect(t.stdout).toMatch(new RegExp(`media → .*restored and checked from backup ${full.id}`));

    // --at: per source, the newest backup at or before the time.
    const out3 = tempDir("rp-at");
    const at = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--at",
      h1.started_at,
      "--source",
      "rundowns",
      "--source",
      "media",
      "--to-dir",
      out3,
    ]);
    expect(at.stderr).not.toMatch(/"level":"error"/);
    expect(at.code).toBe(0);
    const atRes = JSON.parse(at.stdout);
    expect(
      Object.fromEntries(atRes.sources.map((s: { source: string; backup_id: string }) => [s.source, s.backup_id])),
    ).toEqual({ rundowns: h1.id, media: full.id });
    expect(snapshotTree(join(out3, "rundowns"))).toEqual(rundownsAtH1);
    // A date alone is the end of that day (UTC): the newest of today.
    const day = h2.started_at.slice(0, 10);
    const out4 = tempDir("rp-day");
    const d = await runCli([
      "-c",
      repo.configFile,
      "--json",
      "restore",
      "latest",
      "--at",
      day,
      "--source",
      "rundowns",
      "--to-dir",
      out4,
    ]);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout).sources[0].backup_id).toBe(h2.id);
    // Before the first backup: nothing to restore (exit 1, naming the source); a malformed or zone-less time: exit 2.
    const before = await runCli([
      "-c",
      repo.configFile,
      "restore",
      "latest",
      "--at",
      "2001-01-01",
      "--source",
      "media",
      "--to-dir",
      tempDir("rp-none"),
    ]);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/no complete backup holding media at or before 2001-01-01T23:59:59.999Z/);
    for (const bad of ["2026-13-01", "2026-12-05T03:00:00", "yesterday"]) {
      const b = await runCli(["-c", repo.configFile, "restore", "latest", "--at", bad, "--to-dir", tempDir("rp-bad")]);
      expect(b.code).toBe(2);
      expect(b.stderr).toMatch(/--at .*expected an ISO 8601 time with its zone/);
    }
    const atWithId = await runCli([
      "-c",
      repo.configFile,
      "restore",
      h1.id,
      "--at",
      h1.started_at,
      "--to-dir",
      tempDir("rp-bad"),
    ]);
    expect(atWithId.code).toBe(2);

    // A flag that cannot be honoured is exit 2, never ignored.
    const noDb = await runCli([
      "-c",
      repo.configFile,
      "restore",
      "latest",
      "--source",
      "rundowns",
      "--to-dir",
      tempDir("rp-x"),
      "--to-db",
      "postgres://localhost/never",
    ]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/--to-db: the restore point \(rundowns from .*\) holds no database source/);
    const idNoDb = await runCli([
      "-c",
      repo.configFile,
      "restore",
      h2.id,
      "--to-dir",
      tempDir("rp-x"),
      "--to-db",
      "postgres://localhost/never",
    ]);
    expect(idNoDb.code).toBe(2);
    expect(idNoDb.stderr).toMatch(new RegExp(`--to-db: backup ${h2.id} holds no database source`));
    const unknown = await runCli([
      "-c",
      repo.configFile,
      "restore",
      "latest",
      "--source",
      "nope",
      "--to-dir",
      tempDir("rp-x"),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /--source nope: no such source in the config \(configured: rundowns, media.*\) nor in any backup/,
    );
    const notInBackup = await runCli([
      "-c",
      repo.configFile,
      "restore",
      h2.id,
      "--source",
      "media",
      "--to-dir",
      tempDir("rp-x"),
    ]);
    expect(notInBackup.code).toBe(2);
    expect(notInBackup.stderr).toMatch(new RegExp(`backup ${h2.id} has no source media`));
    if (db) {
      const noDir = await runCli([
        "-c",
        repo.configFile,
        "restore",
        full.id,
        "--source",
        "db",
        "--to-db",
        target!.url,
        "--to-dir",
        tempDir("rp-x"),
        "--force",
      ]);
      expect(noDir.code).toBe(2);
      expect(noDir.stderr).toMatch(/--to-dir: .* holds no files source/);
    }
    // restore <id> keeps its meaning: that one backup.
    const one = await runCli(["-c", repo.configFile, "--json", "restore", h1.id, "--to-dir", tempDir("rp-one")]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ id: h1.id, ids: [h1.id] });

    // list: the newest backup of each source and its age.
    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(new RegExp(`newest of rundowns: ${h2.id} \\(\\d+\\.\\dh old\\)`));
    expect(l.stdout).toMatch(new RegExp(`newest of media: ${full.id} \\(`));
    const lj = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(lj.find((x: { id: string }) => x.id === full.id).newest_of).toEqual(["media", ...(db ? ["db"] : [])]);
    expect(lj.find((x: { id: string }) => x.id === h2.id).newest_of).toEqual(["rundowns"]);
    expect(lj.find((x: { id: string }) => x.id === h1.id).newest_of).toBeUndefined();
  }, 180_000);

  it("a damaged newest backup: verify latest fails it (exit 3, named); restore latest skips it and says so", async () => {
    const data = tempDir("rp-dmg");
    tree(data, { "f.txt": "one\n" });
    const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: data }] });
    // Distinct seconds (ids have one-second resolution), so that "latest" is the damaged one without sleeping.
    const nextSecond = secondApart();
    const older = await backup(repo, [], repo.configFile, nextSecond());
    const atOlder = snapshotTree(data);
    tree(data, { "f.txt": "two\n" });
    const newest = await backup(repo, [], repo.configFile, nextSecond());
    const object = join(repo.dir, "repository/backups", newest.id, "docs.tar.zst.age");
    truncateSync(object, statSync(object).size - 1);

    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code).toBe(3);
    expect(v.stdout).toMatch(new RegExp(`${newest.id}  FAILED`));
    expect(v.stderr).not.toMatch(/no complete backup/);

    const out = tempDir("rp-dmg-out");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out]);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.ids).toEqual([older.id]);
    expect(res.skipped).toEqual([{ id: newest.id, reason: expect.stringMatching(/^damaged: .*docs\.tar\.zst\.age/) }]);
    expect(r.stderr).toMatch(new RegExp(`skipped backup ${newest.id}: damaged`));
    expect(snapshotTree(join(out, "docs"))).toEqual(atOlder);
  }, 120_000);

  it("a full whose complete.json was lost, then three differentials: BROKEN CHAIN in list, never latest, and prune (keep_last: 2) keeps a restorable backup", async () => {
    const data = tempDir("rp-chain");
    tree(data, { "a.txt": "a\n", "big.bin": "z".repeat(20000) });
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.config.retention = { keep_last: 2, max_delete_share: 1 };
    repo.write();

    const f1 = await backup(repo, ["--full"]);
    const atF1 = snapshotTree(data);
    tree(data, { "a.txt": "a2\n" });
    const f2 = await backup(repo, ["--full"]);
    const diffs = [];
    for (let i = 0; i < 3; i++) {
      tree(data, { [`new${i}.txt`]: `${i}\n` });
      const d = await backup(repo);
      expect(d.kinds.assets).toBe("diff");
      diffs.push(d.id);
    }
    // The lost write, after the fact: the full's commit marker is gone.
    rmSync(join(repo.dir, "repository/backups", f2.id, "complete.json"));

    const lj = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    for (const id of diffs)
      expect(lj.find((x: { id: string }) => x.id === id).broken_chain).toBe(
        `source assets: base ${f2.id} is incomplete (no complete.json)`,
      );
    expect(lj.find((x: { id: string }) => x.id === f1.id)).toMatchObject({ newest_of: ["assets"] });
    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.stdout).toMatch(new RegExp(`${diffs[2]} \\(BROKEN CHAIN\\)`));
    expect(l.stdout).toMatch(new RegExp(`newest of assets: ${f1.id}`));

    // restore latest: the newest restorable state, the skipped ones named.
    const out = tempDir("rp-chain-out");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out]);
    expect(r.stderr).not.toMatch(/"level":"error"/);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.ids).toEqual([f1.id]);
    expect(res.skipped.map((s: { id: string }) => s.id)).toEqual([...diffs].reverse());
    expect(snapshotTree(join(out, "assets"))).toEqual(atF1);

    // verify latest checks the newest backup of the source, which is unrestorable: exit 3 naming it.
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code).toBe(3);
    expect(v.stdout).toMatch(new RegExp(`${diffs[2]}  FAILED.*${f2.id}`));

    // prune with keep_last: 2 must not delete the one backup that restores.
    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.stderr).not.toMatch(/"level":"error"/);
    expect(p.code).toBe(0);
    const plan = JSON.parse(p.stdout).plan as { id: string; action: string; reasons: string[] }[];
    expect(plan.find((x) => x.id === f1.id)).toMatchObject({ action: "keep" });
    for (const id of diffs)
      expect(plan.find((x) => x.id === id)).toMatchObject({
        action: "keep",
        reasons: [expect.stringMatching(/^unrestorable, not counted: broken chain/)],
      });
    const out2 = tempDir("rp-chain-after");
    const r2 = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out2]);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout).ids).toEqual([f1.id]);
    expect(snapshotTree(join(out2, "assets"))).toEqual(atF1);
  }, 120_000);
});

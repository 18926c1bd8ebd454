// The audit's repro (issue 20): with only the writer's powers and the public recipient, forged
// backups dated 2097–2099, one with the id 99991231T235959Z-ffffff and a back-dated one must not
// steer prune. The store's time for each complete.json (file mtime, S3 LastModified) judges them:
// every real backup stays, list and doctor flag the forgeries, restore latest restores the real
// newest. Also: one prune may not delete more than retention.max_delete_share without --force.
import { readFileSync, utimesSync, writeFileSync, cpSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { secondApart } from "../helpers/backup-clock.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import type { S3Fixture } from "../helpers/s3-fixture.js";

const s3 = inject("s3");
// In-process runs are quick: the backups of a test get one second each, in the order they are made.
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());
const AUDIT = { keep_daily: 7, keep_weekly: 4, keep_monthly: 6, keep_yearly: 2 };

const backends: { name: string; s3?: S3Fixture; skip: boolean }[] = [
  { name: "file://", skip: false },
  { name: "Ceph RGW", s3: s3 ?? undefined, skip: !s3 },
];

async function backupNow(repo: TestRepo): Promise<string> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).id;
}

const listJson = async (repo: TestRepo) =>
  JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout) as {
    id: string;
    kind: string;
    untrusted?: string[];
    backdated?: string;
  }[];

/** doctor --json prints its findings first (then, when something failed, the error object). */
const doctorFindings = (stdout: string) =>
  Object.fromEntries(
    JSON.parse(stdout.slice(0, stdout.indexOf("\n}\n") + 2)).findings.map(
      (x: { area: string; status: string; detail: string }) => [x.area, `${x.status}: ${x.detail}`],
    ),
  );

describe.each(backends)("forged backups cannot steer prune ($name)", ({ s3: fixture, skip }) => {
  it.skipIf(skip)(
    "19 forgeries dated 2097–2099, 99991231T235959Z-ffffff and a back-dated one: nothing real is deleted, every forgery is flagged, latest is the real newest",
    async () => {
      const data = tempDir("fp-data");
      writeFileSync(join(data, "a.txt"), "version 1\n");
      writeFileSync(join(data, "unchanged.bin"), Buffer.alloc(64 * 1024, 7)); // so the change is a differential, not a full
      const repo = makeRepo({
        sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
        ...(fixture ? { s3: fixture } : {}),
      });
      repo.config.state_dir = join(repo.dir, "state");
      repo.config.retention = AUDIT;
      repo.config.audit_log = join(repo.dir, "audit.jsonl");
      repo.write();
      const full = await backupNow(repo);
      writeFileSync(join(data, "a.txt"), "version 2, the real newest\n");
      const diff = await backupNow(repo);
      expect((await listJson(repo)).map((b) => [b.id, b.kind])).toEqual([
        [diff, "diff"],
        [full, "full"],
      ]);

      // The forger: the writer role (PutObject only) and the public recipient, nothing else.
      const store = writerStore(repo);
      const evil = tempDir("fp-evil");
      writeFileSync(join(evil, "a.txt"), "forged\n");
      const future: string[] = [];
      for (let i = 0; i < 19; i++) {
        const started = new Date(Date.UTC(2097 + (i % 3), (i * 5) % 12, 1 + i, 3, 0, 0));
        future.push((await forgeBackup(store, repo.recipient, { files: { assets: evil }, started })).id);
      }
      future.push(
        (await forgeBackup(store, repo.recipient, { files: { assets: evil }, id: "99991231T235959Z-ffffff" })).id,
      );
      const backdated = (
        await forgeBackup(store, repo.recipient, { files: { assets: evil }, started: new Date(Date.now() - 86400_000) })
      ).id;
      const forged = [...future, backdated];

      // list flags every forgery, in text and in --json; the real ones are not flagged.
      const listed = await listJson(repo);
      expect(listed).toHaveLength(23);
      for (const id of future)
        expect(listed.find((b) => b.id === id)?.untrusted, id).toEqual([
          expect.stringMatching(/^claims \S+, in the future of the store's clock \(stored at /),
        ]);
      // Back-dated is a retention concern only (a copy looks the same): not counted, not untrusted.
      expect(listed.find((b) => b.id === backdated)?.untrusted).toBeUndefined();
      expect(listed.find((b) => b.id === backdated)?.backdated).toMatch(/^back-dated: stored at \S+, claims /);
      for (const id of [full, diff]) expect(listed.find((b) => b.id === id)?.untrusted, id).toBeUndefined();
      const text = await runCli(["-c", repo.configFile, "list"]);
      expect(text.code).toBe(0);
      for (const id of future) expect(text.stdout).toMatch(new RegExp(`^${id} \\(UNTRUSTED\\)`, "m"));
      expect(text.stdout).toMatch(new RegExp(`^${backdated} \\(NOT COUNTED\\)`, "m"));
      expect(text.stdout).toMatch(new RegExp(`^${diff}\\s`, "m"));
      expect(text.stdout).toMatch(
        new RegExp(
          `^99991231T235959Z-ffffff: untrusted, not counted by retention nor picked as latest: claims 9999-12-31T23:59:59`,
          "m",
        ),
      );

      // doctor flags them too.
      const doc = await runCli(["-c", repo.configFile, "--json", "doctor"]);
      const f = doctorFindings(doc.stdout);
      expect(f["back-dated backups"]).toMatch(
        new RegExp(`^warn: 1 stored long after the time they claim.*${backdated}`),
      );
      expect(f["untrusted backups"]).toMatch(
        /^warn: 20 not counted by retention nor picked as latest .*99991231T235959Z-ffffff \(claims 9999/,
      );
      expect(f.backups).toBe(`ok: 3 trusted complete backup(s), newest ${diff}`); // the back-dated one is not counted by retention, but not untrusted

      // prune with the audit's policy, then with keep_last 1: exit 0, nothing deleted.
      for (const retention of [AUDIT, { keep_last: 1 }]) {
        const cfg = repo.write((c) => (c.retention = retention));
        const p = await runCli(["-c", cfg, "--json", "prune"]);
        expect(p.stderr).not.toMatch(/error/i);
        expect(p.code).toBe(0);
        const res = JSON.parse(p.stdout);
        expect(res.deleted).toEqual([]);
        expect(res.untrusted.map((u: { id: string }) => u.id).sort()).toEqual([...forged].sort());
        const plan = new Map(
          res.plan.map((r: { id: string; age: string; action: string; reasons: string[] }) => [r.id, r]),
        );
        expect(plan.get("99991231T235959Z-ffffff")).toMatchObject({
          age: "in the future",
          action: "keep",
          reasons: [expect.stringMatching(/^untrusted: claims 9999/)],
        });
        expect(plan.get(diff)).toMatchObject({
          action: "keep",
          reasons: expect.arrayContaining([expect.stringMatching(/newest of assets/)]),
        });
        expect(plan.get(full)).toMatchObject({ action: "keep", reasons: [`base of ${diff}`] });
      }
      // The job's record (what notifications carry too) names the flagged backups.
      const audit = readFileSync(join(repo.dir, "audit.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .filter((l) => l.command === "prune");
      expect(audit).toHaveLength(2);
      for (const line of audit)
        expect(line.report.untrusted.map((u: { id: string }) => u.id).sort()).toEqual([...forged].sort());
      const after = await listJson(repo);
      expect(after.map((b) => b.id).sort()).toEqual([full, diff, ...forged].sort());
      const t = await runCli(["-c", repo.configFile, "prune", "--dry-run"]);
      expect(t.stdout).toMatch(
        /^99991231T235959Z-ffffff\s+in the future\s+keep\s+untrusted: claims 9999-12-31T23:59:59/m,
      );
      expect(t.stdout).toMatch(/^21 untrusted backup\(s\) kept and not counted: /m);

      // restore latest restores the real newest backup.
      const out = tempDir("fp-out");
      const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ id: diff, ok: true });
      expect(readFileSync(join(out, "assets", "a.txt"), "utf8")).toBe("version 2, the real newest\n");
    },
  );

  it.skipIf(skip)(
    "max_delete_share: a prune that would delete 2 of 3 backups is refused (exit 1, also in a dry run) until --force",
    async () => {
      const data = tempDir("fp-share");
      writeFileSync(join(data, "a.txt"), "x\n");
      const repo = makeRepo({
        sources: [{ name: "files", type: "files", path: data }],
        ...(fixture ? { s3: fixture } : {}),
      });
      repo.config.retention = { keep_last: 1 };
      repo.write();
      const ids = [await backupNow(repo), await backupNow(repo), await backupNow(repo)];
      const refused =
        /^strongbox: error: prune refused: it would delete 2 of 3 trusted complete backups of source files, more than retention\.max_delete_share \(0\.5\); no backup deleted\. If that is intended: strongbox prune --force$/m;
      for (const args of [["prune", "--dry-run"], ["prune"]]) {
        const p = await runCli(["-c", repo.configFile, ...args]);
        expect(p.stderr, args.join(" ")).toMatch(refused);
        expect(p.code, args.join(" ")).toBe(1);
        expect(p.stdout).toMatch(new RegExp(`^${ids[0]}\\s+\\S+\\s+drop\\s+no rule keeps it`, "m"));
      }
      expect((await listJson(repo)).map((b) => b.id).sort()).toEqual([...ids].sort());
      // a larger share allows it; so does --force
      const half = await runCli(["-c", repo.write((c) => (c.retention.max_delete_share = 0.7)), "prune", "--dry-run"]);
      expect(half.code).toBe(0);
      const forced = await runCli(["-c", repo.configFile, "--json", "prune", "--force"]);
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout).deleted.sort()).toEqual(ids.slice(0, 2).sort());
      expect((await listJson(repo)).map((b) => b.id)).toEqual([ids[2]]);
    },
  );
});

describe("a back-dated forgery cannot take the daily slot of a real backup (file://)", () => {
  it("real backups today and 2 days ago, a forgery claiming yesterday: keep_daily 2 keeps both real ones", async () => {
    const data = tempDir("fp-bd");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    repo.config.retention = { keep_daily: 2 };
    repo.write();
    const today = await backupNow(repo);
    // A real backup made two days ago: its objects, its complete.json and the store's time for it.
    const base = join(repo.dir, "repository", "backups");
    const t = new Date(Math.floor((Date.now() - 2 * 86400_000) / 1000) * 1000);
    const old = `${t
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")}-0a0a0a`;
    cpSync(join(base, today), join(base, old), { recursive: true });
    const rec = JSON.parse(readFileSync(join(base, old, "complete.json"), "utf8").replaceAll(today, old));
    rec.started_at = t.toISOString();
    rec.finished_at = new Date(t.getTime() + 500).toISOString();
    writeFileSync(join(base, old, "complete.json"), JSON.stringify(rec));
    utimesSync(join(base, old, "complete.json"), t, t);

    const evil = tempDir("fp-bd-evil");
    writeFileSync(join(evil, "a.txt"), "forged\n");
    const forged = (
      await forgeBackup(writerStore(repo), repo.recipient, {
        files: { files: evil },
        started: new Date(Date.now() - 86400_000),
      })
    ).id;

    const p = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout);
    expect(res.deleted).toEqual([]);
    const plan = Object.fromEntries(
      res.plan.map((r: { id: string; action: string; reasons: string[] }) => [
        r.id,
        `${r.action}: ${r.reasons.join("; ")}`,
      ]),
    );
    expect(plan[forged]).toMatch(/^keep: untrusted: back-dated: stored at \S+, claims /);
    expect(plan[old]).toMatch(/^keep: daily \d{4}-\d{2}-\d{2} of files$/);
    expect(plan[today]).toMatch(/^keep: daily .* of files; newest of files$/);
  });
});

describe("objects under backups/ whose id is not a real time (file://)", () => {
  it("are no backup: list --all and doctor count and name them; list and restore latest ignore them", async () => {
    const data = tempDir("fp-stray");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const real = await backupNow(repo);
    const base = join(repo.dir, "repository", "backups");
    // Copies of the real backup under ids that are no times: 32 December, 30 February at 25:00.
    for (const bad of ["20261232T000000Z-abcdef", "20270230T250000Z-abcdef"]) {
      cpSync(join(base, real), join(base, bad), { recursive: true });
      writeFileSync(
        join(base, bad, "complete.json"),
        readFileSync(join(base, bad, "complete.json"), "utf8").replaceAll(real, bad),
      );
    }
    expect((await listJson(repo)).map((b) => b.id)).toEqual([real]);
    const all = await runCli(["-c", repo.configFile, "list", "--all"]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(
      /^ignored: 6 object\(s\) under backups\/ whose name is not a backup id \("backups\/20261232T000000Z-abcdef\/[^"]+", .*\)$/m,
    );
    const doc = await runCli(["-c", repo.configFile, "--json", "doctor"]);
    expect(doctorFindings(doc.stdout)["stray objects"]).toMatch(
      /^warn: 6 object\(s\) under backups\/ whose name is not a backup id, ignored: "backups\/20261232T000000Z-abcdef\//,
    );
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", tempDir("fp-stray-out")]);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: real, ok: true });
    // an id that is no time is refused before anything is read
    const bad = await runCli([
      "-c",
      repo.configFile,
      "restore",
      "20261232T000000Z-abcdef",
      "--to-dir",
      tempDir("fp-stray-out"),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a backup id: 20261232T000000Z-abcdef/);
  });
});

// issue 21 item 3: `restore … --print-script` prints a hand restore that cannot miss a base. The
// printed script is run as printed, by /bin/sh, with PATH=/usr/bin:/bin (no strongbox, no node), on
// a file:// repository holding a signed full and a differential of a files source (and a database
// when PostgreSQL is in the suite); the tree and the rows must match the originals.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { tamper } from "../helpers/forge.js";
import { createDb, withClient } from "../helpers/pg.js";
import { signedRepo } from "../helpers/signing.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const pg = inject("pg");
/** Consecutive backups of one repository in distinct, increasing seconds: `latest` is the later one. */
const nextSecond = secondApart();

function runScript(script: string, env: Record<string, string>) {
  const file = join(tempDir("ps-script"), "restore.sh");
  writeFileSync(file, script, { mode: 0o700 });
  // Nothing of strongbox's: a bare PATH, no node, the script's cwd somewhere unrelated.
  return spawnSync("/bin/sh", [file], {
    cwd: tempDir("ps-cwd"),
    env: { PATH: "/usr/bin:/bin", HOME: tempDir("ps-home"), ...env },
    encoding: "utf8",
  });
}

describe("restore --print-script", () => {
  it(
    "restores a full + differential (and a database) exactly with age, zstd, tar, pg_restore, sha256sum and ssh-keygen only",
    { timeout: 120_000 },
    async () => {
      const data = tempDir("ps-data");
      makeSampleTree(data);
      mkdirSync(join(data, "many"));
      for (let i = 0; i < 200; i++) writeFileSync(join(data, "many", `f-${i}.txt`), `file ${i}\n`);
      const src = pg ? await createDb(pg, "pssrc") : undefined;
      if (src)
        await withClient(src.url, (c) =>
          c.query(
            "CREATE TABLE users (id int primary key, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 300) g;",
          ),
        );
      const { repo } = await signedRepo({
        sources: [
          { name: "projects", type: "files", path: data, differential: { full_every: "7d" } },
          ...(src ? [{ name: "db", type: "postgres", url: src.url }] : []),
        ],
      });
      repo.config.state_dir = join(repo.dir, "state");
      repo.write();
      const full = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(full.code).toBe(0);
      // the differential: a change, a deletion, an addition, in files and rows
      writeFileSync(join(data, "many", "f-1.txt"), "changed\n");
      rmSync(join(data, "many", "f-2.txt"));
      writeFileSync(join(data, "added.txt"), "added after the full\n");
      if (src)
        await withClient(src.url, (c) =>
          c.query("DELETE FROM users WHERE id > 250; UPDATE users SET name = 'changed' WHERE id = 1;"),
        );
      const diff = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(diff.code).toBe(0);
      const d = JSON.parse(diff.stdout);
      const projects = d.sources.find((s: { name: string }) => s.name === "projects");
      expect(projects.kind).toMatch(/diff/);
      const baseId = JSON.parse(full.stdout).id;
      expect(projects.base).toBe(baseId);

      const p = await runCli(["-c", repo.configFile, "restore", "latest", "--print-script"]);
      expect(p.stderr).toBe("");
      expect(p.code).toBe(0);
      const script = p.stdout;
      expect(script).toMatch(/^#!\/bin\/sh\n/);
      // the base first, then the differential
      expect(script.indexOf(`${baseId}'/'projects.tar.zst.age'`)).toBeGreaterThan(0);
      expect(script.indexOf(`${baseId}'/'projects.tar.zst.age'`)).toBeLessThan(
        script.indexOf(`${d.id}'/'projects.tar.zst.age'`),
      );

      const target = tempDir("ps-target");
      const dst = src ? await createDb(pg!, "psdst") : undefined;
      const env = {
        REPO: join(repo.dir, "repository"),
        IDENTITY: repo.identityFile,
        TARGET: target,
        ...(dst ? { TARGET_URL: dst.url } : {}),
      };
      const r = runScript(script, env);
      expect(r.stderr).not.toMatch(/FAILED|not found/);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Good "strongbox-backup" signature/);
      expect(r.stdout).toMatch(/projects\.tar\.zst\.age: OK/);
      expect(r.stdout).toMatch(/strongbox hand restore: done\n$/);
      expect(snapshotTree(join(target, "projects"))).toEqual(snapshotTree(data));
      if (dst) {
        const rows = (url: string) =>
          withClient(url, async (c) => (await c.query("SELECT id, name FROM users ORDER BY id")).rows);
        expect(await rows(dst.url)).toEqual(await rows(src!.url));
      }

      // A second run into the same target refuses to extract over what is there.
      const again = runScript(script, { ...env, TARGET_URL: "postgres://invalid.invalid/x" });
      expect(again.status).not.toBe(0);
      expect(again.stderr).toMatch(/projects is not empty/);

      // A changed base object: sha256sum -c stops the script before anything is extracted.
      tamper(join(repo.dir, "repository"), baseId, "projects.tar.zst.age", (b) => ((b[b.length - 10] ^= 1), b), {
        rehash: false,
      });
      const t2 = tempDir("ps-target2");
      const bad = runScript(script, { ...env, TARGET: t2, TARGET_URL: "postgres://invalid.invalid/x" });
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toMatch(/projects\.tar\.zst\.age: FAILED/);
      expect(readdirSync(t2)).toEqual([]);
    },
  );

  it(
    "gzip and no compression: the script decompresses each as stored; --to-dir with --print-script is refused (it restores nothing)",
    { timeout: 60_000 },
    async () => {
      for (const compression of ["gzip", "none"]) {
        const data = tempDir("ps-gz");
        makeSampleTree(data);
        const { repo } = await signedRepo({ sources: [{ name: "projects", type: "files", path: data }], compression });
        expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
        const p = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--print-script"]);
        expect(p.code).toBe(0);
        const { script } = JSON.parse(p.stdout);
        expect(script).toContain(compression === "gzip" ? "gzip -dc" : "{ cat ||");
        const target = tempDir("ps-gz-target");
        const r = runScript(script, { REPO: join(repo.dir, "repository"), TARGET: target }); // IDENTITY: the config's identity_file
        expect(r.stderr).toBe(
          "strongbox hand restore: running as root; a forged backup could write anywhere root may: prefer an unprivileged user\n".repeat(
            process.getuid?.() === 0 ? 1 : 0,
          ),
        );
        expect(r.status).toBe(0);
        expect(snapshotTree(join(target, "projects"))).toEqual(snapshotTree(data));
        if (compression === "none") {
          const u = await runCli([
            "-c",
            repo.configFile,
            "restore",
            "latest",
            "--print-script",
            "--to-dir",
            tempDir("ps-x"),
          ]);
          expect(u.code).toBe(2);
          expect(u.stderr).toMatch(/--print-script restores nothing/);
        }
      }
    },
  );
});

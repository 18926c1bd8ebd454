// Issue 20, copy: `copy all` goes on past a damaged backup (reports it, copies the others, exit 3 at
// the end), and copy checks what the destination already holds before it says "copied": a partial
// backup with the same id is checked by SHA-256 and completed where the destination can be read,
// refused where its objects are not the source's (exit 3, nothing committed), and refused where
// the destination cannot be read (writer role only).
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { keys } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { forgeBackup, sha256, tamper } from "../helpers/forge.js";
import { s3Client } from "../helpers/s3-fixture.js";

const s3 = inject("s3");
/** Every backup of this file a second after the last, by its clock: distinct, ordered ids without sleeping. */
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());

async function backup(config: string, extra: string[] = []): Promise<string> {
  const r = await runCli(["-c", config, "--json", "backup", "now", ...extra], { env: nextSecond() });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).id;
}

function repoWithData(label: string, differential = false): { repo: TestRepo; data: string; store: string } {
  const data = tempDir(label);
  writeFileSync(join(data, "f.bin"), Buffer.alloc(50_000, 3));
  const repo = makeRepo({
    sources: [
      { name: "assets", type: "files", path: data, ...(differential ? { differential: { full_every: "7d" } } : {}) },
    ],
  });
  if (differential) {
    repo.config.state_dir = join(repo.dir, "state");
    repo.write();
  }
  return { repo, data, store: join(repo.dir, "repository") };
}

const objectFiles = (store: string, id: string) =>
  (JSON.parse(readFileSync(join(store, keys.complete(id)), "utf8")).objects as { key: string }[]).map((o) => o.key);

describe("copy all goes on past a damaged backup", () => {
  it("reports a damaged backup and a differential of a damaged base, copies the others, exits 3 at the end", async () => {
    const { repo, data, store } = repoWithData("copy-go-on", true);
    const full = await backup(repo.configFile); // its data object is damaged below
    writeFileSync(join(data, "n.txt"), "1\n");
    const diff = await backup(repo.configFile); // on the damaged full
    const full2 = await backup(repo.configFile, ["--full"]);
    writeFileSync(join(data, "n.txt"), "2\n");
    const diff2 = await backup(repo.configFile);
    tamper(store, full, "assets.tar.zst.age", (b) => ((b[b.length - 40] ^= 1), b), { rehash: false });
    // and a forged backup whose complete.json is damaged (listed as DAMAGED)
    const forged = await forgeBackup(store, repo.recipient, {
      files: { x: { tar: Buffer.alloc(1024), entries: [] } },
      complete: (c) => (c.extra = 1),
    });
    const destDir = tempDir("copy-go-on-dest");
    const c = await runCli(["-c", repo.configFile, "--json", "copy", "all", "--to", `file://${destDir}`]);
    expect(c.code).toBe(3);
    // --json: one document, the result with the failure beside it
    const out = JSON.parse(c.stdout);
    expect(out).toMatchObject({ ok: false, exit_code: 3, error_code: "VERIFY" });
    expect(out.copied.map((x: { id: string }) => x.id)).toEqual([full2, diff2]);
    expect(out.failed).toEqual(
      expect.arrayContaining([
        { id: full, why: expect.stringMatching(/SHA-256 mismatch/) },
        { id: diff, why: expect.stringMatching(new RegExp(`base ${full}`)) },
        { id: forged, why: expect.stringMatching(/unknown key "extra"/) },
      ]),
    );
    expect(out.failed).toHaveLength(3);
    expect(c.stderr).toMatch(/3 NOT copied/);
    for (const id of [full, diff, forged]) expect(existsSync(join(destDir, keys.complete(id)))).toBe(false);
    const dest = repo.write((cfg) => (cfg.repository.url = `file://${destDir}`));
    const v = await runCli(["-c", dest, "verify", "all"]);
    expect(v.stdout.trim().split("\n").sort()).toEqual([`${diff2}  OK`, `${full2}  OK`].sort());
    expect(v.code).toBe(0);
    // the human form names each one
    const h = await runCli(["-c", repo.configFile, "copy", "all", "--to", `file://${destDir}`]);
    expect(h.stdout).toContain(`${full}  NOT COPIED: `);
    expect(h.stdout).toContain(`${full2}  skipped (already in the destination)`);
    expect(h.code).toBe(3);
  }, 120_000);
});

describe("copy all and a differential whose base is gone from the source", () => {
  it("reports the differential, copies the rest, exit 3 (not a crash)", async () => {
    const { repo, data, store } = repoWithData("copy-no-base", true);
    const full = await backup(repo.configFile);
    writeFileSync(join(data, "n.txt"), "1\n");
    const diff = await backup(repo.configFile);
    const other = await backup(repo.configFile, ["--full"]);
    rmSync(join(store, "backups", full), { recursive: true });
    const destDir = tempDir("copy-no-base-dest");
    const c = await runCli(["-c", repo.configFile, "copy", "all", "--to", `file://${destDir}`]);
    expect(c.stdout).toContain(`${other}  copied`);
    expect(c.stdout).toContain(`${diff}  NOT COPIED: its base ${full} cannot be copied`);
    expect(c.stdout).toContain(`${full}  NOT COPIED: backup ${full} is not in the source repository`);
    expect(c.code).toBe(3);
  }, 60_000);
});

describe("copy checks what the destination already holds", () => {
  it("objects of another content under the same id, without complete.json: exit 3 naming the object, nothing committed, not DAMAGED", async () => {
    const { repo, store } = repoWithData("copy-partial-bad");
    const id = await backup(repo.configFile);
    const destDir = tempDir("copy-partial-bad-dest");
    const [data] = objectFiles(store, id);
    mkdirSync(join(destDir, "backups", id), { recursive: true });
    const planted = readFileSync(join(store, data));
    planted[100] ^= 1; // same size, other bytes
    writeFileSync(join(destDir, data), planted);
    const c = await runCli(["-c", repo.configFile, "copy", id, "--to", `file://${destDir}`]);
    expect(c.stdout).not.toMatch(/ {2}copied/);
    expect(c.stdout).toContain(
      `${id}  NOT COPIED: the destination already holds ${data}, and it is not this backup's object (SHA-256 mismatch)`,
    );
    expect(c.code).toBe(3);
    expect(existsSync(join(destDir, keys.complete(id)))).toBe(false);
    const dest = repo.write((cfg) => (cfg.repository.url = `file://${destDir}`));
    const l = await runCli(["-c", dest, "list"]);
    expect(l.stdout).not.toMatch(/DAMAGED/);
    // another size is refused from the listing alone
    writeFileSync(join(destDir, data), planted.subarray(0, 10));
    const c2 = await runCli(["-c", repo.configFile, "copy", id, "--to", `file://${destDir}`]);
    expect(c2.stdout).toMatch(
      new RegExp(`already holds ${data.replace(/\./g, "\\.")} with 10 bytes, complete.json says \\d+`),
    );
    expect(c2.code).toBe(3);
  }, 60_000);

  it("some of the right objects (an interrupted copy): checked by SHA-256, the rest copied, verify OK there", async () => {
    const { repo, store } = repoWithData("copy-partial-good");
    const id = await backup(repo.configFile);
    const destDir = tempDir("copy-partial-good-dest");
    const [data] = objectFiles(store, id);
    mkdirSync(join(destDir, "backups", id), { recursive: true });
    copyFileSync(join(store, data), join(destDir, data));
    const c = await runCli(["-c", repo.configFile, "--json", "copy", id, "--to", `file://${destDir}`]);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout).copied).toEqual([expect.objectContaining({ id, already: 1 })]);
    expect(readFileSync(join(destDir, keys.complete(id))).equals(readFileSync(join(store, keys.complete(id))))).toBe(
      true,
    );
    const dest = repo.write((cfg) => (cfg.repository.url = `file://${destDir}`));
    const v = await runCli(["-c", dest, "verify", id]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
  }, 60_000);

  it("another complete.json under the same id: exit 3, left as it is", async () => {
    const { repo, store } = repoWithData("copy-other-marker");
    const id = await backup(repo.configFile);
    const destDir = tempDir("copy-other-marker-dest");
    mkdirSync(join(destDir, "backups", id), { recursive: true });
    const other = readFileSync(join(store, keys.complete(id)), "utf8").replace(
      /"host": "[^"]*"/,
      '"host": "elsewhere"',
    );
    writeFileSync(join(destDir, keys.complete(id)), other);
    const c = await runCli(["-c", repo.configFile, "copy", "all", "--to", `file://${destDir}`]);
    expect(c.stdout).toContain(
      `${id}  NOT COPIED: the destination holds another complete.json for ${id} than the source's`,
    );
    expect(c.code).toBe(3);
    expect(readFileSync(join(destDir, keys.complete(id)), "utf8")).toBe(other);
    expect(readdirSync(join(destDir, "backups", id))).toEqual(["complete.json"]);
  }, 60_000);
});

describe.skipIf(!s3)("copy to a destination it cannot read (writer role only, Ceph)", () => {
  it("a partial backup there is refused (exit 3: add reader credentials), never reported copied; with them it is checked and completed", async () => {
    const { repo, store } = repoWithData("copy-blind");
    const id = await backup(repo.configFile);
    const prefix = `copyblind-${Math.random().toString(16).slice(2, 8)}`;
    const roles = (rs: ("writer" | "reader")[]) =>
      repo.write((c) => {
        c.repository = {
          url: `s3://${s3!.bucket}/${prefix}`,
          s3: {
            endpoint: s3!.endpoint,
            region: "us-east-1",
            force_path_style: true,
            credentials: Object.fromEntries(
              rs.map((r) => [r, { access_key_id: s3![r].accessKeyId, secret_access_key: s3![r].secretAccessKey }]),
            ),
          },
        };
      });
    // One of its objects is already there, put with the writer key (as an interrupted copy leaves it).
    const [data, manifest] = objectFiles(store, id);
    const w = s3Client(s3!.endpoint, s3!.writer);
    await w.send(
      new PutObjectCommand({ Bucket: s3!.bucket, Key: `${prefix}/${data}`, Body: readFileSync(join(store, data)) }),
    );
    w.destroy();
    const c = await runCli(["-c", repo.configFile, "copy", id, "--to", roles(["writer"])]);
    expect(c.stdout).toContain(
      `${id}  NOT COPIED: the destination already holds 1 of the 2 objects of ${id} (${data}), which the --to config cannot read to check`,
    );
    expect(c.code).toBe(3);
    const both = roles(["writer", "reader"]);
    expect((await runCli(["-c", both, "--json", "list", "--all"])).stdout).toMatch(/"complete": false/);
    // With the reader: checked, and completed.
    const c2 = await runCli(["-c", repo.configFile, "--json", "copy", id, "--to", both]);
    expect(c2.code).toBe(0);
    expect(JSON.parse(c2.stdout).copied).toEqual([expect.objectContaining({ id, already: 2 })]);
    const v = await runCli(["-c", both, "verify", id]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    expect(manifest).toMatch(/manifest/);
    expect(sha256(readFileSync(join(store, data)))).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);
});

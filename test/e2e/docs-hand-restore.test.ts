// The docs' hand restores, run as printed (only the values of the variables on their first lines and the
// trusted key's line filled in), from a working directory that holds nothing of the repository, so a
// relative path after a `cd` fails here as it would for a user:
// - docs/format.md "Restoring everything by hand": a restore point of two backups (the files source
//   from a differential made with --source, its base found from complete.json; the database from the
//   older full), every signature and hash checked;
// - docs/format.md "Differential backups": the base, then the differential;
// - README "Restoring without strongbox": `--print-script > restore.sh`, then the script with a bare PATH.
// Also every signature-check block of the README and docs/ as printed.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { BIN, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import { KEY_PLACEHOLDER, signedRepo } from "../helpers/signing.js";
import { createDb, withClient } from "../helpers/pg.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const fx = inject("pg");
/** Consecutive backups of one repository in distinct, increasing seconds: `latest` is the later one. */
const nextSecond = secondApart();
const root = new URL("../../", import.meta.url).pathname;
const read = (f: string) => readFileSync(join(root, f), "utf8");
const section = (text: string, heading: string) =>
  text.slice(text.indexOf(heading), text.indexOf("\n## ", text.indexOf(heading) + heading.length));
const blocks = (text: string) => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].replace(/^ {2,3}/gm, ""));
const hand = blocks(section(read("docs/format.md"), "## Restoring everything by hand"));
const diffBlocks = blocks(section(read("docs/format.md"), "## Differential backups"));
const readmeBlocks = blocks(section(read("README.md"), "## Restoring without strongbox"));

/** Sets `NAME=value` (a line's start, or a word of an env prefix) to the given values; each must be there. */
function fill(block: string, values: Record<string, string>): string {
  let out = block;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`(^|\\s)${name}=\\S+`, "m");
    expect(out, `the block sets ${name}`).toMatch(re);
    out = out.replace(re, `$1${name}='${value}'`);
  }
  return out;
}

const bash = (script: string, env: NodeJS.ProcessEnv, cwd = tempDir("docs-cwd")) =>
  execFileSync("bash", ["-euo", "pipefail", "-c", script], {
    cwd,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

describe("docs/format.md and README: hand restores, as printed", () => {
  it("each section has its blocks", () => {
    expect(hand).toHaveLength(1);
    expect(diffBlocks).toHaveLength(1);
    expect(readmeBlocks.filter((b) => b.includes("restore.sh"))).toHaveLength(2);
  });

  it.skipIf(!fx)(
    "Restoring everything by hand: a differential (base from complete.json) and a database from an older backup",
    { timeout: 120_000 },
    async () => {
      const src = await createDb(fx!, "fmthand");
      await withClient(src.url, (c) =>
        c.query(
          "CREATE TABLE users (id int, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 300) g;",
        ),
      );
      const data = tempDir("fmthand-data");
      makeSampleTree(data);
      const { repo, publicKey } = await signedRepo({
        sources: [
          { name: "db", type: "postgres", url: src.url, globals: true },
          { name: "projects", type: "files", path: data, differential: { full_every: "7d" } },
        ],
      });
      repo.config.state_dir = join(repo.dir, "state");
      repo.write();
      const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(b.code).toBe(0);
      const fullId = JSON.parse(b.stdout).id;
      writeFileSync(join(data, "added after the full.txt"), "new\n");
      rmSync(join(data, "projects/show one/rundowns"), { recursive: true });
      const d = await runCli(["-c", repo.configFile, "--json", "backup", "now", "--source", "projects"], {
        env: nextSecond(),
      });
      expect(d.code).toBe(0);
      const diff = JSON.parse(d.stdout);
      expect(diff.sources[0].base).toBe(fullId);
      const restore = tempDir("fmthand-restore");
      const script = fill(hand[0], {
        REPO: join(repo.dir, "repository"),
        IDENTITY: repo.identityFile,
        TARGET: restore,
        FILES_ID: diff.id,
        DB_ID: fullId,
      }).replace(KEY_PLACEHOLDER, publicKey);
      const lines = script.split("\n");
      expect(lines.findIndex((l) => l.includes("ssh-keygen -Y verify"))).toBeLessThan(
        lines.findIndex((l) => l.includes("sha256sum -c")),
      ); // the signature first
      expect(lines.findIndex((l) => l.includes("sha256sum -c"))).toBeLessThan(
        lines.findIndex((l) => l.includes("tar -x")),
      ); // every hash before any extraction
      const dst = await createDb(fx!, "fmthanddst");
      const out = bash(script, { ...process.env, TARGET_URL: dst.url, ADMIN_URL: fx!.url });
      expect(out).toMatch(/: OK\n/); // sha256sum -c of complete.json's objects
      expect(out.match(/Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/g)).toHaveLength(3); // base, differential, database's backup
      expect(out).not.toMatch(/FAILED/);
      expect(snapshotTree(join(restore, "projects"))).toEqual(snapshotTree(data));
      expect(
        await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM users")).rows[0].n),
      ).toBe(300);
    },
  );

  it(
    "Differential backups: the base, then the differential, gives the tree; README: --print-script > restore.sh, run with strongbox off PATH",
    { timeout: 120_000 },
    async () => {
      const data = tempDir("fmtdiff-data");
      makeSampleTree(data);
      const { repo } = await signedRepo({
        sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
      });
      repo.config.state_dir = join(repo.dir, "state");
      repo.write();
      const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(b.code).toBe(0);
      const base = JSON.parse(b.stdout).id;
      writeFileSync(join(data, "changed.txt"), "after the full\n");
      rmSync(join(data, "ASSETS"), { recursive: true });
      const d = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
      expect(d.code).toBe(0);
      const id = JSON.parse(d.stdout).id;
      expect(JSON.parse(d.stdout).sources[0].base).toBe(base);

      const target = tempDir("fmtdiff-target");
      bash(diffBlocks[0], {
        PATH: "/usr/bin:/bin",
        REPO: join(repo.dir, "repository"),
        IDENTITY: repo.identityFile,
        TARGET: target,
        BASE: base,
        ID: id,
      });
      expect(snapshotTree(join(target, "assets"))).toEqual(snapshotTree(data));

      // README: print where strongbox runs, then run the script where it does not.
      const [print, run] = readmeBlocks.filter((x) => x.includes("restore.sh"));
      const cwd = tempDir("readme-cwd");
      bash(
        print,
        { PATH: `${dirname(BIN)}:${process.env.PATH}`, HOME: process.env.HOME, STRONGBOX_CONFIG: repo.configFile },
        cwd,
      );
      const readmeTarget = tempDir("readme-target");
      const out = bash(
        fill(run, {
          REPO: join(repo.dir, "repository"),
          IDENTITY: repo.identityFile,
          TARGET: readmeTarget,
          TARGET_URL: "postgres://unused.invalid/x",
        }),
        { PATH: "/usr/bin:/bin" },
        cwd,
      );
      expect(out).toMatch(/assets\.tar\.zst\.age: OK/);
      expect(out).toMatch(/strongbox hand restore: done/);
      expect(snapshotTree(join(readmeTarget, "assets"))).toEqual(snapshotTree(data));
    },
  );
});

const hasSshKeygen = spawnSync("ssh-keygen", ["-?"]).error === undefined;
const sigBlocks = ["README.md", "docs/format.md", "docs/operations.md"].flatMap((f) =>
  [...readFileSync(join(root, f), "utf8").matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1].replace(/^ {3}/gm, ""))
    .filter((b) => b.includes("ssh-keygen -Y verify") && b.includes("<id>"))
    .map((text, i) => ({ name: `${f} signature block ${i + 1}`, text })),
);

describe.skipIf(!hasSshKeygen)("the docs' signature check, as printed", () => {
  it("README, docs/format.md and docs/operations.md each print one", () => {
    expect(sigBlocks.map((b) => b.name.split(" ")[0]).sort()).toEqual([
      "README.md",
      "README.md",
      "docs/format.md",
      "docs/operations.md",
    ]);
  });

  it.each(sigBlocks)(
    "$name: Good for a signed backup; fails for a forged unsigned one and for a changed complete.json",
    async ({ text }) => {
      const data = tempDir("docsig-data");
      writeFileSync(join(data, "a.txt"), "a\n");
      const { repo, publicKey } = await signedRepo({ sources: [{ name: "projects", type: "files", path: data }] });
      const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
      expect(b.code).toBe(0);
      const id = JSON.parse(b.stdout).id;
      const cwd = join(repo.dir, "repository");
      const run = (backupId: string) =>
        spawnSync(
          "bash",
          ["-euo", "pipefail", "-c", text.replace(/<id>/g, backupId).replace(KEY_PLACEHOLDER, publicKey)],
          { cwd, encoding: "utf8" },
        );
      const good = run(id);
      expect(`${good.stdout}${good.stderr}`).toMatch(
        /Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/,
      );
      expect(good.status).toBe(0);
      const forged = await forgeBackup(writerStore(repo), repo.recipient, { files: { projects: data } });
      expect(run(forged.id).status).not.toBe(0);
      const changed = join(cwd, "backups", id, "complete.json");
      writeFileSync(changed, readFileSync(changed, "utf8").replace(/"host": "[^"]*"/, '"host": "elsewhere"'));
      const bad = run(id);
      expect(`${bad.stdout}${bad.stderr}`).not.toMatch(/Good/);
      expect(bad.status).not.toBe(0);
    },
  );
});

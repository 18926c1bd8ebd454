// docs/format.md's "Restoring everything by hand" block, run as printed (only the id, the restore
// directory, the identity's path and the trusted key's line filled in) against a real signed backup of
// a database and a files source; and every signature-check block of the README and docs/ as printed.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import { KEY_PLACEHOLDER, signedRepo } from "../helpers/signing.js";
import { createDb, withClient } from "../helpers/pg.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const fx = inject("pg");
const root = new URL("../../", import.meta.url).pathname;
const doc = readFileSync(join(root, "docs/format.md"), "utf8");
const block = /## Restoring everything by hand[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)![1];

describe.skipIf(!fx)("docs/format.md: restoring everything by hand", () => {
  it("the block restores the files tree exactly and the database with its rows, every hash checked", async () => {
    const src = await createDb(fx!, "fmthand");
    await withClient(src.url, (c) => c.query("CREATE TABLE users (id int, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 300) g;"));
    const data = tempDir("fmthand-data");
    makeSampleTree(data);
    const { repo, publicKey } = await signedRepo({ sources: [{ name: "db", type: "postgres", url: src.url, globals: true }, { name: "projects", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const restore = tempDir("fmthand-restore");
    const script = block
      .replace(/^id=\S+$/m, `id=${id}`)
      .replace(/\/restore\//g, `${restore}/`)
      .replace(/-i identity\.txt/g, `-i '${repo.identityFile}'`)
      .replace(KEY_PLACEHOLDER, publicKey);
    expect(script).toContain(`id=${id}`); // the block still has the line it is filled in at
    expect(script.split("\n").findIndex((l) => l.startsWith("ssh-keygen -Y verify"))).toBeLessThan(script.split("\n").findIndex((l) => l.includes("sha256sum -c"))); // the signature first
    const dst = await createDb(fx!, "fmthanddst");
    const out = execFileSync("bash", ["-euo", "pipefail", "-c", script], {
      cwd: join(repo.dir, "repository"),
      env: { ...process.env, TARGET_URL: dst.url, ADMIN_URL: fx!.url },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(out).toMatch(/: OK\n/); // sha256sum -c of complete.json's objects
    expect(out).toMatch(/Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/);
    expect(out).not.toMatch(/FAILED/);
    expect(snapshotTree(join(restore, "projects"))).toEqual(snapshotTree(data));
    expect(await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM users")).rows[0].n)).toBe(300);
  });
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
    expect(sigBlocks.map((b) => b.name.split(" ")[0]).sort()).toEqual(["README.md", "README.md", "docs/format.md", "docs/operations.md"]);
  });

  it.each(sigBlocks)("$name: Good for a signed backup; fails for a forged unsigned one and for a changed complete.json", async ({ text }) => {
    const data = tempDir("docsig-data");
    writeFileSync(join(data, "a.txt"), "a\n");
    const { repo, publicKey } = await signedRepo({ sources: [{ name: "projects", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const cwd = join(repo.dir, "repository");
    const run = (backupId: string) => spawnSync("bash", ["-euo", "pipefail", "-c", text.replace(/<id>/g, backupId).replace(KEY_PLACEHOLDER, publicKey)], { cwd, encoding: "utf8" });
    const good = run(id);
    expect(`${good.stdout}${good.stderr}`).toMatch(/Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/);
    expect(good.status).toBe(0);
    const forged = await forgeBackup(writerStore(repo), repo.recipient, { files: { projects: data } });
    expect(run(forged.id).status).not.toBe(0);
    const changed = join(cwd, "backups", id, "complete.json");
    writeFileSync(changed, readFileSync(changed, "utf8").replace(/"host": "[^"]*"/, '"host": "elsewhere"'));
    const bad = run(id);
    expect(`${bad.stdout}${bad.stderr}`).not.toMatch(/Good/);
    expect(bad.status).not.toBe(0);
  });
});

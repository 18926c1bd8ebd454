// docs/format.md's "Restoring everything by hand" block, run as printed (only the id, the restore
// directory and the identity's path filled in) against a real backup of a database and a files source.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
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
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url: src.url, globals: true }, { name: "projects", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const restore = tempDir("fmthand-restore");
    const script = block
      .replace(/^id=\S+$/m, `id=${id}`)
      .replace(/\/restore\//g, `${restore}/`)
      .replace(/-i identity\.txt/g, `-i '${repo.identityFile}'`);
    expect(script).toContain(`id=${id}`); // the block still has the line it is filled in at
    const dst = await createDb(fx!, "fmthanddst");
    const out = execFileSync("bash", ["-euo", "pipefail", "-c", script], {
      cwd: join(repo.dir, "repository"),
      env: { ...process.env, TARGET_URL: dst.url, ADMIN_URL: fx!.url },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(out).toMatch(/: OK\n/); // sha256sum -c of complete.json's objects
    expect(out).not.toMatch(/FAILED/);
    expect(snapshotTree(join(restore, "projects"))).toEqual(snapshotTree(data));
    expect(await withClient(dst.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM users")).rows[0].n)).toBe(300);
  });
});

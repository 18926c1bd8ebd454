// Audit of issue 20's merged code, playing the forger (writer key + public recipient, no signing key):
// the trust verdict must cover every complete.json a restore uses, not only the one named.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keys } from "../../src/repository/layout.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";

function dataDir(label: string, files: Record<string, string>): string {
  const d = tempDir(label);
  for (const [n, t] of Object.entries(files)) writeFileSync(join(d, n), t);
  return d;
}

describe("audit20: trust covers what a restore really reads", () => {
  it("a trusted differential whose base's complete.json was overwritten by a forger: restore, verify and drill refuse it (exit 3, naming the base)", async () => {
    const data = dataDir("diff-real", { "a.txt": "real\n", "big.txt": "x".repeat(100_000) });
    const { repo } = await signedRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.write();
    const full = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(full.code).toBe(0);
    const baseId = JSON.parse(full.stdout).id;
    writeFileSync(join(data, "b.txt"), "second\n");
    const diff = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(diff.code).toBe(0);
    const d = JSON.parse(diff.stdout);
    expect(d.sources[0].base, diff.stderr).toBe(baseId);

    // The forger overwrites the base (PutObject under backups/ is all it needs): its own full of a
    // tree that holds a.txt with other bytes, under the base's id. The base's old .sig no longer matches.
    // (On file:// the forger writes files directly; on S3 a PutObject overwrites. The store API refuses, so unlink first.)
    unlinkSync(join(repo.dir, "repository", keys.complete(baseId)));
    await forgeBackup(writerStore(repo), repo.recipient, {
      id: baseId,
      files: { assets: dataDir("diff-evil", { "a.txt": "evil\n" }) },
    });
    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.stdout).toContain(`${baseId}: untrusted`);

    for (const ref of [d.id, "latest"]) {
      const out = tempDir("diff-restore");
      const r = await runCli(["-c", repo.configFile, "restore", ref, "--to-dir", out]);
      if (ref === "latest") {
        // A restore point skips the broken chain (its base is untrusted) and has nothing left: it says why.
        expect(r.stderr).toMatch(
          /no trusted complete backup holding assets .*\(1 untrusted, 1 with a broken chain: see 'strongbox list'\)/,
        );
        expect(r.code).not.toBe(0);
      } else {
        expect(r.stderr).toMatch(new RegExp(`base ${baseId}.*untrusted`));
        expect(r.code).toBe(3);
      }
      const a = join(out, "assets", "a.txt");
      if (existsSync(a)) expect(readFileSync(a, "utf8")).not.toBe("evil\n");
    }
    const v = await runCli(["-c", repo.configFile, "verify", d.id]);
    expect(v.stdout + v.stderr).toMatch(new RegExp(`base ${baseId}.*untrusted`));
    expect(v.code).toBe(3);
    // --allow-unsigned is the operator's explicit override: it lets the base through, loudly.
    const forced = await runCli(["-c", repo.configFile, "verify", d.id, "--allow-unsigned"]);
    expect(forced.stderr).toMatch(new RegExp(`base ${baseId}|${baseId}.*UNTRUSTED`));
  });

  it("an unsigned forgery that lists an object the store lacks (damaged when listed) is refused by restore <id> as untrusted, not read again unjudged", async () => {
    const data = dataDir("dmg-real", { "a.txt": "real\n" });
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const evil = await forgeBackup(writerStore(repo), repo.recipient, {
      files: { assets: dataDir("dmg-evil", { "a.txt": "evil\n" }) },
      started: new Date(Date.now() + 1500),
      // A part object that is never written: the listing calls the backup damaged, and never judges its signature.
      complete: (c) =>
        c.objects.push({
          key: `${keys.object(c.id, "assets")}.junk.bin.age`,
          size: 1,
          sha256: "0".repeat(64),
          source: "assets",
          part: "junk",
        }),
    });
    const out = tempDir("dmg-restore");
    const r = await runCli(["-c", repo.configFile, "restore", evil.id, "--to-dir", out]);
    expect(r.code).toBe(3);
    expect(existsSync(join(out, "assets", "a.txt"))).toBe(false);
  });

  it("copy <differential> does not carry along a base a forger overwrote (untrusted): the differential is NOT COPIED, exit 3", async () => {
    const data = dataDir("copy-real", { "a.txt": "real\n", "big.txt": "x".repeat(100_000) });
    const { repo } = await signedRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.write();
    const full = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const baseId = JSON.parse(full.stdout).id;
    writeFileSync(join(data, "b.txt"), "second\n");
    const diff = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const d = JSON.parse(diff.stdout);
    expect(d.sources[0].base, diff.stderr).toBe(baseId);
    unlinkSync(join(repo.dir, "repository", keys.complete(baseId)));
    await forgeBackup(writerStore(repo), repo.recipient, {
      id: baseId,
      files: { assets: dataDir("copy-evil", { "a.txt": "evil\n" }) },
    });

    const dest = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const c = await runCli(["-c", repo.configFile, "copy", d.id, "--to", dest.configFile]);
    expect(c.stdout).toMatch(new RegExp(`${baseId}  NOT COPIED: untrusted`));
    expect(c.stdout).toMatch(new RegExp(`${d.id}  NOT COPIED: its base ${baseId} cannot be copied`));
    expect(c.code).toBe(3);
    expect(existsSync(join(dest.dir, "repository", keys.complete(baseId)))).toBe(false);
  });
});

// Audit of issue 20's merged code, playing the forger (writer key + public recipient, no signing key):
// the trust verdict must cover every complete.json a restore uses, not only the one named.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keys } from "../../src/repository/layout.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { signedRepo } from "../helpers/signing.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";

function dataDir(label: string, files: Record<string, string>): string {
  const d = tempDir(label);
  for (const [n, t] of Object.entries(files)) writeFileSync(join(d, n), t);
  return d;
}

describe("audit20: trust covers what a restore really reads", () => {
  it("an unsigned forgery that lists an object the store lacks (damaged when listed) is refused by restore <id> as untrusted, not read again unjudged", async () => {
    const data = dataDir("dmg-real", { "a.txt": "real\n" });
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const evil = await forgeBackup(writerStore(repo), repo.recipient, {
      files: { assets: dataDir("dmg-evil", { "a.txt": "evil\n" }) },
      started: new Date(Date.now() + 1500),
      // A part object that is never written: the listing calls the backup damaged, and never judges its signature.
      complete: (c) => c.objects.push({ key: `${keys.object(c.id, "assets")}.junk.bin.age`, size: 1, sha256: "0".repeat(64), source: "assets", part: "junk" }),
    });
    const out = tempDir("dmg-restore");
    const r = await runCli(["-c", repo.configFile, "restore", evil.id, "--to-dir", out]);
    expect(r.code).toBe(3);
    expect(existsSync(join(out, "assets", "a.txt"))).toBe(false);
  });
});

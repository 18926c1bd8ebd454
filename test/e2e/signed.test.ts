// Signed backups through the real CLI on a file:// repository: a forger with write access and the
// public recipient (no signing key) adds a newer, well-formed, unsigned backup and forged drill reports.
// None of it is latest, list marks it, explicit ids refuse it (exit 3) unless --allow-unsigned, and
// forged or junk drill reports neither show "pass" nor hide the real result.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DRILL_NAMESPACE, generateSigningKey, parsePrivateKey, signMessage } from "../../src/crypto/ssh-signature.js";
import { keys, newBackupId } from "../../src/repository/layout.js";
import { tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";

function dataDir(label: string): string {
  const d = tempDir(label);
  writeFileSync(join(d, "a.txt"), `${label}\n`);
  return d;
}

describe("signed backups: a forger without the signing key", () => {
  it("keygen --signing writes an OpenSSH key (0600) that ssh-keygen reads, and prints its public line", async () => {
    const dir = tempDir("keygen-signing");
    const r = await runCli(["--json", "keygen", "--signing", "-o", join(dir, "k")]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      kind: "ed25519-signing",
      key_file: join(dir, "k"),
      public_key: expect.stringMatching(/^ssh-ed25519 /),
    });
    expect(readFileSync(join(dir, "k"), "utf8")).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    const y = spawnSync("ssh-keygen", ["-y", "-f", join(dir, "k")], { encoding: "utf8" });
    if (!y.error) expect(y.stdout.trim()).toBe(out.public_key);
    const again = await runCli(["keygen", "--signing", "-o", join(dir, "k")]);
    expect(again.stderr).toMatch(/already exists; not overwriting a key/);
    expect(again.code).toBe(2);
    expect((await runCli(["keygen", "--signing", "--pq"])).code).toBe(2);
  });

  it("a newer unsigned forgery is never latest; list marks it; restore/verify/drill of its id exit 3; --allow-unsigned overrides loudly", async () => {
    const data = dataDir("real");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const real = JSON.parse(b.stdout).id;
    const evil = await forgeBackup(writerStore(repo), repo.recipient, {
      files: { assets: dataDir("forged") },
      started: new Date(Date.now() + 2000),
    });

    const out = tempDir("signed-restore");
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "assets", "a.txt"), "utf8")).toBe("real\n");

    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.stdout).toMatch(new RegExp(`^${evil.id} \\(UNTRUSTED\\)`, "m"));
    expect(l.stdout).toContain(
      `${evil.id}: untrusted, not counted by retention nor picked as latest: unsigned (no complete.json.sig)`,
    );
    const lj = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(lj).toMatchObject([
      { id: evil.id, complete: true, untrusted: ["unsigned (no complete.json.sig)"] },
      { id: real, complete: true, signed_by: expect.stringMatching(/^SHA256:\S+ \(strongbox-signing\)$/) },
    ]);
    expect(lj[1].untrusted).toBeUndefined();

    const refused = await runCli(["-c", repo.configFile, "restore", evil.id, "--to-dir", tempDir("signed-refused")]);
    expect(refused.stderr).toMatch(
      new RegExp(`backup ${evil.id} is untrusted: unsigned \\(no complete\\.json\\.sig\\)`),
    );
    expect(refused.code).toBe(3);
    const v = await runCli(["-c", repo.configFile, "verify", evil.id]);
    expect(v.stdout).toMatch(new RegExp(`^${evil.id}  FAILED: backup ${evil.id} is untrusted: unsigned`));
    expect(v.code).toBe(3);
    const all = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(all.stdout.split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^${evil.id}  FAILED: .*untrusted`)),
      `${real}  OK`,
      "",
    ]);
    expect(all.code).toBe(3);
    const d = await runCli(["-c", repo.configFile, "drill", evil.id]);
    expect(d.stderr).toMatch(/is untrusted: unsigned/);
    expect(d.code).toBe(3);

    const forcedDir = tempDir("signed-forced");
    const forced = await runCli(["-c", repo.configFile, "restore", evil.id, "--to-dir", forcedDir, "--allow-unsigned"]);
    expect(forced.stderr).toMatch(/--allow-unsigned: using backup \S+ although it is UNTRUSTED \(unsigned/);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(forcedDir, "assets", "a.txt"), "utf8")).toBe("forged\n");
    const vf = await runCli(["-c", repo.configFile, "verify", evil.id, "--allow-unsigned"]);
    expect(vf.stderr).toMatch(/UNTRUSTED/);
    expect(vf.stdout.trim()).toBe(`${evil.id}  OK`);
    expect(vf.code).toBe(0);
    // ls, diff and dump: the flag their refusal names is theirs too.
    for (const args of [
      ["ls", evil.id],
      ["diff", real, evil.id],
      ["dump", evil.id, "assets", "a.txt"],
    ]) {
      const refused = await runCli(["-c", repo.configFile, ...args]);
      expect([args[0], refused.code]).toEqual([args[0], 3]);
      expect(refused.stderr).toMatch(/untrusted: .*--allow-unsigned uses it anyway/);
      const read = await runCli(["-c", repo.configFile, ...args, "--allow-unsigned"]);
      expect([args[0], read.code]).toEqual([args[0], 0]);
      expect(read.stderr).toMatch(/--allow-unsigned: using backup \S+ although it is UNTRUSTED/);
    }

    // Control: the same repository read without a signing section takes the forgery as latest (as before signing).
    const unsignedCfg = repo.write((c) => delete c.signing);
    const ctl = tempDir("signed-control");
    expect((await runCli(["-c", unsignedCfg, "restore", "latest", "--to-dir", ctl])).code).toBe(0);
    expect(readFileSync(join(ctl, "assets", "a.txt"), "utf8")).toBe("forged\n");
    const doc = await runCli(["-c", unsignedCfg, "doctor"]);
    expect(doc.stdout).toMatch(/WARN\s+signing\s+not configured: backups are not signed/);
  });

  it("a key that is not trusted, or trusted only outside the store's time, signs untrusted backups; doctor and config check say so", async () => {
    const data = dataDir("rot");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const other = generateSigningKey("other-host").publicKey;
    const strangerCfg = repo.write((c) => (c.signing.trusted = [{ key: `${other.line} other-host` }]));
    const cc = await runCli(["-c", strangerCfg, "config", "check"]);
    expect(cc.stderr).toMatch(/signing\.key_file: its public key SHA256:\S+ is not in signing\.trusted/);
    expect(cc.code).toBe(0);
    const doc = await runCli(["-c", strangerCfg, "--json", "doctor"]);
    const f = JSON.parse(doc.stdout)
      .findings.filter((x: { area: string }) => x.area === "signing key")
      .map((x: { status: string; detail: string }) => `${x.status}: ${x.detail}`);
    expect(f).toEqual([
      expect.stringMatching(/^ok: .* mode 600; SHA256:/),
      expect.stringMatching(/^warn: .*is not in signing\.trusted/),
    ]);

    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const id = JSON.parse(b.stdout).id;
    const lj = JSON.parse((await runCli(["-c", strangerCfg, "--json", "list"])).stdout);
    expect(lj[0].untrusted).toEqual([
      expect.stringMatching(/^complete\.json\.sig: signed by SHA256:\S+, which is not a trusted key/),
    ]);
    const expired = repo.write(
      (c) => (c.signing.trusted[0].valid_before = new Date(Date.now() - 3600_000).toISOString()),
    );
    const r = await runCli(["-c", expired, "restore", id, "--to-dir", tempDir("expired")]);
    expect(r.stderr).toMatch(/which is trusted only from … to .*; the store dated it/);
    expect(r.code).toBe(3);
    // Rotation: the old key keeps its period, the new key is added: both kinds of backups count.
    const rotated = repo.write((c) =>
      c.signing.trusted.push({ key: `${other.line} other-host`, valid_after: new Date().toISOString() }),
    );
    expect((await runCli(["-c", rotated, "verify", id])).code).toBe(0);
    // A backup host with signing configured but no key refuses to back up (an unsigned backup would be untrusted).
    const noKey = repo.write((c) => delete c.signing.key_file);
    const nb = await runCli(["-c", noKey, "backup", "now"]);
    expect(nb.stderr).toMatch(/signing\.key_file: required to back up/);
    expect(nb.code).toBe(2);
  });

  it("drill reports: only signed ones count; a forged unsigned 'pass', a foreign-key 'pass' and 200 junk reports neither show pass nor hide the real result", async () => {
    const data = dataDir("drilled");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const real = JSON.parse(b.stdout).id;
    const drill = await runCli(["-c", repo.configFile, "--json", "drill"]);
    expect(drill.code).toBe(0);
    const drillId = JSON.parse(drill.stdout).drill_id;
    const root = join(repo.dir, "repository");
    expect(readFileSync(join(root, keys.drillSig(drillId)), "utf8")).toMatch(/^-----BEGIN SSH SIGNATURE-----/);
    // A second backup, never drilled: the forger claims it passed.
    const b2 = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const undrilled = JSON.parse(b2.stdout).id;

    const store = writerStore(repo);
    const report = (backupId: string, id: string, result: string) =>
      Buffer.from(
        JSON.stringify({
          format: "strongbox/1 drill",
          drill_id: id,
          backup_id: backupId,
          result,
          started_at: new Date().toISOString(),
          finished_at: new Date().toISOString(),
          host: "forger",
          tool_version: "0",
          checks: [],
        }),
      );
    const put = (key: string, body: Buffer) => store.put(key, Readable.from([body]));
    // 1. unsigned "pass" for the undrilled backup, and a "fail" for the real one
    let id = newBackupId(new Date(Date.now() + 1000));
    await put(keys.drill(id), report(undrilled, id, "pass"));
    id = newBackupId(new Date(Date.now() + 1000));
    await put(keys.drill(id), report(real, id, "fail"));
    // 2. a "pass" signed by a key nobody trusts
    const stranger = parsePrivateKey(generateSigningKey("forger").privateKeyText);
    id = newBackupId(new Date(Date.now() + 1000));
    const body = report(undrilled, id, "pass");
    await put(keys.drillSig(id), Buffer.from(signMessage(stranger, DRILL_NAMESPACE, body)));
    await put(keys.drill(id), body);
    // 3. 200 junk reports whose names sort last, written after the real one
    for (let i = 0; i < 200; i++) {
      const jid = `99991231T235959Z-${i.toString(16).padStart(6, "0")}`;
      await put(keys.drill(jid), i % 2 ? Buffer.from("junk") : report(real, jid, "fail"));
    }

    const lj = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
    expect(lj.find((x: { id: string }) => x.id === real).last_drill).toMatchObject({
      result: "pass",
      drill_id: drillId,
    });
    expect(lj.find((x: { id: string }) => x.id === undrilled).last_drill).toBeNull();
    const l = await runCli(["-c", repo.configFile, "list"]);
    expect(l.stdout).toMatch(new RegExp(`^${undrilled} .* -$`, "m"));

    // Without signing (the legacy path) the real result is still found past 200 junk reports sorting last.
    const legacy = repo.write((c) => delete c.signing);
    const ll = JSON.parse((await runCli(["-c", legacy, "--json", "list"])).stdout);
    expect(ll.find((x: { id: string }) => x.id === real).last_drill).not.toBeNull();
  });

  it("migration: an unsigned repository switched to signing keeps its old backups with allow_unsigned_before; later unsigned ones are untrusted", async () => {
    const data = dataDir("legacy");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const legacyCfg = repo.write((c) => delete c.signing);
    const old = await runCli(["-c", legacyCfg, "--json", "backup", "now"]);
    expect(old.code).toBe(0);
    const oldId = JSON.parse(old.stdout).id;
    // The cut-off: just after the store dated the old backup (complete.json's mtime is its storedAt here).
    const cutoff = new Date(
      statSync(join(repo.dir, "repository", keys.complete(oldId))).mtime.getTime() + 1,
    ).toISOString();
    // Wait until the store's clock (a new file's mtime) has reached the cut-off, then forge.
    const probe = join(repo.dir, "clock-probe");
    while ((writeFileSync(probe, ""), statSync(probe).mtime.getTime() < Date.parse(cutoff)))
      await new Promise((r) => setTimeout(r, 5));
    const evil = await forgeBackup(writerStore(repo), repo.recipient, { files: { assets: dataDir("late-forgery") } });
    const migrating = repo.write((c) => (c.signing.allow_unsigned_before = cutoff));
    const lj = JSON.parse((await runCli(["-c", migrating, "--json", "list"])).stdout);
    expect(lj.find((x: { id: string }) => x.id === oldId).untrusted).toBeUndefined();
    expect(lj.find((x: { id: string }) => x.id === oldId).trust_note).toMatch(
      /^unsigned, trusted because the store dated it /,
    );
    expect(lj.find((x: { id: string }) => x.id === evil.id).untrusted).toEqual(["unsigned (no complete.json.sig)"]);
    const out = tempDir("migrated");
    const r = await runCli(["-c", migrating, "restore", "latest", "--to-dir", out]);
    expect(r.stderr).toMatch(
      new RegExp(
        `backup ${oldId}: unsigned, trusted because the store dated it .* before signing\\.allow_unsigned_before`,
      ),
    );
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "assets", "a.txt"), "utf8")).toBe("legacy\n");
    // Without the cut-off, the old unsigned backup is untrusted too: latest finds nothing trusted.
    const strict = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", tempDir("strict")]);
    expect(strict.stderr).toMatch(
      /no trusted complete backup .*\(2 untrusted( backup\(s\) skipped)?: see 'strongbox list'\)/,
    ); // restore latest (a restore point) or resolve('latest')
    expect(strict.code).toBe(1);
  });

  it("copy takes the signature along: the copy is trusted where the key is", async () => {
    const data = dataDir("copied");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    const id = JSON.parse(b.stdout).id;
    const dest = tempDir("signed-copy");
    const c = await runCli(["-c", repo.configFile, "copy", id, "--to", `file://${dest}`]);
    // The manifest, the files object and complete.json (the signature goes along, uncounted).
    expect(c.stdout).toMatch(new RegExp(`^${id}  copied \\(4 objects`)); // manifest, data, complete.json.sig, complete.json
    expect(c.code).toBe(0);
    expect(readFileSync(join(dest, keys.completeSig(id)))).toEqual(
      readFileSync(join(repo.dir, "repository", keys.completeSig(id))),
    );
    const destCfg = repo.write((cfg) => (cfg.repository.url = `file://${dest}`));
    const lj = JSON.parse((await runCli(["-c", destCfg, "--json", "list"])).stdout);
    expect(lj).toMatchObject([{ id, signed_by: expect.stringMatching(/^SHA256:/) }]);
    expect(lj[0].untrusted).toBeUndefined();
  });
});

// issue 22 item 7: doctor checks the passphrase file's mode; keygen --passphrase wants 12 characters
// unless --weak-passphrase.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { identityFindings } from "../../src/commands/doctor-identity.js";
import type { Config } from "../../src/config/schema.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { encryptIdentityText } from "../../src/crypto/identity-file.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("doctor: the passphrase file's mode", () => {
  const dir = tempDir("passfile");
  const cfg = (identity_file: string, identity_passphrase_file: string) =>
    ({
      repository: { url: "file:///x" },
      encryption: { recipients: [], identity_file, identity_passphrase_file },
    }) as unknown as Config;

  it("0644 and 0640 warn (naming who can read it), 0600 and 0400 are ok, a missing one fails", async () => {
    const id = join(dir, "identity.age");
    writeFileSync(id, await encryptIdentityText(generateIdentity().text, "correct horse battery staple"), {
      mode: 0o600,
    });
    const pass = join(dir, "pass.txt");
    writeFileSync(pass, "correct horse battery staple\n");
    const finding = (mode: number) => {
      chmodSync(pass, mode);
      return identityFindings(cfg(id, pass)).find((f) => f.area === "passphrase file");
    };
    expect(finding(0o644)).toEqual({
      area: "passphrase file",
      status: "warn",
      detail: `${pass} mode 644: readable by everyone, who can then decrypt the identity; chmod 600`,
    });
    expect(finding(0o640)).toMatchObject({ status: "warn", detail: expect.stringMatching(/readable by its group/) });
    expect(finding(0o600)).toEqual({ area: "passphrase file", status: "ok", detail: `${pass} mode 600` });
    expect(finding(0o400)).toMatchObject({ status: "ok" });
    expect(identityFindings(cfg(id, join(dir, "missing.txt"))).find((f) => f.area === "passphrase file")).toMatchObject(
      { status: "fail", detail: expect.stringMatching(/missing\.txt: ENOENT/) },
    );
  });

  it("through the CLI: doctor shows the warning for a 0644 passphrase file", async () => {
    const data = tempDir("passfile-data");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const enc = join(repo.dir, "identity.age");
    writeFileSync(
      enc,
      await encryptIdentityText(readFileSync(repo.identityFile, "utf8"), "correct horse battery staple"),
      { mode: 0o600 },
    );
    const pass = join(repo.dir, "pass.txt");
    writeFileSync(pass, "correct horse battery staple\n", { mode: 0o644 });
    chmodSync(pass, 0o644);
    const file = repo.write(
      (c) => ((c.encryption.identity_file = enc), (c.encryption.identity_passphrase_file = pass)),
    );
    const r = await runCli(["-c", file, "doctor"]);
    expect(r.stdout).toMatch(/WARN\s+passphrase file\s+\S+pass\.txt mode 644: readable by everyone/);
  }, 60_000);
});

describe("keygen --passphrase: at least 12 characters, unless --weak-passphrase", () => {
  const dir = tempDir("weakpass");
  it("refuses 1 and 11 characters (exit 2, the passphrase not echoed); takes 12; --weak-passphrase takes 1", async () => {
    for (const p of ["x", "elevenchars"]) {
      const out = join(dir, `short-${p.length}.age`);
      const r = await runCli(["keygen", "--passphrase", "-o", out], { env: { STRONGBOX_IDENTITY_PASSPHRASE: p } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`the passphrase has ${p.length} characters, fewer than 12`);
      expect(r.stderr).toContain("--weak-passphrase");
      if (p.length > 1) expect(r.stderr).not.toContain(p);
      expect(existsSync(out)).toBe(false);
    }
    const ok = await runCli(["keygen", "--passphrase", "-o", join(dir, "twelve.age")], {
      env: { STRONGBOX_IDENTITY_PASSPHRASE: "twelve chars" },
    });
    expect(ok.code, ok.stderr).toBe(0);
    const weak = await runCli(["keygen", "--passphrase", "--weak-passphrase", "-o", join(dir, "weak.age")], {
      env: { STRONGBOX_IDENTITY_PASSPHRASE: "x" },
    });
    expect(weak.code, weak.stderr).toBe(0);
    expect(readFileSync(join(dir, "weak.age"), "latin1")).toMatch(/^age-encryption\.org\/v1\n-> scrypt /);
  }, 60_000);
});

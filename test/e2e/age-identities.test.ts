// keygen --pq / --passphrase, init --pq, mixed X25519 + hybrid recipients refused, passphrase-protected identity files,
// recipient validation at config check, and doctor's identity report — through the real CLI on a local repository.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bech32 } from "@scure/base";
import { describe, expect, it } from "vitest";
import { generatePqIdentity, parseIdentities } from "../../src/crypto/age-keys.js";
import { identityFindings } from "../../src/commands/doctor-identity.js";
import type { Config } from "../../src/config/schema.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const PASS = "correct horse battery staple";

describe("strongbox keygen and init", () => {
  const dir = tempDir("keygen");

  it("keygen stays X25519 by default; --pq writes an AGE-SECRET-KEY-PQ-1 identity with its age1pq1 recipient", async () => {
    const x = await runCli(["keygen", "-o", join(dir, "x.txt")]);
    expect(x.code).toBe(0);
    expect(x.stdout.trim()).toMatch(/^age1[a-z0-9]{58}$/);
    const r = await runCli(["keygen", "--pq", "-o", join(dir, "pq.txt")]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, "pq.txt"), "utf8");
    expect(text).toMatch(/^# created: \S+\n# public key: age1pq1[a-z0-9]+\nAGE-SECRET-KEY-PQ-1[A-Z0-9]+\n$/);
    expect(text).toContain(`# public key: ${r.stdout.trim()}\n`);
    expect(statSync(join(dir, "pq.txt")).mode & 0o777).toBe(0o600);
    expect(parseIdentities(text)[0].kind).toBe("pq-hybrid");
  });

  it("keygen --passphrase refuses without a passphrase source (exit 2), and writes an age scrypt file with one", async () => {
    const none = await runCli(["keygen", "--passphrase", "-o", join(dir, "none.age")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/STRONGBOX_IDENTITY_PASSPHRASE/);
    const r = await runCli(["keygen", "--passphrase", "-o", join(dir, "enc.age")], {
      env: { STRONGBOX_IDENTITY_PASSPHRASE: PASS },
    });
    expect(r.code).toBe(0);
    const bytes = readFileSync(join(dir, "enc.age"));
    expect(bytes.toString("latin1")).toMatch(/^age-encryption\.org\/v1\n-> scrypt /);
    expect(bytes.includes("AGE-SECRET-KEY")).toBe(false);
  }, 60_000);

  it("init --pq writes a config whose recipient is the hybrid one", async () => {
    const d = join(tempDir("init"), "pq");
    const r = await runCli(["init", d, "--pq"]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, "strongbox.yaml"), "utf8")).toMatch(/recipients: \[age1pq1[a-z0-9]+\]/);
    expect(readFileSync(join(d, "strongbox-identity.txt"), "utf8")).toMatch(/\nAGE-SECRET-KEY-PQ-1/);
    expect((await runCli(["-c", join(d, "strongbox.yaml"), "config", "check"])).code).toBe(0);
  });
});

describe("recipients at config check", () => {
  const data = tempDir("data");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });

  it("a low-order X25519 recipient is a config error naming its path (exit 2)", async () => {
    const zero = bech32.encode("age", bech32.toWords(new Uint8Array(32)), false);
    const file = repo.write((c) => (c.encryption.recipients = [repo.recipient, zero]));
    const r = await runCli(["-c", file, "config", "check"]);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/encryption\.recipients\.?\[?1\]?.*low-order/);
  });
});

describe("a backup to two hybrid recipients, restored with either, or with a passphrase-protected identity", async () => {
  const data = tempDir("data");
  writeFileSync(join(data, "a.txt"), "post-quantum\n".repeat(1000));
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  const pq = await generatePqIdentity();
  const pq2 = await generatePqIdentity();
  const pqFile = join(repo.dir, "pq.txt");
  writeFileSync(pqFile, pq.text, { mode: 0o600 });
  const pq2File = join(repo.dir, "pq2.txt");
  writeFileSync(pq2File, pq2.text, { mode: 0o600 });
  const two = repo.write(
    (c) => ((c.encryption.recipients = [pq.recipient, pq2.recipient]), (c.encryption.identity_file = pqFile)),
  );
  let id = "";

  it("X25519 and hybrid recipients mixed: backup refuses the config (exit 2)", async () => {
    const r = await runCli([
      "-c",
      repo.write((c) => (c.encryption.recipients = [repo.recipient, pq.recipient])),
      "backup",
      "now",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mixes post-quantum/);
  });

  it("backs up to both recipients", async () => {
    const r = await runCli(["-c", two, "backup", "now"]);
    expect(r.code).toBe(0);
    id = /^\S+/.exec(r.stdout)![0];
    expect(id).not.toBe("");
  });

  it("verifies with either hybrid identity", async () => {
    for (const cfg of [
      two,
      repo.write(
        (c) => ((c.encryption.recipients = [pq.recipient, pq2.recipient]), (c.encryption.identity_file = pq2File)),
      ),
    ]) {
      const r = await runCli(["-c", cfg, "verify", id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${id}  OK`);
    }
  });

  it("verifies with a passphrase-protected hybrid identity (file or environment); without the passphrase exit 2, wrong one exit 1", async () => {
    const enc = join(repo.dir, "pq.age");
    const k = await runCli(["keygen", "--pq", "--passphrase", "-o", enc], {
      env: { STRONGBOX_IDENTITY_PASSPHRASE: PASS },
    });
    expect(k.code).toBe(0);
    const passFile = join(repo.dir, "pass.txt");
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
    const cfg = (withFile: boolean) =>
      repo.write((c) => {
        c.encryption.recipients = [k.stdout.trim()];
        c.encryption.identity_file = enc;
        if (withFile) c.encryption.identity_passphrase_file = passFile;
      });
    const mine = await runCli(["-c", cfg(false), "backup", "now"]);
    expect(mine.code).toBe(0);
    const mid = /^\S+/.exec(mine.stdout)![0];
    const viaFile = await runCli(["-c", cfg(true), "verify", mid]);
    expect(viaFile.code).toBe(0);
    expect(viaFile.stdout).toContain(`${mid}  OK`);
    const viaEnv = await runCli(["-c", cfg(false), "verify", mid], { env: { STRONGBOX_IDENTITY_PASSPHRASE: PASS } });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout).toContain(`${mid}  OK`);
    const missing = await runCli(["-c", cfg(false), "verify", mid]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/passphrase-protected/);
    const wrong = await runCli(["-c", cfg(false), "verify", mid], { env: { STRONGBOX_IDENTITY_PASSPHRASE: "not it" } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong passphrase/);
    expect(wrong.stderr).not.toContain("not it");
  }, 120_000);
});

describe("doctor's identity report", () => {
  const dir = tempDir("doctor-id");
  const base = (identity_file: string, roles: string[]) =>
    ({
      repository: {
        url: "s3://b/p",
        s3: { credentials: Object.fromEntries(roles.map((r) => [r, { access_key_id: "k", secret_access_key: "s" }])) },
      },
      encryption: { recipients: [], identity_file },
    }) as unknown as Config;

  it("names the kind and warns about a plaintext identity on a writer-only host", async () => {
    const pq = await generatePqIdentity();
    writeFileSync(join(dir, "pq.txt"), pq.text, { mode: 0o600 });
    const w = identityFindings(base(join(dir, "pq.txt"), ["writer"]));
    expect(w).toContainEqual({ area: "identity kind", status: "ok", detail: "pq-hybrid" });
    expect(w.some((f) => f.status === "warn" && /only writer credentials/.test(f.detail))).toBe(true);
    const all = identityFindings(base(join(dir, "pq.txt"), ["writer", "reader"]));
    expect(all.some((f) => /only writer credentials/.test(f.detail))).toBe(false);
    writeFileSync(join(dir, "enc.age"), "age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 18\nAAAA\n--- x\n", {
      mode: 0o600,
    });
    const enc = identityFindings(base(join(dir, "enc.age"), ["writer"]));
    expect(enc).toContainEqual({ area: "identity kind", status: "ok", detail: "passphrase-protected" });
    expect(enc.some((f) => /only writer credentials/.test(f.detail))).toBe(false);
  });
});

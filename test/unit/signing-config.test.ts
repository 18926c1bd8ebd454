// The `signing` config section (schema errors with their paths) and doctor's signing findings.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { signingFindings } from "../../src/commands/doctor-signing.js";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { trustPolicy } from "../../src/crypto/signing.js";
import { formatPublicKeyLine, generateSigningKey } from "../../src/crypto/ssh-signature.js";
import { tempDir } from "../helpers/cli.js";

const dir = tempDir("signing-config");
const recipient = generateIdentity().recipient;
const key = generateSigningKey();
const keyFile = join(dir, "signing.key");
writeFileSync(keyFile, key.privateKeyText, { mode: 0o600 });
const base = (signing: unknown) =>
  stringify({
    version: 1,
    repository: { url: `file://${dir}/repo` },
    encryption: { recipients: [recipient] },
    sources: [{ name: "f", type: "files", path: dir }],
    ...(signing === undefined ? {} : { signing }),
  });
const issues = (signing: unknown): string[] => {
  try {
    parseConfig(base(signing), {});
    return [];
  } catch (err) {
    return (err as { issues: string[] }).issues;
  }
};

describe("signing config", () => {
  it("accepts a key file, trusted keys with periods and a migration cut-off; no section means no policy", () => {
    const cfg = parseConfig(
      base({
        key_file: keyFile,
        trusted: [
          {
            key: formatPublicKeyLine(key.publicKey),
            valid_after: "2026-01-01T00:00:00Z",
            valid_before: "2027-01-01T00:00:00.5Z",
          },
        ],
        allow_unsigned_before: "2026-12-05T00:00:00Z",
      }),
      {},
    );
    const p = trustPolicy(cfg)!;
    expect(p.keys[0].key.fingerprint).toBe(key.publicKey.fingerprint);
    expect(p.keys[0].validBefore!.toISOString()).toBe("2027-01-01T00:00:00.500Z");
    expect(p.allowUnsignedBefore!.toISOString()).toBe("2026-12-05T00:00:00.000Z");
    expect(trustPolicy(parseConfig(base(undefined), {}))).toBeUndefined();
    expect(trustPolicy(parseConfig(base({ key_file: keyFile }), {}))).toBeUndefined();
  });

  it("names each problem with its path", () => {
    expect(issues({ trusted: [{ key: "ssh-rsa AAAAB3NzaC1yc2E" }] })).toEqual([
      expect.stringMatching(
        /^signing\.trusted\[0\]\.key: is not an Ed25519 SSH public key: key type ssh-rsa is not ssh-ed25519/,
      ),
    ]);
    expect(issues({ trusted: [{ key: "age1abc" }] })).toEqual([
      expect.stringMatching(/^signing\.trusted\[0\]\.key: is not an Ed25519 SSH public key/),
    ]);
    expect(
      issues({
        trusted: [
          { key: key.publicKey.line, valid_after: "2027-01-01T00:00:00Z", valid_before: "2026-01-01T00:00:00Z" },
        ],
      }),
    ).toEqual(["signing.trusted[0]: valid_after must be before valid_before"]);
    expect(issues({ trusted: [{ key: key.publicKey.line, valid_before: "next year" }] })).toEqual([
      expect.stringMatching(/^signing\.trusted\[0\]\.valid_before: valid_before must be an ISO 8601 UTC time/),
    ]);
    expect(issues({ allow_unsigned_before: "2026-12-05" })).toEqual([
      expect.stringMatching(/^signing\.allow_unsigned_before: /),
    ]);
    expect(issues({ trusted: [{ key: key.publicKey.line, comment: "x" }] })).toEqual([
      "signing.trusted[0].comment: unknown key",
    ]);
    expect(issues({ keyfile: "/x" })).toEqual(["signing.keyfile: unknown key"]);
  });
});

describe("doctor: signing findings", () => {
  it("warns without signing, fails on an unreadable key, warns on mode and on an untrusted own key", () => {
    const find = (signing: unknown) =>
      signingFindings(parseConfig(base(signing), {})).map((f) => `${f.area}: ${f.status}: ${f.detail}`);
    expect(find(undefined)).toEqual([expect.stringMatching(/^signing: warn: not configured: backups are not signed/)]);
    expect(find({ key_file: keyFile, trusted: [{ key: key.publicKey.line }] })).toEqual([
      expect.stringMatching(/^signing: ok: trusts SHA256:/),
      expect.stringMatching(/^signing key: ok: .* mode 600; SHA256:/),
    ]);
    const other = generateSigningKey().publicKey.line;
    expect(find({ key_file: keyFile, trusted: [{ key: other }] })[2]).toMatch(
      /^signing key: warn: .* is not in signing\.trusted/,
    );
    expect(
      find({ key_file: keyFile, trusted: [{ key: key.publicKey.line, valid_before: "2020-01-01T00:00:00Z" }] })[0],
    ).toMatch(/^signing: warn: .*\(expired\): none is valid now/);
    expect(find({ key_file: join(dir, "missing.key") })).toEqual([
      expect.stringMatching(/^signing: warn: signing\.trusted is empty/),
      expect.stringMatching(/^signing key: fail: .*missing\.key: ENOENT/),
    ]);
    const loose = join(dir, "loose.key");
    writeFileSync(loose, key.privateKeyText);
    chmodSync(loose, 0o644);
    expect(find({ key_file: loose, trusted: [{ key: key.publicKey.line }] })[1]).toMatch(
      /^signing key: warn: .*mode 644: readable by others, chmod 600/,
    );
    const junk = join(dir, "junk.key");
    writeFileSync(junk, "AGE-SECRET-KEY-1XYZ\n", { mode: 0o600 });
    expect(find({ key_file: junk, trusted: [{ key: key.publicKey.line }] })[1]).toMatch(
      /^signing key: fail: signing\.key_file: .*junk\.key: not an OpenSSH private key/,
    );
  });
});

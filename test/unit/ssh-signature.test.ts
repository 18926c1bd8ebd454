// SSHSIG with Ed25519 from node:crypto: the format unit by unit, and interop both ways with the
// standard tool (ssh-keygen -Y sign / -Y verify, ssh-keygen -y for the key file).
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BACKUP_NAMESPACE,
  dearmor,
  DRILL_NAMESPACE,
  formatPublicKeyLine,
  generateSigningKey,
  MAX_SIGNATURE_BYTES,
  armor,
  parsePrivateKey,
  parsePublicKeyLine,
  parseSignature,
  signMessage,
  verifyMessage,
} from "../../src/crypto/ssh-signature.js";
import { tempDir } from "../helpers/cli.js";

const hasSshKeygen = spawnSync("ssh-keygen", ["-?"]).error === undefined;

function sshVerify(
  dir: string,
  publicLine: string,
  namespace: string,
  sigFile: string,
  dataFile: string,
): { code: number; out: string } {
  writeFileSync(join(dir, "allowed_signers"), `strongbox namespaces="${namespace}" ${publicLine}\n`);
  const r = spawnSync(
    "sh",
    ["-c", `ssh-keygen -Y verify -f allowed_signers -I strongbox -n ${namespace} -s '${sigFile}' < '${dataFile}'`],
    { cwd: dir, encoding: "utf8" },
  );
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("SSH signatures (SSHSIG, Ed25519)", () => {
  it("signs and verifies; the signer's key and fingerprint come back", () => {
    const g = generateSigningKey();
    const key = parsePrivateKey(g.privateKeyText);
    expect(key.publicKey.line).toBe(g.publicKey.line);
    expect(formatPublicKeyLine(g.publicKey)).toMatch(
      /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} strongbox-signing$/,
    );
    const msg = Buffer.from('{"id":"x"}\n');
    const sig = signMessage(key, BACKUP_NAMESPACE, msg);
    expect(sig).toMatch(/^-----BEGIN SSH SIGNATURE-----\n[\s\S]+\n-----END SSH SIGNATURE-----\n$/);
    expect(verifyMessage(sig, BACKUP_NAMESPACE, msg).fingerprint).toBe(g.publicKey.fingerprint);
  });

  it("refuses other bytes, another namespace, a flipped bit, trailing data, junk and oversize", () => {
    const key = parsePrivateKey(generateSigningKey().privateKeyText);
    const msg = Buffer.from("the exact bytes");
    const sig = signMessage(key, BACKUP_NAMESPACE, msg);
    expect(() => verifyMessage(sig, BACKUP_NAMESPACE, Buffer.from("the exact bytes!"))).toThrow(
      /does not match these bytes/,
    );
    expect(() => verifyMessage(sig, DRILL_NAMESPACE, msg)).toThrow(/namespace strongbox-backup, not strongbox-drill/);
    const blob = dearmor(sig);
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 5] ^= 1;
    expect(() => verifyMessage(armor(flipped), BACKUP_NAMESPACE, msg)).toThrow(/does not match/);
    expect(() => verifyMessage(armor(Buffer.concat([blob, Buffer.from([0])])), BACKUP_NAMESPACE, msg)).toThrow(
      /trailing/,
    );
    expect(() => verifyMessage(armor(blob.subarray(0, blob.length - 10)), BACKUP_NAMESPACE, msg)).toThrow(/truncated/);
    expect(() => verifyMessage("hello", BACKUP_NAMESPACE, msg)).toThrow(/not an armored SSH signature/);
    expect(() => verifyMessage(Buffer.alloc(MAX_SIGNATURE_BYTES + 1, 65), BACKUP_NAMESPACE, msg)).toThrow(
      /more than 16384/,
    );
    expect(() =>
      verifyMessage("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n", BACKUP_NAMESPACE, msg),
    ).toThrow(/malformed base64/);
    // A length field claiming 4 GiB is refused by its bound, not allocated.
    const huge = Buffer.concat([Buffer.from("SSHSIG"), Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])]);
    expect(() => parseSignature(armor(huge))).toThrow(/public key is 4294967295 bytes, more than 1024/);
  });

  it("parses public key lines strictly", () => {
    const g = generateSigningKey("host-a");
    expect(parsePublicKeyLine(`  ${g.publicKey.line}   host-a  `).fingerprint).toBe(g.publicKey.fingerprint);
    expect(() => parsePublicKeyLine("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ")).toThrow(/not ssh-ed25519/);
    expect(() => parsePublicKeyLine("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==")).toThrow(/truncated|32 bytes/);
    expect(() => parsePublicKeyLine("age1xyz")).toThrow(/not an SSH public key line/);
  });

  it("refuses a passphrase-protected, foreign or corrupt private key with a message that holds no key material", () => {
    const g = generateSigningKey();
    const body = g.privateKeyText.split("\n").slice(1, -2).join("");
    const bad = Buffer.from(body, "base64");
    bad[bad.length - 69] ^= 0xff; // inside the private seed (before the 17-byte comment and the padding)
    const text = `-----BEGIN OPENSSH PRIVATE KEY-----\n${bad.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`;
    expect(() => parsePrivateKey(text)).toThrow(/OpenSSH private key: /);
    expect(() => parsePrivateKey("AGE-SECRET-KEY-1XYZ")).toThrow(/not an OpenSSH private key/);
    try {
      parsePrivateKey(text);
    } catch (err) {
      expect((err as Error).message).not.toContain(body.slice(20, 40));
    }
  });

  describe.skipIf(!hasSshKeygen)("interop with ssh-keygen", () => {
    it("ssh-keygen -y reads the key file strongbox writes, and -Y verify accepts strongbox's signature", () => {
      const dir = tempDir("sshsig");
      const g = generateSigningKey();
      writeFileSync(join(dir, "key"), g.privateKeyText, { mode: 0o600 });
      expect(execFileSync("ssh-keygen", ["-y", "-f", join(dir, "key")], { encoding: "utf8" }).trim()).toBe(
        formatPublicKeyLine(g.publicKey),
      );
      const msg = Buffer.from('{"format":"strongbox/1"}\n');
      writeFileSync(join(dir, "complete.json"), msg);
      writeFileSync(
        join(dir, "complete.json.sig"),
        signMessage(parsePrivateKey(g.privateKeyText), BACKUP_NAMESPACE, msg),
      );
      const ok = sshVerify(dir, g.publicKey.line, BACKUP_NAMESPACE, "complete.json.sig", "complete.json");
      expect(ok.out).toMatch(/Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/);
      expect(ok.out).toContain(g.publicKey.fingerprint);
      expect(ok.code).toBe(0);
      // The same signature under the drill namespace, or over other bytes, fails by hand too.
      expect(sshVerify(dir, g.publicKey.line, DRILL_NAMESPACE, "complete.json.sig", "complete.json").code).not.toBe(0);
      writeFileSync(join(dir, "other.json"), "{}\n");
      expect(sshVerify(dir, g.publicKey.line, BACKUP_NAMESPACE, "complete.json.sig", "other.json").code).not.toBe(0);
    });

    it("strongbox verifies what ssh-keygen -Y sign makes, with a key ssh-keygen generated", () => {
      const dir = tempDir("sshsig");
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ops@example.org", "-f", join(dir, "id")]);
      const key = parsePrivateKey(readFileSync(join(dir, "id"), "utf8"));
      expect(formatPublicKeyLine(key.publicKey)).toBe(readFileSync(join(dir, "id.pub"), "utf8").trim());
      expect(execFileSync("ssh-keygen", ["-l", "-f", join(dir, "id.pub")], { encoding: "utf8" })).toContain(
        key.publicKey.fingerprint,
      );
      const msg = Buffer.from("drill report bytes\n");
      writeFileSync(join(dir, "r.json"), msg);
      execFileSync(
        "ssh-keygen",
        ["-q", "-Y", "sign", "-f", join(dir, "id"), "-n", DRILL_NAMESPACE, join(dir, "r.json")],
        { stdio: "ignore" },
      );
      const sig = readFileSync(join(dir, "r.json.sig"));
      expect(verifyMessage(sig, DRILL_NAMESPACE, msg).line).toBe(key.publicKey.line);
      expect(() => verifyMessage(sig, BACKUP_NAMESPACE, msg)).toThrow(/namespace/);
      // ... and strongbox's own signature with that ssh-keygen key verifies by hand.
      writeFileSync(join(dir, "r.json.sig2"), signMessage(key, DRILL_NAMESPACE, msg));
      expect(sshVerify(dir, key.publicKey.line, DRILL_NAMESPACE, "r.json.sig2", "r.json").code).toBe(0);
    });

    it("reads a PKCS#8 Ed25519 key too (openssl genpkey)", () => {
      const { privateKey } = generateKeyPairSync("ed25519");
      const k = parsePrivateKey(privateKey.export({ format: "pem", type: "pkcs8" }) as string);
      expect(
        verifyMessage(signMessage(k, BACKUP_NAMESPACE, Buffer.from("x")), BACKUP_NAMESPACE, Buffer.from("x")).line,
      ).toBe(k.publicKey.line);
    });
  });
});

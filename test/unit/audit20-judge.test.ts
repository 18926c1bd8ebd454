// Audit of issue 20: a forger who only ADDS an object (a junk complete.json.sig next to an old,
// unsigned backup that allow_unsigned_before trusts) must not turn that backup untrusted: the
// migration cut-off trusts complete.json by the store's time, whatever signature appears later.
import { describe, expect, it } from "vitest";
import { judge } from "../../src/crypto/signing.js";
import { BACKUP_NAMESPACE, generateSigningKey, parsePrivateKey, signMessage } from "../../src/crypto/ssh-signature.js";

const trusted = parsePrivateKey(generateSigningKey().privateKeyText);
const stranger = parsePrivateKey(generateSigningKey().privateKeyText);
const policy = { keys: [{ key: trusted.publicKey }], allowUnsignedBefore: new Date("2026-12-01T00:00:00Z") };
const message = Buffer.from('{"id":"old"}');
const before = new Date("2026-11-01T00:00:00Z");
const after = new Date("2026-12-02T00:00:00Z");
const junk = Buffer.from("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n");
const foreign = Buffer.from(signMessage(stranger, BACKUP_NAMESPACE, message));
const o = (signature: Buffer | number, storedAt: Date) => ({
  sigName: "complete.json.sig",
  namespace: BACKUP_NAMESPACE,
  message,
  signature,
  storedAt,
});

describe("audit20: allow_unsigned_before and a signature added later", () => {
  it("a junk, oversized or foreign signature next to a complete.json stored before the cut-off leaves it trusted, with a note naming the signature's problem", () => {
    for (const signature of [junk, 20_000, foreign]) {
      const v = judge(policy, o(signature, before));
      expect(v.trusted).toBe(true);
      expect(v.note).toMatch(/before signing\.allow_unsigned_before/);
      expect(v.note).toMatch(/complete\.json\.sig/);
    }
  });
  it("after the cut-off a bad signature is still untrusted; a valid one names its signer, before or after", () => {
    for (const signature of [junk, 20_000, foreign]) expect(judge(policy, o(signature, after)).trusted).toBe(false);
    const good = Buffer.from(signMessage(trusted, BACKUP_NAMESPACE, message));
    for (const at of [before, after])
      expect(judge(policy, o(good, at))).toMatchObject({ trusted: true, signer: expect.stringMatching(/^SHA256:/) });
  });
});

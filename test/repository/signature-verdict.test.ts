// The trust verdict on forged and real signatures, case by case: what listBackups() reports for a
// backup with a valid complete.json and each kind of complete.json.sig (or none), and what an explicit
// id (checkTrusted) does with it. The forger here has write access and the public recipient only.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { trustPolicy, type TrustPolicy } from "../../src/crypto/signing.js";
import {
  BACKUP_NAMESPACE,
  DRILL_NAMESPACE,
  generateSigningKey,
  parsePrivateKey,
  signMessage,
  type SigningKey,
} from "../../src/crypto/ssh-signature.js";
import { keys } from "../../src/repository/layout.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";

const newKey = (comment = "strongbox-signing"): SigningKey =>
  parsePrivateKey(generateSigningKey(comment).privateKeyText);

function policy(
  trusted: { key: SigningKey; valid_after?: string; valid_before?: string }[],
  allow_unsigned_before?: string,
): TrustPolicy {
  return trustPolicy({
    signing: {
      trusted: trusted.map((t) => ({
        key: `${t.key.publicKey.line} ${t.key.publicKey.comment}`,
        valid_after: t.valid_after,
        valid_before: t.valid_before,
      })),
      ...(allow_unsigned_before ? { allow_unsigned_before } : {}),
    },
  } as never)!;
}

describe("signature verdicts (complete.json.sig) in listBackups and for explicit ids", async () => {
  const data = tempDir("verdict-data");
  writeFileSync(join(data, "a.txt"), "real data\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  const root = join(repo.dir, "repository");
  const store = writerStore(repo);
  const good = newKey();
  const stranger = newKey("forger");
  const completeBytes = (id: string) => readFileSync(join(root, keys.complete(id)));
  const putSig = (id: string, sig: string | Buffer) =>
    store.put(keys.completeSig(id), Readable.from([Buffer.from(sig)]));

  // One backup per case, each with a valid complete.json; only the signature differs.
  const forge = async (seconds: number) =>
    (
      await forgeBackup(store, repo.recipient, {
        files: { assets: data },
        started: new Date(Date.UTC(2026, 10, 1, 0, 0, seconds)),
      })
    ).id;
  const cases: { name: string; id: string; expect: RegExp | "trusted" }[] = [];
  const add = async (name: string, sign: (id: string) => Promise<unknown> | unknown, expected: RegExp | "trusted") => {
    const id = await forge(cases.length);
    await sign(id);
    cases.push({ name, id, expect: expected });
  };
  await add(
    "valid signature by a trusted key",
    (id) => putSig(id, signMessage(good, BACKUP_NAMESPACE, completeBytes(id))),
    "trusted",
  );
  await add("unsigned", () => {}, /^unsigned \(no complete\.json\.sig\)$/);
  await add(
    "garbage signature",
    (id) => putSig(id, "this is not a signature\n"),
    /^complete\.json\.sig: signature is not an armored SSH signature/,
  );
  await add(
    "truncated signature",
    (id) =>
      putSig(
        id,
        signMessage(good, BACKUP_NAMESPACE, completeBytes(id)).slice(0, 200) + "\n-----END SSH SIGNATURE-----\n",
      ),
    /^complete\.json\.sig: signature: (truncated|malformed base64)/,
  );
  await add(
    "oversized signature (not read)",
    (id) => putSig(id, Buffer.alloc(17 * 1024, "A")),
    /^complete\.json\.sig: 17408 bytes, more than a signature may have \(16384\); not read$/,
  );
  await add(
    "wrong namespace (a drill report's signature)",
    (id) => putSig(id, signMessage(good, DRILL_NAMESPACE, completeBytes(id))),
    /^complete\.json\.sig: signature is for namespace strongbox-drill, not strongbox-backup$/,
  );
  const other = cases[0].id;
  await add("another backup's signature, replayed", () => {}, /does not match these bytes/);
  writeFileSync(
    join(root, keys.completeSig(cases[cases.length - 1].id)),
    readFileSync(join(root, keys.completeSig(other))),
  );
  await add(
    "signed by a key not trusted",
    (id) => putSig(id, signMessage(stranger, BACKUP_NAMESPACE, completeBytes(id))),
    new RegExp(
      `^complete\\.json\\.sig: signed by ${stranger.publicKey.fingerprint.replace(/[+/]/g, "\\$&")}, which is not a trusted key`,
    ),
  );
  await add(
    "signed over other bytes (complete.json changed after signing)",
    async (id) => {
      await putSig(id, signMessage(good, BACKUP_NAMESPACE, completeBytes(id)));
      const c = JSON.parse(completeBytes(id).toString());
      c.host = "changed";
      writeFileSync(join(root, keys.complete(id)), JSON.stringify(c, null, 2) + "\n");
    },
    /^complete\.json\.sig: signature by SHA256:\S+ does not match these bytes$/,
  );

  it("each case gets its verdict and precise reason; the valid one names its signer", async () => {
    const listing = await new Repository(new LocalDirStore(root), { trust: policy([{ key: good }]) }).listBackups();
    for (const c of cases) {
      const b = listing.find((x) => x.id === c.id)!;
      expect(b.complete, c.name).not.toBeNull();
      if (c.expect === "trusted") {
        expect(b.untrusted, c.name).toBeUndefined();
        expect(b.signedBy, c.name).toBe(`${good.publicKey.fingerprint} (strongbox-signing)`);
      } else {
        expect(b.untrusted, c.name).toHaveLength(1);
        expect(b.untrusted![0], c.name).toMatch(c.expect);
      }
    }
  });

  it("an explicit id of an untrusted backup is refused (VERIFY) naming the reason; allowUntrusted lets it through with a warning", async () => {
    const r = new Repository(new LocalDirStore(root), { trust: policy([{ key: good }]) });
    const unsigned = cases.find((c) => c.name === "unsigned")!.id;
    await expect(r.resolve(unsigned)).rejects.toMatchObject({
      code: "VERIFY",
      message: expect.stringMatching(
        new RegExp(`^backup ${unsigned} is untrusted: unsigned \\(no complete\\.json\\.sig\\).*--allow-unsigned`),
      ),
    });
    const warnings: string[] = [];
    expect((await r.resolve(unsigned, [], { allowUntrusted: true, warn: (m) => warnings.push(m) })).id).toBe(unsigned);
    expect(warnings).toEqual([
      expect.stringMatching(/^--allow-unsigned: using backup \S+ although it is UNTRUSTED \(unsigned/),
    ]);
    // latest is the newest trusted backup, never an untrusted newer one.
    expect((await r.resolve("latest")).id).toBe(cases[0].id);
  });

  it("key validity is judged at the store's time of complete.json, not the time the backup claims", async () => {
    const id = cases[0].id; // claims 2026-11-01, stored today
    const past = new Date(Date.now() - 86400_000).toISOString();
    const future = new Date(Date.now() + 86400_000).toISOString();
    const expired = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: good, valid_before: past }]),
    }).listBackups(id);
    expect(expired[0].untrusted).toEqual([
      expect.stringMatching(
        /^complete\.json\.sig: signed by SHA256:\S+ \(strongbox-signing\), which is trusted only from … to .*; the store dated it /,
      ),
    ]);
    const notYet = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: good, valid_after: future }]),
    }).listBackups(id);
    expect(notYet[0].untrusted?.[0]).toMatch(/trusted only from/);
    // Rotation: an old key with a closed period and the new one open; the old key's period covers today.
    const rotated = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: stranger }, { key: good, valid_after: past, valid_before: future }]),
    }).listBackups(id);
    expect(rotated[0].untrusted).toBeUndefined();
  });

  it("allow_unsigned_before trusts an unsigned backup the store dated before it, with a note; a later cut-off only", async () => {
    const unsigned = cases.find((c) => c.name === "unsigned")!.id;
    const later = new Date(Date.now() + 60_000).toISOString();
    const earlier = new Date(Date.now() - 3600_000).toISOString();
    const [migrated] = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: good }], later),
    }).listBackups(unsigned);
    expect(migrated.untrusted).toBeUndefined();
    expect(migrated.trustNote).toMatch(
      /^unsigned, trusted because the store dated it .*before signing\.allow_unsigned_before/,
    );
    const [after] = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: good }], earlier),
    }).listBackups(unsigned);
    expect(after.untrusted).toEqual(["unsigned (no complete.json.sig)"]);
    // A bad signature next to a complete.json the store dated after the cut-off is never excused;
    // before it, the cut-off trusts complete.json by its store time, and a junk .sig (which a forger
    // can ADD, no overwrite needed) only earns a note.
    const garbage = cases.find((c) => c.name === "garbage signature")!.id;
    expect(
      (
        await new Repository(new LocalDirStore(root), { trust: policy([{ key: good }], earlier) }).listBackups(garbage)
      )[0].untrusted,
    ).toHaveLength(1);
    const [excused] = await new Repository(new LocalDirStore(root), {
      trust: policy([{ key: good }], later),
    }).listBackups(garbage);
    expect(excused.untrusted).toBeUndefined();
    expect(excused.trustNote).toMatch(
      /before signing\.allow_unsigned_before.*its signature does not hold \(complete\.json\.sig: /,
    );
  });

  it("without a signing policy nothing is judged: every complete backup is trusted, as before signing existed", async () => {
    const listing = await new Repository(new LocalDirStore(root)).listBackups();
    expect(listing.filter((b) => b.untrusted)).toEqual([]);
    expect(listing.filter((b) => b.complete)).toHaveLength(cases.length);
  });
});

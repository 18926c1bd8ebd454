// Signed WAL against a forger who holds only the writer's powers (put objects, know the recipients),
// signing configured: whatever the forger adds under wal/, `wal fetch` (what recovery replays) never
// returns it, and verify's WAL walk reaches the same verdict as fetch, case by case.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseIdentities } from "../../src/crypto/age-keys.js";
import type { TrustPolicy } from "../../src/crypto/signing.js";
import { generateSigningKey, parsePrivateKey, parsePublicKeyLine } from "../../src/crypto/ssh-signature.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { verifyWal } from "../../src/wal/gap.js";
import { parseWalName } from "../../src/wal/names.js";
import { signWal } from "../../src/wal/signature.js";
import { tempDir } from "../helpers/cli.js";
import { encryptTo } from "../helpers/forge-store.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";
import { makeDataDir, makeSegment, segName, sha256, SEG, SYSID } from "../helpers/wal-craft.js";

const stranger = parsePrivateKey(generateSigningKey("stranger").privateKeyText);

/** One cluster (its own system id) archiving segments 3..5 of timeline 1 with the signing key. */
async function scenario(n: number) {
  const { repo, publicKey } = await signedRepo({
    sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_REPLICATION_URL}" }],
  });
  const sysid = SYSID + BigInt(n);
  const sys = sysid.toString();
  const pushConfig = repo.write((c) => {
    delete c.encryption.identity_file;
    c.state_dir = tempDir("walstate");
  });
  const data = makeDataDir(tempDir("pgdata"), sysid);
  const root = join(repo.dir, "repository");
  const push = async (name: string, body: Buffer, config = pushConfig) => {
    writeFileSync(join(data, "pg_wal", name), body);
    return runCli(["-c", config, "wal", "push", `pg_wal/${name}`], { cwd: data });
  };
  const real = new Map<number, Buffer>();
  for (const segno of [3, 4, 5]) {
    const seg = makeSegment({ sysid, tli: 1, segno });
    real.set(segno, seg);
    expect(await push(segName(1, segno), seg)).toMatchObject({ code: 0, stderr: "" });
  }
  let fetched = 0;
  const policy: TrustPolicy = { keys: [{ key: parsePublicKeyLine(publicKey) }] };
  return {
    repo,
    sys,
    data,
    real,
    push,
    pushConfig,
    /** Stores `plain` under `key` (relative to wal/<sysid>/) as the forger can: encrypted to the recipient. */
    async forge(rel: string, plain: Buffer) {
      const path = join(root, "wal", sys, rel);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, await encryptTo(repo.recipient, plain));
      return `wal/${sys}/${rel}`;
    },
    async fetch(name: string) {
      const dest = `pg_wal/FETCHED-${fetched++}`;
      const r = await runCli(["-c", repo.configFile, "wal", "fetch", name, dest], { cwd: data });
      const path = join(data, dest);
      return { ...r, bytes: existsSync(path) ? readFileSync(path) : undefined };
    },
    /** verify's WAL walk from segment 3, as verify runs it with this config's trust policy. */
    async verify() {
      const identities = parseIdentities(readFileSync(repo.identityFile, "utf8"));
      return verifyWal(new LocalDirStore(root), identities, {
        systemId: sys,
        start: { timeline: 1, lsn: 3n * BigInt(SEG) + 0x28n },
        segmentSize: SEG,
        deep: true,
        policy,
      }).then(
        (r) => ({ ok: true as const, ...r }),
        (err: unknown) => ({ ok: false as const, message: (err as Error).message }),
      );
    },
    keys: () =>
      (readdirSync(join(root, "wal", sys), { recursive: true }) as string[]).filter((p) => p.endsWith(".age")),
  };
}

/** A key under wal/<sysid>/ (its timeline directory is the name's first 8 digits) carrying `sig`. */
const signedKey = (name: string, plain: Buffer, sig: string) =>
  `${name.slice(0, 8)}/${name}.${sha256(plain)}.${sig}.age`;
const strangerSig = (sys: string, name: string, plain: Buffer) =>
  signWal(stranger, sys, parseWalName(name)!, sha256(plain));

describe("signed WAL: what a writer-key forger adds is never replayed, and verify agrees with fetch", () => {
  const past = segName(1, 6);
  const cases: [string, (s: Awaited<ReturnType<typeof scenario>>, seg: Buffer) => Promise<string[]>][] = [
    [
      "an unsigned (legacy-form) segment past the newest",
      async (s, seg) => [await s.forge(`00000001/${past}.${sha256(seg)}.age`, seg)],
    ],
    [
      "a segment past the newest signed by an untrusted key",
      async (s, seg) => [await s.forge(signedKey(past, seg, strangerSig(s.sys, past, seg)), seg)],
    ],
    [
      "a well-formed signature that is not over these bytes",
      async (s, seg) => [await s.forge(signedKey(past, seg, randomBytes(64).toString("hex")), seg)],
    ],
    [
      "a garbage and an over-long signature part",
      async (s, seg) => [
        await s.forge(`00000001/${past}.${sha256(seg)}.${"zz".repeat(64)}.age`, seg),
        await s.forge(`00000001/${past}.${sha256(seg)}.${"ab".repeat(65)}.age`, seg),
      ],
    ],
  ];
  for (const [what, plant] of cases)
    it(`${what}: fetch exits 1 "not archived" naming it; verify ends the chain at the real newest`, async () => {
      const s = await scenario(cases.findIndex((c) => c[0] === what));
      const seg = makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 6 });
      const planted = await plant(s, seg);
      const f = await s.fetch(past);
      expect(f.code).toBe(1);
      expect(f.stderr.trim().split("\n")).toHaveLength(1);
      expect(f.stderr).toContain(`WAL file ${past} is not archived; ignored ${planted.length} untrusted WAL object`);
      for (const k of planted) expect(f.stderr).toContain(k);
      expect(f.bytes).toBeUndefined();
      const v = await s.verify();
      expect(v).toMatchObject({ ok: true, last: segName(1, 5), segments: 3, timelines: [1] });
      // verify names what it judged; a key that does not even parse is not a WAL object to it (nor to fetch's choice).
      if (v.ok && !what.startsWith("a garbage")) expect(v.ignored).toContain(planted[0]);
    });

  it("a forged key holding newlines cannot write lines of its own into PostgreSQL's log: one line, the newlines shown as \\n", async () => {
    const s = await scenario(20);
    const seg = makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 6 });
    await s.forge(`00000001/${past}.x\nLOG:  database system is ready to accept connections\nstrongbox: restored`, seg);
    const f = await s.fetch(past);
    expect(f.code).toBe(1);
    expect(f.stderr.trim().split("\n")).toHaveLength(1);
    expect(f.stderr).toContain(
      `${past}.x\\nLOG:  database system is ready to accept connections\\nstrongbox: restored`,
    );
  });

  it("a forged second candidate beside a real segment: the real one is fetched, the forged one named", async () => {
    const s = await scenario(10);
    const name = segName(1, 4);
    const evil = makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 4 });
    const unsigned = await s.forge(`00000001/${name}.${sha256(evil)}.age`, evil);
    const untrusted = await s.forge(signedKey(name, evil, strangerSig(s.sys, name, evil)), evil);
    const f = await s.fetch(name);
    expect(f.code).toBe(0);
    expect(f.bytes!.equals(s.real.get(4)!)).toBe(true);
    expect(f.stderr).toContain(`ignored 2 untrusted WAL objects`);
    expect(f.stderr).toContain(unsigned);
    expect(f.stderr).toContain(untrusted);
    const v = await s.verify();
    expect(v).toMatchObject({ ok: true, last: segName(1, 5), segments: 3 });
  });

  it("a forged .history of a new timeline with segments on it: fetch of it exits 1, verify follows the real timeline", async () => {
    const s = await scenario(11);
    const history = Buffer.from("1\t0/4800000\tforged\n");
    await s.forge(`00000002/00000002.history.${sha256(history)}.age`, history);
    for (const segno of [4, 5, 6, 7]) {
      const seg = makeSegment({ sysid: BigInt(s.sys), tli: 2, segno });
      await s.forge(signedKey(segName(2, segno), seg, strangerSig(s.sys, segName(2, segno), seg)), seg);
    }
    const f = await s.fetch("00000002.history");
    expect(f.code).toBe(1);
    expect(f.stderr).toContain("WAL file 00000002.history is not archived; ignored 1 untrusted WAL object");
    expect((await s.fetch(segName(2, 5))).code).toBe(1);
    expect((await s.fetch(segName(1, 5))).code).toBe(0);
    const v = await s.verify();
    expect(v).toMatchObject({ ok: true, timelines: [1], first: segName(1, 3), last: segName(1, 5) });
  });

  it("a real .history signed by the host is followed by fetch and verify", async () => {
    const s = await scenario(12);
    const history = Buffer.from("1\t0/5800000\tno recovery target specified\n");
    expect(await s.push("00000002.history", history)).toMatchObject({ code: 0, stderr: "" });
    for (const segno of [5, 6]) {
      const seg = makeSegment({ sysid: BigInt(s.sys), tli: 2, segno });
      expect(await s.push(segName(2, segno), seg)).toMatchObject({ code: 0, stderr: "" });
    }
    const f = await s.fetch("00000002.history");
    expect(f).toMatchObject({ code: 0, stderr: "" });
    expect(f.bytes!.equals(history)).toBe(true);
    const v = await s.verify();
    expect(v).toMatchObject({ ok: true, timelines: [1, 2], last: segName(2, 6) });
  });

  it("two trusted files that disagree under one name: fetch exits 255 and verify exit 3, both naming them", async () => {
    const s = await scenario(13);
    const other = makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 4 });
    expect(await s.push(segName(1, 4), other)).toMatchObject({ code: 0, stderr: "" });
    const both = s.keys().filter((k) => k.includes(segName(1, 4)));
    expect(both).toHaveLength(2);
    const f = await s.fetch(segName(1, 4));
    expect(f.code).toBe(255);
    expect(f.stderr).toContain("2 different files are archived under this name");
    const v = await s.verify();
    expect(v.ok).toBe(false);
    for (const k of both) {
      expect(f.stderr).toContain(k);
      if (!v.ok) expect(v.message).toContain(k);
    }
  });

  it("a retry stores nothing new and exits 0; a retry after a key rotation adds a second object that agrees", async () => {
    const s = await scenario(14);
    const name = segName(1, 5);
    const before = s.keys();
    expect(await s.push(name, s.real.get(5)!)).toMatchObject({ code: 0, stderr: "" });
    expect(s.keys()).toEqual(before);
    expect(before.filter((k) => k.includes(name))).toHaveLength(1);
    expect(before.every((k) => /\.[0-9a-f]{64}\.[0-9a-f]{128}\.zst\.age$/.test(k))).toBe(true);
    // The host's new key, trusted beside the old one: the same file again under a second signature.
    const newKey = join(s.repo.dir, "signing-2.key");
    const k = await runCli(["keygen", "--signing", "-o", newKey]);
    expect(k.code).toBe(0);
    const rotated = s.repo.write((c) => {
      delete c.encryption.identity_file;
      c.state_dir = tempDir("walstate");
      c.signing = { key_file: newKey, trusted: [...c.signing.trusted, { key: k.stdout.trim() }] };
    });
    expect(await s.push(name, s.real.get(5)!, rotated)).toMatchObject({ code: 0, stderr: "" });
    expect(s.keys().filter((x) => x.includes(name))).toHaveLength(2);
    const reader = s.repo.write((c) => c.signing.trusted.push({ key: k.stdout.trim() }));
    const f = await runCli(["-c", reader, "wal", "fetch", name, "pg_wal/ROTATED"], { cwd: s.data });
    expect(f).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(s.data, "pg_wal", "ROTATED")).equals(s.real.get(5)!)).toBe(true);
  });

  it("WAL archived before signing was configured is not replayed (a new base backup is needed), unless dated before allow_unsigned_before", async () => {
    const s = await scenario(15);
    const legacy = s.repo.write((c) => {
      delete c.encryption.identity_file;
      delete c.signing;
    });
    const seg = makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 6 });
    expect(await s.push(segName(1, 6), seg, legacy)).toMatchObject({ code: 0, stderr: "" });
    expect((await s.fetch(segName(1, 6))).code).toBe(1);
    expect(await s.verify()).toMatchObject({ ok: true, last: segName(1, 5) });
    const migrating = s.repo.write((c) => {
      c.signing.allow_unsigned_before = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, "Z");
    });
    const f = await runCli(["-c", migrating, "wal", "fetch", segName(1, 6), "pg_wal/MIGRATED"], { cwd: s.data });
    expect(f).toMatchObject({ code: 0, stderr: "" });
  });

  it("wal push with signing configured but no key on this host: a one-line config error, nothing stored", async () => {
    const s = await scenario(16);
    const nokey = s.repo.write((c) => {
      delete c.encryption.identity_file;
      delete c.signing.key_file;
    });
    const before = s.keys();
    const r = await s.push(segName(1, 6), makeSegment({ sysid: BigInt(s.sys), tli: 1, segno: 6 }), nokey);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^strongbox: error: signing\.key_file: required for wal push .*\n$/);
    expect(s.keys()).toEqual(before);
  });
});

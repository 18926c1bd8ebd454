// Forged postgres-cluster base backups, written with only the public recipient: restore and verify
// refuse each one with exit 3 and a line naming the problem, and a refused restore keeps nothing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { newBackupId } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { ageEncrypt, idTime, sha256 } from "../helpers/forge.js";
import { archive, fileEntry, rawHeader } from "../helpers/tar-craft.js";
import { makeSegment } from "../helpers/wal-craft.js";

const SYSID = 7345678901234567890n;

function pgControl(sysid = SYSID): Buffer {
  const b = Buffer.alloc(8192);
  b.writeBigUInt64LE(sysid, 0);
  return b;
}

const label = (lsn = "0/2000028", tli = 1) =>
  `START WAL LOCATION: ${lsn} (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-05 08:00:00 UTC\nLABEL: strongbox\nSTART TIMELINE: ${tli}\n`;

/** A backup_manifest as pg_basebackup writes it: every file's size and SHA-256, the WAL range, its own checksum. */
function backupManifest(files: Record<string, Buffer>, start = "0/2000028", end = "0/2000100"): string {
  const lines = Object.entries(files).map(
    ([path, body]) =>
      `{ "Path": "${path}", "Size": ${body.length}, "Last-Modified": "2026-12-05 08:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${sha256(body)}" }`,
  );
  const text = `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${lines.join(",\n")}\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "${start}", "End-LSN": "${end}" }\n],\n`;
  return `${text}"Manifest-Checksum": "${sha256(Buffer.from(text))}"}\n`;
}

/** A base backup as pg_basebackup streams it (the parts that matter here), its backup_manifest true to its files unless told. */
function baseTar(
  o: {
    extra?: Buffer[];
    label?: string;
    manifest?: (files: Record<string, Buffer>) => string;
    control?: Buffer;
    version?: string;
    /** The uid PG_VERSION's tar header gives (octal, as tar writes it). */
    uid?: string;
  } = {},
): Buffer {
  const files: Record<string, Buffer> = {
    PG_VERSION: Buffer.from("15\n"),
    backup_label: Buffer.from(o.label ?? label()),
    "global/pg_control": o.control ?? pgControl(),
  };
  const manifest = (o.manifest ?? ((f) => backupManifest(f)))(files);
  return archive(
    fileEntry("PG_VERSION", o.version ?? files.PG_VERSION, o.uid ? { uid: o.uid } : {}),
    fileEntry("backup_label", files.backup_label),
    rawHeader({ name: "global", typeflag: "5", mode: "0000700\0" }),
    fileEntry("global/pg_control", files["global/pg_control"]),
    ...(o.extra ?? []),
    fileEntry("backup_manifest", manifest),
  );
}

function clusterManifest(object: string): Record<string, unknown> {
  return {
    type: "postgres-cluster",
    object,
    server_version: "15.18",
    pg_basebackup_version: "15.18",
    system_identifier: SYSID.toString(),
    timeline: 1,
    start_lsn: "0/2000028",
    stop_lsn: "0/2000100",
    start_wal: "000000010000000000000002",
    start_time: "2026-12-05T08:00:00.000Z",
    stop_time: "2026-12-05T08:00:01.000Z",
    warnings: [],
  };
}

/** Writes a committed backup of one cluster source into a file:// repository, as a writer could. */
async function forgeCluster(repo: TestRepo, tar: Buffer, edit: (m: Record<string, unknown>) => void = () => {}) {
  const repoDir = join(repo.dir, "repository");
  const id = newBackupId();
  mkdirSync(join(repoDir, "backups", id), { recursive: true });
  const key = `backups/${id}/cluster.base.tar.zst.age`;
  const body = await ageEncrypt(zstdCompressSync(tar), repo.recipient);
  writeFileSync(join(repoDir, key), body);
  const part = clusterManifest(key);
  edit(part);
  const manifest = {
    format: "strongbox/1",
    id,
    created_at: new Date().toISOString(),
    host: "forger",
    sources: { cluster: part },
  };
  const mkey = `backups/${id}/manifest.json.age`;
  const mbody = await ageEncrypt(Buffer.from(JSON.stringify(manifest)), repo.recipient);
  writeFileSync(join(repoDir, mkey), mbody);
  const t = idTime(id);
  const complete = {
    format: "strongbox/1",
    id,
    started_at: t.toISOString(),
    finished_at: new Date(t.getTime() + 900).toISOString(),
    host: "forger",
    tool_version: "0.1.0",
    compression: "zstd",
    sources: [{ name: "cluster", type: "postgres-cluster" }],
    objects: [
      { key, size: body.length, sha256: sha256(body), source: "cluster" },
      { key: mkey, size: mbody.length, sha256: sha256(mbody) },
    ],
    warnings: 0,
  };
  writeFileSync(join(repoDir, "backups", id, "complete.json"), JSON.stringify(complete, null, 2));
  return id;
}

const CASES: {
  name: string;
  tar?: Parameters<typeof baseTar>[0];
  edit?: (m: Record<string, unknown>) => void;
  error: RegExp;
}[] = [
  { name: "a ../ name", tar: { extra: [fileEntry("../escaped", "x")] }, error: /unsafe path.*'\.\.' component/ },
  { name: "an absolute name", tar: { extra: [fileEntry("/etc/evil", "x")] }, error: /unsafe path.*absolute/ },
  {
    name: "a symlink (tablespace)",
    tar: { extra: [rawHeader({ name: "pg_tblspc/16384", typeflag: "2", linkname: "/etc" })] },
    error: /is a symlink/,
  },
  {
    name: "an entry twice",
    tar: { extra: [fileEntry("PG_VERSION", "15\n")] },
    error: /holds ["']PG_VERSION["'] twice/,
  },
  {
    name: "a file below a file",
    tar: { extra: [fileEntry("PG_VERSION/x", "1")] },
    error: /lies below the file ["']PG_VERSION["']/,
  },
  {
    name: "a backup_label at another LSN",
    tar: { label: label("0/3000028") },
    error: /backup_label starts at 0\/3000028/,
  },
  {
    name: "a backup_manifest with another WAL range",
    tar: { manifest: (f) => backupManifest(f, "0/2000028", "0/9000000") },
    error: /WAL range/,
  },
  { name: "another system identifier", tar: { control: pgControl(42n) }, error: /system identifier is 42/ },
  { name: "no backup_label", tar: { label: "" }, error: /backup_label has no START WAL LOCATION/ },
  {
    name: "a file that does not match the backup_manifest (pg_verifybackup)",
    tar: { version: "16\n" },
    error: /pg_verifybackup.*PG_VERSION/,
  },
  {
    name: "a stop LSN before the start",
    edit: (m) => (m.stop_lsn = "0/1000000"),
    error: /stop_lsn 0\/1000000 is before start_lsn/,
  },
  {
    name: "a server version with a terminal escape after the number",
    edit: (m) => (m.server_version = "15\u001b[2J"),
    error: /server_version is not a version/,
  },
  { name: "a malformed LSN", edit: (m) => (m.start_lsn = "0/../x"), error: /start_lsn or stop_lsn is not an LSN/ },
  {
    name: "a start segment of another timeline",
    edit: (m) => (m.start_wal = "000000020000000000000002"),
    error: /start_wal/,
  },
];

describe("forged postgres-cluster base backups", () => {
  it("a well-formed forged base verifies (so the refusals below are about what each case changes)", async () => {
    const repo = makeRepo({
      sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://replicator:pw@127.0.0.1:1/postgres" }],
    });
    const id = await forgeCluster(repo, baseTar());
    // Without the WAL from the base's start, verify fails on that alone: the base itself passed.
    const noWal = await runCli(["-c", repo.configFile, "verify", id]);
    expect(noWal.stdout.trim()).toMatch(new RegExp(`^${id}  FAILED: WAL 000000010000000000000002: `));
    expect(noWal.code).toBe(3);
    // With its start segment archived (by wal push, as the writer), the backup verifies.
    const data = tempDir("forged-cluster-wal");
    mkdirSync(join(data, "pg_wal"));
    writeFileSync(join(data, "pg_wal", "000000010000000000000002"), makeSegment({ sysid: SYSID, tli: 1, segno: 2 }));
    expect(
      (await runCli(["-c", repo.configFile, "wal", "push", "pg_wal/000000010000000000000002"], { cwd: data })).code,
    ).toBe(0);
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    expect(v.code).toBe(0);
  });

  for (const c of CASES) {
    it(`refuses ${c.name}: verify and restore exit 3 naming it, and nothing is restored`, async () => {
      const repo = makeRepo({
        sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://replicator:pw@127.0.0.1:1/postgres" }],
      });
      const id = await forgeCluster(repo, baseTar(c.tar), c.edit);
      const v = await runCli(["-c", repo.configFile, "verify", id]);
      expect(v.code).toBe(3);
      expect(v.stdout + v.stderr).toMatch(c.error);
      const target = join(tempDir("forged-cluster"), "data");
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", target, "--target-lsn", "0/3000000"]);
      expect(r.stderr).toMatch(c.error);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.code).toBe(3);
      expect(existsSync(target) ? readdirSync(target) : []).toEqual([]);
      expect(existsSync(join(target, "..", "..", "escaped"))).toBe(false);
    });
  }
});

describe.skipIf(process.getuid?.() !== 0)("a cluster restored as root", () => {
  it("belongs to this host's postgres account, never to the uid a forged archive names", async () => {
    const repo = makeRepo({
      sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://replicator:pw@127.0.0.1:1/postgres" }],
    });
    const id = await forgeCluster(repo, baseTar({ uid: "0010042\0" })); // uid 4130: anyone's on this host
    const target = join(tempDir("forged-owner"), "data");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", target, "--target-lsn", "0/3000000"]);
    expect(r.code, r.stderr).toBe(0);
    const postgres = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    for (const f of ["", "PG_VERSION", "global/pg_control", "postgresql.auto.conf"])
      expect([f, statSync(join(target, f)).uid]).toEqual([f, postgres]);
  });
});

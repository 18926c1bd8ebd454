// prune deletes archived WAL no kept base backup needs, with the pruner's powers only (list, get
// complete.json, delete): segments wholly before the oldest kept base's start segment, on its timeline
// or an older one. It keeps everything else: history files, WAL from that start on, newer timelines,
// WAL of a cluster with no kept base, keys that are not WAL keys of ours. The bases and the WAL are
// written here with only the writer's powers (a forger could write the same), so prune also shows
// that a forged base claiming a late start cannot make it delete WAL a real kept base needs.
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, inject, it } from "vitest";
import { keys, newBackupId } from "../../src/repository/layout.js";
import type { Store } from "../../src/stores/store.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import { s3Client, type S3Fixture } from "../helpers/s3-fixture.js";

const s3 = inject("s3");
const SYSID = "7345678901234567890";
const ORPHAN = "7000000000000000001";
const HASH = "ab".repeat(32);

const backends: { name: string; s3?: S3Fixture; skip: boolean }[] = [
  { name: "file://", skip: false },
  { name: "Ceph RGW", s3: s3 ?? undefined, skip: !s3 },
];

const walKey = (sysid: string, name: string) => `wal/${sysid}/${name.slice(0, 8)}/${name}.${HASH}.zst.age`;
const seg = (tli: number, n: number) =>
  `${tli.toString(16).padStart(8, "0").toUpperCase()}00000000${n.toString(16).padStart(8, "0").toUpperCase()}`;

/** A committed cluster base (its object is junk: prune reads only complete.json), starting at `startWal`. */
async function forgeBase(store: Store, repo: TestRepo, data: string, started: Date, startWal: string): Promise<string> {
  const { id } = await forgeBackup(store, repo.recipient, {
    files: { cluster: data },
    started,
    objectKey: (id) => keys.object(id, "cluster.base.tar.age"),
    complete: (c) => {
      c.sources = [
        {
          name: "cluster",
          type: "postgres-cluster",
          wal: { system_identifier: SYSID, timeline: parseInt(startWal.slice(0, 8), 16), start_wal: startWal },
        },
      ];
    },
  });
  return id;
}

/** A passed drill of `backupId`: the newer base is proven intact, so prune may drop the older one. */
async function passedDrill(repo: TestRepo, fixture: S3Fixture | undefined, backupId: string): Promise<void> {
  const drillId = newBackupId();
  const body = JSON.stringify({
    format: "strongbox/1 drill",
    drill_id: drillId,
    backup_id: backupId,
    result: "pass",
    finished_at: new Date().toISOString(),
  });
  if (!fixture) {
    const dir = join(repo.dir, "repository/drills");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${drillId}.json`), body);
    return;
  }
  const prefix = repo.config.repository.url.replace(/^s3:\/\/[^/]+\//, "");
  await s3Client(fixture.endpoint, fixture.reader).send(
    new PutObjectCommand({ Bucket: fixture.bucket, Key: `${prefix}/drills/${drillId}.json`, Body: body }),
  );
}

/** The keys under wal/, as the reader lists them (the writer may not list). */
async function listWal(store: Store, repo: TestRepo, fixture: S3Fixture | undefined): Promise<string[]> {
  const out: string[] = [];
  if (!fixture) {
    for await (const o of store.list("wal/")) out.push(o.key);
    return out.sort();
  }
  const prefix = `${repo.config.repository.url.replace(/^s3:\/\/[^/]+\//, "")}/`;
  const r = await s3Client(fixture.endpoint, fixture.reader).send(
    new ListObjectsV2Command({ Bucket: fixture.bucket, Prefix: `${prefix}wal/` }),
  );
  return (r.Contents ?? []).map((c) => c.Key!.slice(prefix.length)).sort();
}

describe.each(backends)("prune deletes WAL no kept base needs ($name)", ({ s3: fixture, skip }) => {
  it.skipIf(skip)(
    "B1 < B2, keep only B2: WAL before B2's start goes; from it on, history, newer timelines, orphans and junk stay",
    async () => {
      const data = tempDir("pw-data");
      writeFileSync(join(data, "x"), "x");
      const repo = makeRepo({
        sources: [{ name: "assets", type: "files", path: data }],
        ...(fixture ? { s3: fixture } : {}),
      });
      repo.config.state_dir = join(repo.dir, "state");
      repo.config.retention = { keep_last: 2 };
      repo.write();
      const store = writerStore(repo);
      const now = Date.now();
      const b1 = await forgeBase(store, repo, data, new Date(now - 12_000), seg(1, 2));
      const b2 = await forgeBase(store, repo, data, new Date(now - 8_000), seg(1, 5));
      // A forged base, newest, claiming a start far ahead: kept by keep_last 2, but the minimum over kept bases rules.
      const forged = await forgeBase(store, repo, data, new Date(now - 4_000), "00000001FFFFFFFF000000FF");
      await passedDrill(repo, fixture, b2);
      await passedDrill(repo, fixture, forged);
      const names = [1, 2, 3, 4, 5, 6, 7].map((n) => seg(1, n));
      const wal = [
        ...names.map((n) => walKey(SYSID, n)),
        walKey(SYSID, `${seg(1, 2)}.00000028.backup`),
        walKey(SYSID, `${seg(1, 5)}.00000028.backup`),
        walKey(SYSID, "00000002.history"),
        walKey(SYSID, seg(2, 3)), // a newer timeline: not the kept base's, kept
        walKey(ORPHAN, seg(1, 1)), // a cluster with no base
        `wal/${SYSID}/00000001/not-a-wal-file`,
      ];
      for (const k of wal) await store.put(k, Readable.from([Buffer.from("junk")]));

      const dry = await runCli(["-c", repo.configFile, "--json", "prune", "--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      const planned = JSON.parse(dry.stdout).wal.clusters.find((c: any) => c.system_identifier === SYSID);
      expect(planned).toMatchObject({ deleted: 5, oldest_kept_base: b2, kept_from: seg(1, 5) });
      expect(await listWal(store, repo, fixture)).toEqual([...wal].sort());

      const r = await runCli(["-c", repo.configFile, "--json", "prune"]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.deleted).toEqual([b1]);
      const cluster = out.wal.clusters.find((c: any) => c.system_identifier === SYSID);
      expect(cluster).toMatchObject({ deleted: 5, deleted_bytes: 20, kept: 6, oldest_kept_base: b2 });
      expect(out.wal.clusters.find((c: any) => c.system_identifier === ORPHAN)).toMatchObject({
        no_base: true,
        kept: 1,
      });
      expect(out.wal.unparsable.count).toBe(1);
      expect(r.stderr).toMatch(/WAL of cluster 7000000000000000001: no kept base backup of this cluster/);
      expect(r.stderr).toMatch(/wal\/: 1 key\(s\) that are not WAL files of ours kept/);
      const gone = [1, 2, 3, 4]
        .map((n) => walKey(SYSID, seg(1, n)))
        .concat(walKey(SYSID, `${seg(1, 2)}.00000028.backup`));
      expect(await listWal(store, repo, fixture)).toEqual(wal.filter((k) => !gone.includes(k)).sort());
      // Again: nothing more to delete.
      const again = await runCli(["-c", repo.configFile, "--json", "prune"]);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).wal.clusters.find((c: any) => c.system_identifier === SYSID).deleted).toBe(0);
    },
  );
});

describe("prune keeps the WAL of every base it keeps (file://)", () => {
  it("a base retention does not count (backdated: its claimed time is 10 days before the store's) keeps its WAL", async () => {
    const data = tempDir("pw-flagged");
    writeFileSync(join(data, "x"), "x");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.retention = { keep_last: 1 };
    repo.write();
    const store = writerStore(repo);
    const now = Date.now();
    // Kept by prune but not counted by retention: a real base whose host clock was wrong looks like this.
    const flagged = await forgeBase(store, repo, data, new Date(now - 10 * 86_400_000), seg(1, 2));
    const newest = await forgeBase(store, repo, data, new Date(now - 4_000), seg(1, 5));
    await passedDrill(repo, undefined, newest);
    const wal = [1, 2, 3, 4, 5, 6].map((n) => walKey(SYSID, seg(1, n)));
    for (const k of wal) await store.put(k, Readable.from([Buffer.from("junk")]));

    const r = await runCli(["-c", repo.configFile, "--json", "prune"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.deleted).toEqual([]);
    expect(r.stderr).toContain(`${flagged}: untrusted, not counted by retention and kept`);
    // Only the segment before the flagged base's start goes; everything it needs stays.
    expect(out.wal.clusters.find((c: any) => c.system_identifier === SYSID)).toMatchObject({
      deleted: 1,
      kept_from: seg(1, 2),
    });
    expect(await listWal(store, repo, undefined)).toEqual(wal.slice(1).sort());
  });
});

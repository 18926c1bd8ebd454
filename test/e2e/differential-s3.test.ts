// Differential backups (SPEC §10) on Ceph RGW: the backup host holds only the writer role (it can
// neither list nor read), restores run with the reader, and with Object Lock a differential
// extends its base full's retention.
import { GetObjectCommand, GetObjectRetentionCommand } from "@aws-sdk/client-s3";
import { execSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { createRoleBucket, s3Client } from "../helpers/s3-fixture.js";
import { snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");

function setup(data: string, o: { bucket?: string; prefix: string; lockDays?: number }) {
  const repo = makeRepo({
    sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    s3: { ...s3!, bucket: o.bucket ?? s3!.bucket },
    prefix: o.prefix,
  });
  repo.config.state_dir = join(repo.dir, "state");
  repo.config.lock_dir = repo.dir;
  if (o.lockDays) repo.config.repository.s3.object_lock_days = o.lockDays;
  repo.write();
  const writerOnly = repo.write((c) => (c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer }));
  return { repo, writerOnly };
}

/** Every backup of this file a second after the last, by its clock: distinct, ordered ids without sleeping. */
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());

async function backup(config: string): Promise<{ id: string; kind: string; base?: string; log: string }> {
  const r = await runCli(["-c", config, "--json", "backup", "now"], { env: nextSecond() });
  if (r.code !== 0) console.log(r.stderr);
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  return { id: out.id, ...out.sources[0], log: r.stderr };
}

describe.skipIf(!s3)("differential backups on Ceph RGW", () => {
  it("writer only: a full and 3 differentials restore exactly (strongbox with the reader role, and by hand); prune keeps the base; no state or a foreign state → full", async () => {
    const data = tempDir("s3diff");
    mkdirSync(join(data, "ASSETS/a dir"), { recursive: true });
    writeFileSync(join(data, "ASSETS/clip.mp4"), Buffer.alloc(300_000, 1));
    writeFileSync(join(data, "ASSETS/a dir/ä.txt"), "ä\n");
    writeFileSync(join(data, "gone.txt"), "bye\n");
    const prefix = `diff-${Math.random().toString(16).slice(2, 8)}`;
    const { repo, writerOnly } = setup(data, { prefix });
    const trees: { id: string; tree: ReturnType<typeof snapshotTree> }[] = [];
    const full = await backup(writerOnly);
    expect(full.kind).toBe("full");
    trees.push({ id: full.id, tree: snapshotTree(data) });
    unlinkSync(join(data, "gone.txt"));
    writeFileSync(join(data, "new.txt"), "new\n");
    const d1 = await backup(writerOnly);
    trees.push({ id: d1.id, tree: snapshotTree(data) });
    renameSync(join(data, "ASSETS/a dir"), join(data, "ASSETS/b dir"));
    writeFileSync(join(data, "zero"), "");
    const d2 = await backup(writerOnly);
    trees.push({ id: d2.id, tree: snapshotTree(data) });
    unlinkSync(join(data, "new.txt"));
    mkdirSync(join(data, "new.txt"));
    writeFileSync(join(data, "new.txt/inside"), "in\n");
    const d3 = await backup(writerOnly);
    trees.push({ id: d3.id, tree: snapshotTree(data) });
    expect([d1.kind, d2.kind, d3.kind]).toEqual(["diff", "diff", "diff"]);
    expect([d1.base, d2.base, d3.base]).toEqual([full.id, full.id, full.id]);

    const readerOnly = repo.write(
      (c) => (c.repository.s3.credentials = { reader: c.repository.s3.credentials.reader }),
    );
    const v = await runCli(["-c", readerOnly, "verify", "all"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim().split("\n").sort()).toEqual(trees.map((t) => `${t.id}  OK`).sort());
    for (const t of trees) {
      const out = tempDir("s3diffrestore");
      const r = await runCli(["-c", readerOnly, "restore", t.id, "--to-dir", out]);
      expect(r.code).toBe(0);
      expect(snapshotTree(join(out, "assets"))).toEqual(t.tree);
    }

    // By hand, each backup: the objects fetched with the reader's key, then age, zstd and GNU tar (-g /dev/null).
    const client = s3Client(s3!.endpoint, s3!.reader);
    const hand = tempDir("s3diffhand");
    for (const id of [full.id, d1.id, d2.id, d3.id]) {
      const res = await client.send(
        new GetObjectCommand({ Bucket: s3!.bucket, Key: `${prefix}/backups/${id}/assets.tar.zst.age` }),
      );
      writeFileSync(join(hand, `${id}.age`), Buffer.from(await res.Body!.transformToByteArray()));
    }
    client.destroy();
    for (const [i, t] of trees.entries()) {
      const out = join(hand, `out${i}`);
      mkdirSync(out);
      for (const id of i === 0 ? [full.id] : [full.id, t.id])
        execSync(
          `age -d -i '${repo.identityFile}' '${join(hand, `${id}.age`)}' | zstd -d | tar -x -g /dev/null -C '${out}'`,
        );
      expect(snapshotTree(out), `hand restore of backup ${i}`).toEqual(t.tree);
    }

    // Prune (pruner role) would keep only d3 by its rules: it keeps d3's base too, and d3 still restores.
    const pruner = repo.write((c) => {
      c.repository.s3.credentials = { pruner: c.repository.s3.credentials.pruner };
      c.retention = { keep_last: 1 };
    });
    const dry = await runCli(["-c", pruner, "prune", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${full.id}\\s+\\S+\\s+keep\\s+base of ${d3.id}`));
    expect((await runCli(["-c", pruner, "prune"])).code).toBe(0);
    const left = await runCli(["-c", readerOnly, "verify", "all"]);
    expect(left.code).toBe(0);
    expect(left.stdout.trim().split("\n").sort()).toEqual([`${full.id}  OK`, `${d3.id}  OK`].sort());

    // The writer's state deleted, then another repository's state in its place: each time a full.
    const stateDir = join(repo.dir, "state");
    const stateFile = () => join(stateDir, readdirSync(stateDir)[0], "assets.json");
    rmSync(stateFile());
    const noState = await backup(writerOnly);
    expect(noState.kind).toBe("full");
    expect(noState.log).toMatch(/full backup: no state of a previous full on this host/);
    const other = setup(data, { prefix: `${prefix}-other` });
    await backup(other.writerOnly);
    copyFileSync(
      join(other.repo.dir, "state", readdirSync(join(other.repo.dir, "state"))[0], "assets.json"),
      stateFile(),
    );
    const foreign = await backup(writerOnly);
    expect(foreign.kind).toBe("full");
    expect(foreign.log).toMatch(/full backup: the state was made for another repository/);
    expect((await backup(writerOnly)).kind).toBe("diff");
  });

  it("with Object Lock, a differential extends its base's retention to at least its own", async () => {
    const bucket = `strongbox-difflock-${Math.random().toString(16).slice(2, 8)}`;
    await createRoleBucket(s3!, bucket, { objectLock: true });
    const data = tempDir("s3difflock");
    writeFileSync(join(data, "media.bin"), Buffer.alloc(200_000, 4));
    const { writerOnly } = setup(data, { bucket, prefix: "locked", lockDays: 1 });
    const full = await backup(writerOnly);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const until = async (id: string, f: string) =>
      (
        await admin.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: `locked/backups/${id}/${f}` }))
      ).Retention!.RetainUntilDate!.getTime();
    const before = await until(full.id, "assets.tar.zst.age");
    writeFileSync(join(data, "note.txt"), "changed\n");
    const d = await backup(writerOnly);
    expect(d.kind).toBe("diff");
    const diffUntil = Math.max(
      ...(await Promise.all(
        ["assets.tar.zst.age", "manifest.json.zst.age", "complete.json"].map((f) => until(d.id, f)),
      )),
    );
    for (const f of ["assets.tar.zst.age", "manifest.json.zst.age", "complete.json"]) {
      const baseUntil = await until(full.id, f);
      expect(baseUntil, `base ${f}`).toBeGreaterThanOrEqual(diffUntil);
      expect(baseUntil).toBeGreaterThan(before);
    }
    admin.destroy();
  });
});

// Issue 21 item 5: a full's complete.json acknowledged (200) and never stored must not become the base
// of differentials. The writer cannot read, but a PUT with If-None-Match: * tells it whether the
// marker is there (412), and re-sends it when it is not. Through the S3 fault proxy, writer-only host.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startS3FaultProxy, type S3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { createRoleBucket } from "../helpers/s3-fixture.js";
import { snapshotTree } from "../helpers/tree.js";
import { secondApart } from "../helpers/backup-clock.js";

const s3 = inject("s3");

describe.skipIf(!s3)("a lost write of a full's complete.json never becomes a base", () => {
  let proxy: S3FaultProxy;
  let repo: TestRepo;
  let writerOnly = "";
  let pruner = "";
  const data = tempDir("lostbase");
  writeFileSync(join(data, "a.txt"), "a\n");
  writeFileSync(join(data, "b.bin"), "b".repeat(30000));

  beforeAll(async () => {
    proxy = await startS3FaultProxy(s3!.endpoint);
    repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
      s3: { ...s3!, endpoint: proxy.endpoint },
      prefix: `lostbase-${Math.random().toString(16).slice(2, 8)}`,
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.config.retention = { keep_last: 2, max_delete_share: 1 };
    Object.assign(repo.config.repository.s3, { retry: { attempts: 2, base_delay: "0.1s", max_delay: "0.2s" } });
    repo.write();
    writerOnly = repo.write((c) => (c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer }));
    pruner = repo.write((c) => (c.repository.s3.credentials = { pruner: c.repository.s3.credentials.pruner }));
  });
  afterAll(async () => {
    await proxy?.close();
  });

  /** Each backup a second after the last: `latest`, keep_last and list's order follow the order they were made. */
  const nextSecond = secondApart();
  const backup = async (args: string[] = []) => {
    const r = await runCli(["-c", writerOnly, "--json", "backup", "now", ...args], { env: nextSecond() });
    const out = r.code === 0 ? JSON.parse(r.stdout) : undefined;
    return {
      ...r,
      id: out?.id as string,
      kind: out?.sources[0].kind as string,
      base: out?.sources[0].base as string | undefined,
    };
  };

  it("a full whose complete.json every PUT drops: exit 1, the state stays on the intact full; later differentials, prune and restore latest are sound", async () => {
    proxy.rules([]);
    const f1 = await backup(["--full"]);
    expect(f1.code).toBe(0);
    expect(f1.stderr).not.toMatch(/cannot confirm/);
    writeFileSync(join(data, "a.txt"), "a2\n");

    proxy.rules([{ method: "PUT", path: /complete\.json$/, fault: { kind: "drop-put" }, times: 100 }]);
    const f2 = await backup(["--full"]);
    expect(f2.code).toBe(1);
    expect(f2.stderr).toMatch(
      /the store acknowledged backups\/\d{8}T\d{6}Z-[0-9a-f]{6}\/complete\.json but does not hold it \(a lost write\)/,
    );
    proxy.rules([]);

    const diffs: string[] = [];
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(data, `n${i}.txt`), `${i}\n`);
      const d = await backup();
      expect(d.code).toBe(0);
      expect(d.kind).toBe("diff");
      expect(d.base).toBe(f1.id); // never the lost full
      diffs.push(d.id);
    }
    const expected = snapshotTree(data);
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout) as {
      id: string;
      broken_chain?: string;
    }[];
    expect(list.filter((x) => x.broken_chain)).toEqual([]);

    const p = await runCli(["-c", pruner, "--json", "prune"]);
    expect(p.code).toBe(0);
    const out = tempDir("lostbase-out");
    const r = await runCli(["-c", repo.configFile, "--json", "restore", "latest", "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ids).toEqual([diffs[2]]);
    expect(snapshotTree(join(out, "assets"))).toEqual(expected);
  }, 180_000);

  it("a full whose complete.json PUT is dropped once: the writer's check re-sends it, the full is committed and becomes the base", async () => {
    proxy.rules([{ method: "PUT", path: /complete\.json$/, fault: { kind: "drop-put" }, times: 1 }]);
    const f = await backup(["--full"]);
    expect(f.code).toBe(0);
    proxy.rules([]);
    const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout) as {
      id: string;
      complete: boolean;
    }[];
    expect(list.find((x) => x.id === f.id)).toMatchObject({ complete: true });
    writeFileSync(join(data, "later.txt"), "later\n");
    const d = await backup();
    expect(d.code).toBe(0);
    expect(d.base).toBe(f.id);
    const v = await runCli(["-c", repo.configFile, "verify", d.id]);
    expect(v.code).toBe(0);
  }, 120_000);

  it("with Object Lock (a versioned bucket): a dropped complete.json is not confirmed through PutObjectRetention, and the state stays put", async () => {
    const bucket = `strongbox-lostlock-${Math.random().toString(16).slice(2, 8)}`;
    await createRoleBucket(s3!, bucket, { objectLock: true });
    const locked = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
      s3: { ...s3!, bucket, endpoint: proxy.endpoint },
      prefix: "locked",
    });
    locked.config.state_dir = join(locked.dir, "state");
    locked.config.lock_dir = locked.dir;
    locked.config.repository.s3.object_lock_days = 1;
    Object.assign(locked.config.repository.s3, { retry: { attempts: 2, base_delay: "0.1s", max_delay: "0.2s" } });
    locked.write();
    const w = locked.write((c) => (c.repository.s3.credentials = { writer: c.repository.s3.credentials.writer }));
    const run = async (args: string[] = []) => {
      const r = await runCli(["-c", w, "--json", "backup", "now", ...args], { env: nextSecond() });
      return { ...r, out: r.code === 0 ? JSON.parse(r.stdout) : undefined };
    };
    proxy.rules([]);
    const f1 = await run();
    expect(f1.code).toBe(0);
    // The object's PUTs are dropped; the PutObjectRetention (a PUT with ?retention) reaches the server.
    proxy.rules([
      {
        method: "PUT",
        path: /complete\.json$/,
        query: /^(?![\s\S]*retention)/,
        fault: { kind: "drop-put" },
        times: 100,
      },
    ]);
    const f2 = await run(["--full"]);
    // Ceph RGW answers a retention PUT on a missing key with an error other than 404: the writer
    // cannot tell, so the full is left as written (exit 0) and is not made a base.
    expect(f2.stderr).toMatch(
      /does not hold it \(a lost write\)|cannot confirm that backups\/\S+\/complete\.json is stored, so this full is not made the base/,
    );
    proxy.rules([]);
    writeFileSync(join(data, "locked.txt"), "x\n");
    const d = await run();
    expect(d.code).toBe(0);
    expect(d.out.sources[0]).toMatchObject({ kind: "diff", base: f1.out.id });
  }, 120_000);
});

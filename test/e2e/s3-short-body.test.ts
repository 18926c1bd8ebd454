// Issue 22 item 20: a GET whose body ends (cleanly, FIN) before its Content-Length is a transport
// error — retried, resumed by Range from the byte reached — never corruption (exit 3).
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startS3FaultProxy, type S3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { makeSampleTree, snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");

describe.skipIf(!s3)("a download cut short before its Content-Length", () => {
  let proxy: S3FaultProxy;
  let repo: TestRepo;
  let id = "";
  const data = tempDir("shortdata");
  makeSampleTree(data);
  writeFileSync(join(data, "big.bin"), randomBytes(3 * 1024 * 1024));

  beforeAll(async () => {
    proxy = await startS3FaultProxy(s3!.endpoint);
    repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data }],
      s3: { ...s3!, endpoint: proxy.endpoint },
      prefix: `short-${randomBytes(3).toString("hex")}`,
      compression: "none",
    });
    Object.assign(repo.config.repository.s3, {
      timeouts: { connect: "2s", idle: "5s", request: "60s" },
      retry: { attempts: 3, base_delay: "0.1s", max_delay: "0.5s" },
    });
    repo.write();
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    id = JSON.parse(b.stdout).id;
  });
  afterAll(async () => proxy?.close());

  const cut = (times: number, afterBytes = 1024 * 1024, path = /assets\.tar\.age$/) => {
    proxy.rules([{ method: "GET", path, fault: { kind: "short-body", afterBytes }, times }]);
    proxy.log.length = 0;
  };

  it("once: verify resumes with a Range request and passes; restore gets intact data", async () => {
    cut(1);
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.stderr).not.toMatch(/error/i);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${id}  OK`);
    expect(proxy.log.filter((e) => e.fault === "short-body")).toHaveLength(1);
    cut(1);
    const out = tempDir("shortrestore");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(out, "assets"))).toEqual(snapshotTree(data));
  });

  it("always: exit 1, a transport error naming the object, not exit 3 (corruption)", async () => {
    // No byte of progress between cuts: the retry budget (3 attempts) runs out.
    cut(1000, 0);
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(1);
    expect(v.stdout + v.stderr).toMatch(/s3: reading backups\/[^ ]+\/assets\.tar\.age.*gave up after 3 attempts/);
    expect(v.stdout + v.stderr).not.toMatch(/corrupt|truncated|damaged/);
    // The same for the commit marker, read while listing: a transport error, not a damaged backup.
    cut(1000, 0, /complete\.json$/);
    const l = await runCli(["-c", repo.configFile, "verify", id]);
    expect(l.code).toBe(1);
    expect(l.stdout + l.stderr).toMatch(/s3: reading backups\/[^ ]+\/complete\.json.*gave up after 3 attempts/);
    expect(l.stdout + l.stderr).not.toMatch(/corrupt|truncated|damaged/);
  });
});

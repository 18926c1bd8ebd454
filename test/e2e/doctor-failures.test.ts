import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const s3 = inject("s3");
// a failing --json run prints the findings, then the error object
const findings = (stdout: string) =>
  Object.fromEntries(
    JSON.parse(stdout.slice(0, stdout.indexOf("\n}\n") + 2)).findings.map(
      (x: { area: string; status: string; detail: string }) => [x.area, `${x.status}: ${x.detail}`],
    ),
  );

describe("doctor fails on what would break a run", () => {
  it("a missing lock_dir or identity file is a FAIL (exit 1), naming it", async () => {
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tempDir("doc") }] });
    const cfg = repo.write((c) => {
      c.lock_dir = join(repo.dir, "no-such-lock-dir");
      c.encryption.identity_file = join(repo.dir, "no-such-identity.txt");
    });
    const r = await runCli(["-c", cfg, "--json", "doctor"]);
    expect(r.code).toBe(1);
    const f = findings(r.stdout);
    expect(f["lock dir"]).toMatch(/^fail: .*no-such-lock-dir: ENOENT/);
    expect(f["identity file"]).toMatch(/^fail: .*no-such-identity\.txt: ENOENT/);
    const ok = await runCli(["-c", repo.write((c) => (c.lock_dir = repo.dir)), "--json", "doctor"]);
    expect(findings(ok.stdout)["lock dir"]).toMatch(/^ok: /);
  });
});

describe.skipIf(!s3)("doctor on S3: missing bucket, unknown key, wrong secret", () => {
  const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tempDir("doc3") }], s3: s3! });

  it("a bucket that does not exist fails every role (NoSuchBucket is not 'allowed')", async () => {
    const cfg = repo.write((c) => (c.repository.url = "s3://no-such-bucket-here/x"));
    const r = await runCli(["-c", cfg, "--json", "doctor"]);
    expect(r.code).toBe(1);
    const f = findings(r.stdout);
    for (const role of ["writer", "reader", "pruner"])
      expect(f[`role ${role}`]).toMatch(/^fail: .*NoSuchBucket.*the bucket does not exist/);
    expect(JSON.stringify(f)).not.toMatch(/get allowed|delete allowed|list allowed/);
  });

  it("an unknown key id names the role and InvalidAccessKeyId; a wrong secret names SignatureDoesNotMatch; neither blames the policy", async () => {
    const unknown = repo.write((c) => (c.repository.s3.credentials.pruner.access_key_id = "NOSUCHKEY0000000"));
    const u = await runCli(["-c", unknown, "--json", "doctor"]);
    expect(u.code).toBe(1);
    expect(findings(u.stdout)["role pruner"]).toMatch(
      /^fail: .*InvalidAccessKeyId.*does not know the pruner access key id/,
    );
    const wrong = repo.write((c) => (c.repository.s3.credentials.writer.secret_access_key = "not-the-secret-456"));
    const w = await runCli(["-c", wrong, "--json", "doctor"]);
    expect(w.code).toBe(1);
    expect(findings(w.stdout)["role writer"]).toMatch(
      /^fail: .*SignatureDoesNotMatch.*writer secret access key is wrong/,
    );
    for (const out of [u.stdout + u.stderr, w.stdout + w.stderr])
      expect(out).not.toMatch(/not allowed|strongbox policy/);
    expect(w.stdout + w.stderr).not.toContain("not-the-secret-456");
  });
});

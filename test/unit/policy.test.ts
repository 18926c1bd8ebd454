import { describe, expect, it } from "vitest";
import { policyFor } from "../../src/commands/policy.js";

const actions = (p: ReturnType<typeof policyFor>, effect: string) =>
  p.Statement.filter((s) => s.Effect === effect)
    .flatMap((s) => s.Action as string[])
    .sort();

describe("least-privilege bucket policies", () => {
  it("writer: put and abort only where it writes (backups/, wal/), explicit denies for read, list and delete", () => {
    const p = policyFor("writer", "bkt", "spx-prod", "arn:aws:iam::1:user/w");
    expect(actions(p, "Allow")).toEqual(["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"]);
    expect(actions(p, "Deny")).toEqual(expect.arrayContaining(["s3:GetObject", "s3:DeleteObject", "s3:ListBucket"]));
    expect(p.Statement[0].Resource).toEqual(["arn:aws:s3:::bkt/spx-prod/backups/*", "arn:aws:s3:::bkt/spx-prod/wal/*"]);
    expect(policyFor("writer", "bkt", "", "x").Statement[0].Resource).toEqual([
      "arn:aws:s3:::bkt/backups/*",
      "arn:aws:s3:::bkt/wal/*",
    ]);
    expect(actions(policyFor("writer", "bkt", "p", "x", { objectLock: true }), "Allow")).toContain(
      "s3:PutObjectRetention",
    );
  });

  it("writer with verify_after_write and no reader credentials: may read (HEAD) its uploads, still never delete or list", () => {
    const p = policyFor("writer", "bkt", "spx-prod", "arn:aws:iam::1:user/w", { writerReads: true });
    expect(actions(p, "Allow")).toEqual([
      "s3:AbortMultipartUpload",
      "s3:GetObject",
      "s3:ListMultipartUploadParts",
      "s3:PutObject",
    ]);
    expect(actions(p, "Deny")).toEqual(expect.arrayContaining(["s3:DeleteObject", "s3:ListBucket"]));
    expect(actions(p, "Deny")).not.toContain("s3:GetObject");
  });

  it("reader: get and list, put only under drills/, never delete", () => {
    const p = policyFor("reader", "bkt", "spx-prod", "arn:aws:iam::1:user/r");
    expect(actions(p, "Allow")).toEqual(["s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
    expect(p.Statement.find((s) => (s.Action as string[]).includes("s3:PutObject"))!.Resource).toEqual([
      "arn:aws:s3:::bkt/spx-prod/drills/*",
    ]);
    // no s3:prefix condition: Ceph RGW denies GetObject/ListMultipartUploads under one
    expect(p.Statement.find((s) => (s.Action as string[]).includes("s3:ListBucket"))!.Condition).toBeUndefined();
    expect(actions(p, "Deny")).toContain("s3:DeleteObject");
  });

  it("pruner: list, read commit markers (and their signatures) and drill reports, delete, abort stale uploads", () => {
    const p = policyFor("pruner", "bkt", "", "arn:aws:iam::1:user/p");
    expect(actions(p, "Allow")).toEqual([
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
    ]);
    expect(p.Statement.find((s) => (s.Action as string[]).includes("s3:GetObject"))!.Resource).toEqual([
      "arn:aws:s3:::bkt/backups/*/complete.json",
      "arn:aws:s3:::bkt/backups/*/complete.json.sig",
      "arn:aws:s3:::bkt/drills/*",
    ]);
  });
});

import type { Role } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import type { CommandContext } from "./context.js";

/** Bucket-policy statements granting exactly what each role needs (SPEC §5), and denying the rest. */
export function policyFor(role: Role, bucket: string, prefix: string, principal: string, o: { objectLock?: boolean; writerReads?: boolean } = {}) {
  const p = prefix ? `${prefix.replace(/\/+$/, "")}/` : "";
  const objects = `arn:aws:s3:::${bucket}/${p}*`;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const who = { AWS: [principal] };
  const listCondition = p ? { StringLike: { "s3:prefix": [`${p}*`] } } : undefined;
  const statements: Record<string, unknown>[] = [];
  if (role === "writer") {
    statements.push(
      {
        Sid: "StrongboxWriterPut",
        Effect: "Allow",
        Principal: who,
        // verify_after_write without reader credentials on the host: the writer HEADs its own uploads (HEAD needs s3:GetObject).
        Action: ["s3:PutObject", ...(o.objectLock ? ["s3:PutObjectRetention"] : []), "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", ...(o.writerReads ? ["s3:GetObject"] : [])],
        Resource: [objects],
      },
      {
        Sid: o.writerReads ? "StrongboxWriterNoDelete" : "StrongboxWriterNoReadNoDelete",
        Effect: "Deny",
        Principal: who,
        Action: [...(o.writerReads ? [] : ["s3:GetObject", "s3:GetObjectVersion"]), "s3:DeleteObject", "s3:DeleteObjectVersion"],
        Resource: [objects],
      },
      { Sid: "StrongboxWriterNoList", Effect: "Deny", Principal: who, Action: ["s3:ListBucket", "s3:ListBucketVersions"], Resource: [bucketArn] },
    );
  } else if (role === "reader") {
    statements.push(
      { Sid: "StrongboxReaderGet", Effect: "Allow", Principal: who, Action: ["s3:GetObject"], Resource: [objects] },
      { Sid: "StrongboxReaderList", Effect: "Allow", Principal: who, Action: ["s3:ListBucket"], Resource: [bucketArn], ...(listCondition ? { Condition: listCondition } : {}) },
      { Sid: "StrongboxReaderDrillReports", Effect: "Allow", Principal: who, Action: ["s3:PutObject"], Resource: [`arn:aws:s3:::${bucket}/${p}drills/*`] },
      { Sid: "StrongboxReaderNoDelete", Effect: "Deny", Principal: who, Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], Resource: [objects] },
    );
  } else {
    statements.push(
      { Sid: "StrongboxPrunerList", Effect: "Allow", Principal: who, Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"], Resource: [bucketArn], ...(listCondition ? { Condition: listCondition } : {}) },
      { Sid: "StrongboxPrunerReadMarkers", Effect: "Allow", Principal: who, Action: ["s3:GetObject"], Resource: [`arn:aws:s3:::${bucket}/${p}backups/*/complete.json`, `arn:aws:s3:::${bucket}/${p}drills/*`] },
      { Sid: "StrongboxPrunerDelete", Effect: "Allow", Principal: who, Action: ["s3:DeleteObject", "s3:AbortMultipartUpload"], Resource: [objects] },
    );
  }
  return { Version: "2012-10-17", Statement: statements };
}

export async function policyCommand(ctx: CommandContext, role: string, o: { principal: string }): Promise<void> {
  if (!["writer", "reader", "pruner"].includes(role)) throw new StrongboxError("USAGE", `policy: role must be writer, reader or pruner, not '${role}'`);
  const url = ctx.config().repository.url;
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new StrongboxError("USAGE", `policy: the repository is ${url}, not s3://; file permissions apply instead`);
  const s3 = ctx.config().repository.s3;
  const writerReads = !!s3?.verify_after_write && !s3.credentials.reader;
  const policy = policyFor(role as Role, m[1], m[2], o.principal.replace("ROLE", role), { objectLock: (s3?.object_lock_days ?? 0) > 0, writerReads });
  ctx.stdout.write(JSON.stringify(policy, null, 2) + "\n");
}

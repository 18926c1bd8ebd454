import type { Role } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import type { CommandContext } from "./context.js";

/**
 * Bucket-policy statements granting exactly what each role needs, and denying the rest.
 * No `s3:prefix` conditions: Ceph RGW evaluates them on requests that carry no prefix (GetObject,
 * ListMultipartUploads) and denies those, so ListBucket is granted on the bucket as a whole.
 */
export function policyFor(
  role: Role,
  bucket: string,
  prefix: string,
  principal: string,
  o: { objectLock?: boolean; writerReads?: boolean } = {},
) {
  const p = prefix ? `${prefix.replace(/\/+$/, "")}/` : "";
  const objects = `arn:aws:s3:::${bucket}/${p}*`;
  /**
   * What a writer writes: backups/ (and wal/, kept for point-in-time recovery). Nothing else: a
   * stolen writer key must not be able to file drill reports (drills/) or anything else.
   */
  const written = [`arn:aws:s3:::${bucket}/${p}backups/*`, `arn:aws:s3:::${bucket}/${p}wal/*`];
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const who = { AWS: [principal] };
  const statements: Record<string, unknown>[] = [];
  if (role === "writer") {
    statements.push(
      {
        Sid: "StrongboxWriterPut",
        Effect: "Allow",
        Principal: who,
        // verify_after_write without reader credentials on the host: the writer HEADs its own uploads (HEAD needs s3:GetObject).
        Action: [
          "s3:PutObject",
          ...(o.objectLock ? ["s3:PutObjectRetention"] : []),
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
          ...(o.writerReads ? ["s3:GetObject"] : []),
        ],
        Resource: written,
      },
      {
        Sid: o.writerReads ? "StrongboxWriterNoDelete" : "StrongboxWriterNoReadNoDelete",
        Effect: "Deny",
        Principal: who,
        Action: [
          ...(o.writerReads ? [] : ["s3:GetObject", "s3:GetObjectVersion"]),
          "s3:DeleteObject",
          "s3:DeleteObjectVersion",
        ],
        Resource: [objects],
      },
      {
        Sid: "StrongboxWriterNoList",
        Effect: "Deny",
        Principal: who,
        Action: ["s3:ListBucket", "s3:ListBucketVersions"],
        Resource: [bucketArn],
      },
    );
  } else if (role === "reader") {
    statements.push(
      { Sid: "StrongboxReaderGet", Effect: "Allow", Principal: who, Action: ["s3:GetObject"], Resource: [objects] },
      { Sid: "StrongboxReaderList", Effect: "Allow", Principal: who, Action: ["s3:ListBucket"], Resource: [bucketArn] },
      {
        Sid: "StrongboxReaderDrillReports",
        Effect: "Allow",
        Principal: who,
        Action: ["s3:PutObject"],
        Resource: [`arn:aws:s3:::${bucket}/${p}drills/*`],
      },
      {
        Sid: "StrongboxReaderNoDelete",
        Effect: "Deny",
        Principal: who,
        Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
        Resource: [objects],
      },
    );
  } else {
    statements.push(
      {
        Sid: "StrongboxPrunerList",
        Effect: "Allow",
        Principal: who,
        Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        Resource: [bucketArn],
      },
      {
        Sid: "StrongboxPrunerReadMarkers",
        Effect: "Allow",
        Principal: who,
        Action: ["s3:GetObject"],
        // complete.json, its signature and the drill reports: what retention decides on.
        Resource: [
          `arn:aws:s3:::${bucket}/${p}backups/*/complete.json`,
          `arn:aws:s3:::${bucket}/${p}backups/*/complete.json.sig`,
          `arn:aws:s3:::${bucket}/${p}drills/*`,
        ],
      },
      {
        Sid: "StrongboxPrunerDelete",
        Effect: "Allow",
        Principal: who,
        Action: ["s3:DeleteObject", "s3:AbortMultipartUpload"],
        Resource: [objects],
      },
    );
  }
  return { Version: "2012-10-17", Statement: statements };
}

import { PRINCIPAL_FORMS } from "./policy-help.js";
export { PRINCIPAL_HELP } from "./policy-help.js";

const ROLES: Role[] = ["writer", "reader", "pruner"];

/** One bucket policy (a bucket holds exactly one) with the statements of every configured role, or one role's part. */
export async function policyCommand(
  ctx: CommandContext,
  role: string | undefined,
  o: { principal: string },
): Promise<void> {
  if (role !== undefined && !ROLES.includes(role as Role))
    throw new StrongboxError("USAGE", `policy: role must be writer, reader or pruner, not '${role}'`);
  const url = ctx.config().repository.url;
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m)
    throw new StrongboxError("USAGE", `policy: the repository is ${url}, not s3://; file permissions apply instead`);
  const s3 = ctx.config().repository.s3;
  const writerReads = !!s3?.verify_after_write && !s3.credentials.reader;
  const configured = ROLES.filter((r) => s3?.credentials[r]);
  const roles = role ? [role as Role] : configured.length ? configured : ROLES;
  const statements = roles.flatMap(
    (r) =>
      policyFor(r, m[1], m[2], o.principal.replace(/ROLE/g, r), {
        objectLock: (s3?.object_lock_days ?? 0) > 0,
        writerReads,
      }).Statement,
  );
  if (o.principal.includes("ACCOUNT-ID"))
    ctx.log.warn(
      `the principal is a placeholder: replace it, or give --principal with ROLE where the role name goes. ${PRINCIPAL_FORMS}`,
    );
  if (role)
    ctx.log.warn(
      `this is only the ${role} role's part; a bucket holds ONE policy: merge these statements with the other roles' (plain 'strongbox policy' prints them merged)`,
    );
  const policy = { Version: "2012-10-17", Statement: statements };
  ctx.print(policy, JSON.stringify(policy, null, 2));
}

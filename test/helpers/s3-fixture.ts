import {
  CreateBucketCommand,
  PutBucketPolicyCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export interface S3User {
  uid: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Fixture {
  endpoint: string;
  bucket: string;
  prefix: string;
  admin: S3User; // owns the bucket
  writer: S3User;
  reader: S3User;
  pruner: S3User;
}

export function s3Client(endpoint: string, u: S3User): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

function createUser(cephDir: string, uid: string): S3User {
  const u = {
    uid,
    accessKeyId: `${uid.toUpperCase()}${randomBytes(6).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(24).toString("base64url"),
  };
  execFileSync(
    "radosgw-admin",
    [
      "-c",
      join(cephDir, "ceph.conf"),
      "user",
      "create",
      `--uid=${uid}`,
      `--display-name=${uid}`,
      `--access-key=${u.accessKeyId}`,
      `--secret-key=${u.secretAccessKey}`,
    ],
    { stdio: "ignore" },
  );
  return u;
}

/** Users for each role and a bucket whose policy gives each exactly what SPEC §5 says. */
export async function createS3Fixture(cephDir: string, endpoint: string): Promise<S3Fixture> {
  const admin = createUser(cephDir, "admin");
  const writer = createUser(cephDir, "writer");
  const reader = createUser(cephDir, "reader");
  const pruner = createUser(cephDir, "pruner");
  const bucket = "strongbox-test";
  const prefix = "spx-prod";
  const fx = { endpoint, bucket, prefix, admin, writer, reader, pruner };
  await createRoleBucket(fx, bucket);
  return fx;
}

/** A bucket owned by admin whose policy gives each role exactly what SPEC §5 says. */
export async function createRoleBucket(fx: S3Fixture, bucket: string, o: { objectLock?: boolean } = {}): Promise<void> {
  const { admin, writer, reader, pruner } = fx;
  const client = s3Client(fx.endpoint, admin);
  await client.send(
    new CreateBucketCommand({ Bucket: bucket, ...(o.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }),
  );
  // Ceph RGW answers retention queries only once the bucket has an Object Lock configuration.
  if (o.objectLock)
    await client.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" },
      }),
    );
  const arn = (u: S3User) => `arn:aws:iam:::user/${u.uid}`;
  const objects = `arn:aws:s3:::${bucket}/*`;
  const policy = {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "WriterPut",
        Effect: "Allow",
        Principal: { AWS: [arn(writer)] },
        Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        Resource: [objects],
      },
      // Never drill reports (the printed policy grants the writer backups/ and wal/ only). Tests use
      // prefixes of any depth, and Ceph RGW matches '*' without backtracking (`*backups/*` misses
      // "spx-prod-3b9f/backups/…"), so the fixture denies drills/ instead, at the top and one level down.
      {
        Sid: "WriterNoDrills",
        Effect: "Deny",
        Principal: { AWS: [arn(writer)] },
        Action: ["s3:PutObject"],
        Resource: [`arn:aws:s3:::${bucket}/drills/*`, `arn:aws:s3:::${bucket}/*/drills/*`],
      },
      {
        Sid: "WriterNoRead",
        Effect: "Deny",
        Principal: { AWS: [arn(writer)] },
        Action: ["s3:GetObject", "s3:DeleteObject"],
        Resource: [objects],
      },
      {
        Sid: "WriterNoList",
        Effect: "Deny",
        Principal: { AWS: [arn(writer)] },
        Action: ["s3:ListBucket"],
        Resource: [`arn:aws:s3:::${bucket}`],
      },
      {
        Sid: "ReaderGet",
        Effect: "Allow",
        Principal: { AWS: [arn(reader)] },
        Action: ["s3:GetObject"],
        Resource: [objects],
      },
      {
        Sid: "ReaderList",
        Effect: "Allow",
        Principal: { AWS: [arn(reader)] },
        Action: ["s3:ListBucket"],
        Resource: [`arn:aws:s3:::${bucket}`],
      },
      {
        Sid: "ReaderDrills",
        Effect: "Allow",
        Principal: { AWS: [arn(reader)] },
        Action: ["s3:PutObject"],
        Resource: [`arn:aws:s3:::${bucket}/*/drills/*`],
      },
      {
        Sid: "ReaderNoDelete",
        Effect: "Deny",
        Principal: { AWS: [arn(reader)] },
        Action: ["s3:DeleteObject"],
        Resource: [objects],
      },
      {
        Sid: "PrunerList",
        Effect: "Allow",
        Principal: { AWS: [arn(pruner)] },
        Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        Resource: [`arn:aws:s3:::${bucket}`],
      },
      {
        Sid: "PrunerGetDelete",
        Effect: "Allow",
        Principal: { AWS: [arn(pruner)] },
        Action: ["s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
        Resource: [objects],
      },
    ],
  };
  await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  client.destroy();
}

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { describeS3Error } from "./s3-client.js";

export type ProbeAction = "list" | "get" | "delete" | "put";
export type ProbeResult = "allowed" | "denied" | `error: ${string}`;

/**
 * Tries one permission without changing data: list the prefix, get/delete a key that does not
 * exist (404/204 mean allowed, 403 denied), or put a small probe object.
 */
export async function probeS3(
  client: S3Client,
  bucket: string,
  prefix: string,
  role: string,
  action: ProbeAction,
  key: string,
  endpoint?: string,
): Promise<ProbeResult> {
  const Key = prefix + key;
  try {
    if (action === "list") await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }));
    else if (action === "get") await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
    else if (action === "delete") await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    else {
      const body = Buffer.from("strongbox doctor probe\n");
      const md5 = createHash("md5").update(body).digest("base64");
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key, Body: body, ContentMD5: md5, ACL: "bucket-owner-full-control" }),
      );
    }
    return "allowed";
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    // A missing bucket is also a 404; it must not read as "allowed".
    if (e.name !== "NoSuchBucket" && (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404)) return "allowed";
    const badKey = e.name === "SignatureDoesNotMatch" || e.name === "InvalidAccessKeyId";
    if (e.$metadata?.httpStatusCode === 403 && !badKey) return "denied";
    return `error: ${describeS3Error(err, action, role, endpoint).message}`;
  }
}

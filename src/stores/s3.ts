import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { NotFoundError, StrongboxError } from "../errors.js";
import { SPOOL_PREFIX, tempName } from "./leftovers.js";
import { retry } from "./retry.js";
import { markErrors } from "./store.js";
import type { ObjectInfo, Store } from "./store.js";

export interface S3StoreOptions {
  bucket: string;
  prefix: string; // "" or "some/prefix/"
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string };
  role: string;
  /**
   * Multipart part size. 128 MiB × 10,000 parts (the S3 limit) = 1.34 TB per object.
   * Parts are spooled (ciphertext only) to `spoolDir`, so memory does not grow with part size.
   */
  partSize?: number;
  /** Parts uploaded at once; spool space used is (concurrency + 1) × partSize. */
  concurrency?: number;
  spoolDir?: string;
  objectLockDays?: number;
  attempts?: number;
}

export const DEFAULT_PART_SIZE = 128 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;

interface SpoolFile {
  path: string;
  fh: fsp.FileHandle;
  size: number;
  md5?: ReturnType<typeof createHash>;
}

/** Describes an S3 error in one line, with a hint for the usual causes. */
export function describeS3Error(err: unknown, what: string, role: string): StrongboxError {
  if (err instanceof StrongboxError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name && e.name !== "Error" ? e.name : e.code ?? "error";
  let hint = "";
  if (name === "AccessDenied" || status === 403) hint = ` — the ${role} credentials are not allowed to do this (see 'strongbox policy ${role}')`;
  else if (name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch") hint = ` — check the ${role} access key and secret`;
  else if (name === "NoSuchBucket") hint = " — the bucket does not exist";
  else if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET"].includes(e.code ?? "")) hint = " — the endpoint is unreachable";
  const st = status ? ` (HTTP ${status})` : "";
  return new StrongboxError("STORE", `s3: ${what}: ${name}${st}${hint}`, { cause: err });
}

export class S3Store implements Store {
  readonly description: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly concurrency: number;
  private readonly spoolDir: string;

  constructor(private readonly o: S3StoreOptions) {
    this.description = `s3://${o.bucket}/${o.prefix}`;
    this.partSize = Math.max(MIN_PART_SIZE, o.partSize ?? DEFAULT_PART_SIZE);
    this.concurrency = Math.max(1, o.concurrency ?? 2);
    this.spoolDir = o.spoolDir ?? tmpdir();
    const agentOptions = { keepAlive: true, maxSockets: 16 };
    // strongbox supports Node 20; the SDK's warning about its own future releases is noise in job logs.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    this.client = new S3Client({
      region: o.region,
      endpoint: o.endpoint,
      forcePathStyle: o.forcePathStyle,
      credentials: o.credentials,
      // The default CRC32 "aws-chunked" uploads corrupt objects on some S3-compatible servers.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: o.attempts ?? 4,
      // strongbox reports failures itself, once, in one line; the SDK's console chatter would duplicate them.
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      requestHandler: new NodeHttpHandler({
        connectionTimeout: 10_000,
        requestTimeout: 120_000,
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new HttpsAgent(agentOptions),
      }),
    });
  }

  private k(key: string): string {
    return this.o.prefix + key;
  }

  private lockParams(): { ObjectLockMode?: "COMPLIANCE"; ObjectLockRetainUntilDate?: Date } {
    const days = this.o.objectLockDays ?? 0;
    return days > 0 ? { ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: new Date(Date.now() + days * 86400_000) } : {};
  }

  private async newSpool(): Promise<SpoolFile> {
    const path = join(this.spoolDir, tempName(SPOOL_PREFIX)); // names its PID, so the next run can remove it after a kill -9
    const fh = await fsp.open(path, "wx+", 0o600);
    return { path, fh, size: 0, md5: (this.o.objectLockDays ?? 0) > 0 ? createHash("md5") : undefined };
  }

  private async sendPart(uploadId: string, key: string, partNumber: number, part: SpoolFile, signal?: AbortSignal): Promise<CompletedPart> {
    const res = await retry(
      () =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.o.bucket,
            Key: this.k(key),
            UploadId: uploadId,
            PartNumber: partNumber,
            ContentLength: part.size,
            ContentMD5: part.md5?.copy().digest("base64"),
            Body: createReadStream(part.path),
          }),
          { abortSignal: signal },
        ),
      { attempts: this.o.attempts ?? 5, signal },
    );
    return { PartNumber: partNumber, ETag: res.ETag };
  }

  async put(key: string, body: Readable, o: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    const spools = new Set<SpoolFile>();
    const discard = async (s: SpoolFile) => {
      spools.delete(s);
      await s.fh.close().catch(() => {});
      await fsp.unlink(s.path).catch(() => {});
    };
    let uploadId: string | undefined;
    const parts: Promise<CompletedPart>[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    let bodyError: unknown;
    let total = 0;
    const lock = this.lockParams();
    const common = { Bucket: this.o.bucket, Key: this.k(key), ACL: "bucket-owner-full-control" as const, ...lock };
    const startPart = async (s: SpoolFile) => {
      if (!uploadId) {
        const created = await retry(() => this.client.send(new CreateMultipartUploadCommand(common), { abortSignal: o.signal }), { signal: o.signal });
        uploadId = created.UploadId!;
      }
      const p = this.sendPart(uploadId, key, parts.length + 1, s, o.signal).finally(() => discard(s));
      parts.push(p);
      const tracked: Promise<void> = p.then(
        () => void inflight.delete(tracked),
        (err) => {
          failure ??= err;
          inflight.delete(tracked);
        },
      );
      inflight.add(tracked);
      // Backpressure: never more than `concurrency` parts on the wire (and on disk).
      while (inflight.size >= this.concurrency) await Promise.race(inflight);
      // Surface a failed part at once rather than after the whole stream.
      if (failure) throw failure;
    };
    try {
      let cur = await this.newSpool();
      spools.add(cur);
      for await (const chunk of markErrors(body as AsyncIterable<Buffer>, (e) => (bodyError = e))) {
        if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(chunk.length - off, this.partSize - cur.size);
          const slice = chunk.subarray(off, off + n);
          await cur.fh.write(slice, 0, n, cur.size);
          cur.md5?.update(slice);
          cur.size += n;
          off += n;
          total += n;
          if (cur.size === this.partSize) {
            await startPart(cur);
            cur = await this.newSpool();
            spools.add(cur);
          }
        }
      }
      if (!uploadId) {
        await retry(
          () =>
            this.client.send(
              new PutObjectCommand({
                ...common,
                IfNoneMatch: "*",
                ContentLength: cur.size,
                ContentMD5: cur.md5?.digest("base64"),
                Body: cur.size ? createReadStream(cur.path) : Buffer.alloc(0),
              }),
              { abortSignal: o.signal },
            ),
          { signal: o.signal },
        );
        await discard(cur);
        return { key, size: total };
      }
      if (cur.size > 0) await startPart(cur);
      else await discard(cur);
      const done = await Promise.all(parts);
      await retry(
        () =>
          this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.o.bucket,
              Key: this.k(key),
              UploadId: uploadId,
              IfNoneMatch: "*",
              MultipartUpload: { Parts: done },
            }),
            { abortSignal: o.signal },
          ),
        { signal: o.signal },
      );
      if (lock.ObjectLockMode) {
        // Some servers (Ceph RGW 16) ignore lock headers on CreateMultipartUpload: set the retention explicitly.
        await retry(
          () =>
            this.client.send(
              new PutObjectRetentionCommand({ Bucket: this.o.bucket, Key: this.k(key), Retention: { Mode: lock.ObjectLockMode, RetainUntilDate: lock.ObjectLockRetainUntilDate } }),
            ),
          { signal: o.signal },
        );
      }
      return { key, size: total };
    } catch (err) {
      body.destroy();
      await Promise.allSettled(parts);
      if (uploadId) {
        // Never leave a completable upload behind: abort it (the writer may do this, SPEC §5).
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.k(key), UploadId: uploadId }))
          .catch(() => undefined);
      }
      if (err === bodyError) throw err; // the source failed, not the store
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "PreconditionFailed" || e.$metadata?.httpStatusCode === 412) {
        throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
      }
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") {
        throw new StrongboxError("STORE", `no space left in the spool directory ${this.spoolDir} (needs ${(this.concurrency + 1) * (this.partSize / 1048576)} MiB; set TMPDIR)`);
      }
      throw describeS3Error(err, `uploading ${key}`, this.o.role);
    } finally {
      for (const s of [...spools]) await discard(s);
    }
  }

  async get(key: string, o: { signal?: AbortSignal } = {}): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }), { abortSignal: o.signal });
      return res.Body as Readable;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) throw new NotFoundError(key);
      throw describeS3Error(err, `reading ${key}`, this.o.role);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: this.k(prefix), ContinuationToken: token }),
        );
      } catch (err) {
        throw describeS3Error(err, `listing ${prefix || "/"}`, this.o.role);
      }
      for (const obj of res.Contents ?? []) {
        if (!obj.Key) continue;
        yield { key: obj.Key.slice(this.o.prefix.length), size: obj.Size ?? 0, lastModified: obj.LastModified };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }));
    } catch (err) {
      throw describeS3Error(err, `deleting ${key}`, this.o.role);
    }
  }

  async abortStaleUploads(before: Date): Promise<string[]> {
    const out: string[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.o.bucket, Prefix: this.o.prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }));
      } catch (err) {
        throw describeS3Error(err, "listing multipart uploads", this.o.role);
      }
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: u.Key, UploadId: u.UploadId }));
          out.push(u.Key.slice(this.o.prefix.length));
        } catch (err) {
          throw describeS3Error(err, `aborting the multipart upload of ${u.Key}`, this.o.role);
        }
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      idMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return out;
  }

  /**
   * Tries one permission without changing data: list the prefix, get/delete a key that does not
   * exist (404/204 mean allowed, 403 denied), or put a small probe object.
   */
  async probe(action: "list" | "get" | "delete" | "put", key: string): Promise<"allowed" | "denied" | `error: ${string}`> {
    try {
      if (action === "list") await this.client.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: this.o.prefix, MaxKeys: 1 }));
      else if (action === "get") await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }));
      else if (action === "delete") await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }));
      else {
        const body = Buffer.from("strongbox doctor probe\n");
        const md5 = createHash("md5").update(body).digest("base64");
        await this.client.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: this.k(key), Body: body, ContentMD5: md5, ACL: "bucket-owner-full-control" }));
      }
      return "allowed";
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return "allowed";
      const badKey = e.name === "SignatureDoesNotMatch" || e.name === "InvalidAccessKeyId";
      if (e.$metadata?.httpStatusCode === 403 && !badKey) return "denied";
      return `error: ${describeS3Error(err, action, this.o.role).message}`;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectRetentionCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import type { Readable } from "node:stream";
import { hashFile } from "../codecs/hashing.js";
import { StrongboxError } from "../errors.js";
import { describeSystemError, isNetworkError, isSystemError } from "../system-error.js";
import { DEFAULT_RETRY, retry, type RetryBudget } from "./retry.js";
import { createS3Client, DEFAULT_TIMEOUTS, describeS3Error, type S3Timeouts } from "./s3-client.js";
import { resumableGet } from "./s3-get.js";
import { probeS3, type ProbeAction, type ProbeResult } from "./s3-probe.js";
import { watchedUpload } from "./s3-upload-watch.js";
import { discardSpool, newSpool, type SpoolFile } from "./spool.js";
import { markErrors } from "./store.js";
import type { ObjectInfo, PutOptions, Store } from "./store.js";

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
  timeouts?: S3Timeouts;
  retry?: RetryBudget;
  /**
   * Credentials that may HEAD the objects (the reader's, or the writer's when the operator granted it
   * s3:GetObject): after each upload, strongbox checks that the object is really stored, with our size
   * and ETag (MD5), and re-sends a single-part object that was acknowledged but not stored.
   */
  verifyCredentials?: { accessKeyId: string; secretAccessKey: string };
}

export const DEFAULT_PART_SIZE = 128 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

/** The server may have acted on the request: the answer, not the request, may be what was lost. A refused connection never reached it. */
const outcomeUnknown = (err: unknown) =>
  (statusOf(err) === undefined &&
    !["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"].includes((err as { code?: string })?.code ?? "")) ||
  statusOf(err)! >= 500;

export class S3Store implements Store {
  readonly description: string;
  private readonly client: S3Client;
  readonly partSize: number;
  /** Parts whose given MD5 was missing, so that the part was read back from its spool to hash it. */
  partsHashedAgain = 0;
  private readonly concurrency: number;
  private readonly spoolDir: string;
  private readonly timeouts: S3Timeouts;
  private readonly budget: RetryBudget;
  private readonly verifier?: S3Client;

  constructor(private readonly o: S3StoreOptions) {
    this.description = `s3://${o.bucket}/${o.prefix}`;
    this.partSize = Math.max(MIN_PART_SIZE, o.partSize ?? DEFAULT_PART_SIZE);
    this.concurrency = Math.max(1, o.concurrency ?? 2);
    this.spoolDir = o.spoolDir ?? tmpdir();
    this.timeouts = o.timeouts ?? DEFAULT_TIMEOUTS;
    this.budget = o.retry ?? DEFAULT_RETRY;
    const conn = { endpoint: o.endpoint, region: o.region, forcePathStyle: o.forcePathStyle, timeouts: this.timeouts };
    this.client = createS3Client({ ...conn, credentials: o.credentials });
    this.verifier = o.verifyCredentials ? createS3Client({ ...conn, credentials: o.verifyCredentials }) : undefined;
  }

  /** An S3 error of this store in one line: its role's hints, and its own endpoint (a run may open two stores). */
  private describe(err: unknown, what: string, role = this.o.role): StrongboxError {
    return describeS3Error(err, what, role, this.o.endpoint);
  }

  /** One S3 call under the retry budget; `attempt` is 1-based, for callers that must know whether an earlier attempt may have landed. */
  private putRetention(
    key: string,
    retention: { Mode: "COMPLIANCE" | "GOVERNANCE"; RetainUntilDate: Date | undefined },
    signal?: AbortSignal,
  ): Promise<unknown> {
    const command = () =>
      new PutObjectRetentionCommand({ Bucket: this.o.bucket, Key: this.k(key), Retention: retention });
    return this.call(() => this.client.send(command(), { abortSignal: signal }), signal);
  }

  private call<T>(fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retry(fn, { ...this.budget, signal });
  }

  private k(key: string): string {
    return this.o.prefix + key;
  }

  private lockParams(): { ObjectLockMode?: "COMPLIANCE"; ObjectLockRetainUntilDate?: Date } {
    const days = this.o.objectLockDays ?? 0;
    return days > 0
      ? { ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: new Date(Date.now() + days * 86400_000) }
      : {};
  }

  async extendRetention(key: string, days: number, o: { signal?: AbortSignal } = {}): Promise<void> {
    if (days <= 0) return;
    const retention = { Mode: "COMPLIANCE" as const, RetainUntilDate: new Date(Date.now() + days * 86400_000) };
    try {
      await this.putRetention(key, retention, o.signal);
    } catch (err) {
      throw this.describe(err, `extending the Object Lock retention of ${key}`);
    }
  }

  private async sendPart(
    uploadId: string,
    key: string,
    partNumber: number,
    part: SpoolFile,
    md5: Buffer,
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    const res = await this.call(async () => {
      const w = watchedUpload(part.path, `uploading ${key} part ${partNumber}`, this.timeouts.idleMs, signal);
      try {
        const cmd = new UploadPartCommand({
          Bucket: this.o.bucket,
          Key: this.k(key),
          UploadId: uploadId,
          PartNumber: partNumber,
          ContentLength: part.size,
          ContentMD5: md5.toString("base64"),
          Body: w.body,
        });
        return await this.client.send(cmd, { abortSignal: w.signal });
      } catch (err) {
        throw w.reason(err);
      } finally {
        w.stop();
      }
    }, signal);
    return { PartNumber: partNumber, ETag: res.ETag };
  }

  /**
   * A single-part upload, If-None-Match: * and Content-MD5. A retry that gets 412 after an attempt
   * whose outcome is unknown (reset, timeout, 5xx: the response may be what was lost) is our own
   * earlier attempt having landed: keys are unique to this run (the id has a random tail and the
   * repository lock keeps one writer), and Content-MD5 makes the server store our exact bytes or
   * nothing. A 412 on a first attempt is a real conflict.
   */
  private async putSingle(
    key: string,
    spool: SpoolFile,
    md5: Buffer,
    common: Pick<PutObjectCommandInput, "Bucket" | "Key" | "ACL">,
    signal?: AbortSignal,
  ): Promise<void> {
    let mayHaveLanded = false;
    await this.call(async () => {
      const w = spool.size ? watchedUpload(spool.path, `uploading ${key}`, this.timeouts.idleMs, signal) : undefined;
      try {
        const cmd = new PutObjectCommand({
          ...common,
          IfNoneMatch: "*",
          ContentLength: spool.size,
          ContentMD5: md5.toString("base64"),
          Body: w?.body ?? Buffer.alloc(0),
        });
        await this.client.send(cmd, { abortSignal: w?.signal ?? signal });
      } catch (e) {
        const err = w ? w.reason(e) : e;
        if (!(statusOf(err) === 412 && mayHaveLanded)) {
          if (outcomeUnknown(err)) mayHaveLanded = true;
          throw err;
        }
      } finally {
        w?.stop();
      }
      // Inside the retry: an upload acknowledged but not stored is sent again.
      await this.checkStored(key, spool.size, `"${md5.toString("hex")}"`, signal);
    }, signal);
  }

  /**
   * With verifyCredentials: HEADs the object and compares size and ETag, because no checksum the
   * server verifies can reveal a write it acknowledged and then dropped. Without them the writer
   * cannot read; such a loss then shows up in the reader's verify or drill (exit 3), never as a
   * complete backup when complete.json itself is the one lost.
   */
  private async checkStored(key: string, size: number, etag: string, signal?: AbortSignal): Promise<void> {
    if (!this.verifier) return;
    const verifier = this.verifier;
    let head;
    try {
      head = await this.call(
        () =>
          verifier.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }), { abortSignal: signal }),
        signal,
      );
    } catch (err) {
      if (statusOf(err) === 404) {
        const lost = new StrongboxError(
          "STORE",
          `s3: uploading ${key}: the server acknowledged the upload but did not store it (lost write, found by verify_after_write)`,
        );
        throw Object.assign(lost, { transient: true });
      }
      throw this.describe(err, `checking ${key} after its upload (verify_after_write)`, "verify_after_write");
    }
    const comparable = /^"[0-9a-f]{32}(-\d+)?"$/.test(head.ETag ?? "");
    if (head.ContentLength !== size || (comparable && head.ETag !== etag)) {
      throw new StrongboxError(
        "STORE",
        `s3: uploading ${key}: the stored object is not what was sent (size ${head.ContentLength} vs ${size}, ETag ${head.ETag} vs ${etag})`,
      );
    }
  }

  /**
   * The writer cannot read, but it can ask whether a key exists: a PUT with If-None-Match: * is
   * refused (412) when the object is stored. A 2xx means it was not there: it has just been sent
   * again, and that copy is as unconfirmed as the first, so the caller asks a second time. A server
   * that acknowledges and drops every write never answers 412: never confirmed.
   */
  async confirmStored(key: string, body: Buffer, o: { signal?: AbortSignal } = {}): Promise<boolean | undefined> {
    const days = this.o.objectLockDays ?? 0;
    if (days > 0) {
      // Object Lock means a versioned bucket, where a conditional PUT may just add a version (Ceph RGW
      // does). The writer holds s3:PutObjectRetention there: setting the retention the object already
      // has (it only lengthens it by the seconds since the upload) succeeds on a stored object, 404s on a missing one.
      try {
        const retention = { Mode: "COMPLIANCE" as const, RetainUntilDate: new Date(Date.now() + days * 86400_000) };
        await this.putRetention(key, retention, o.signal);
        return true;
      } catch (err) {
        return statusOf(err) === 404 ? false : undefined;
      }
    }
    const md5 = createHash("md5").update(body).digest("base64");
    try {
      await this.call(
        () =>
          this.client.send(
            new PutObjectCommand({
              Bucket: this.o.bucket,
              Key: this.k(key),
              ACL: "bucket-owner-full-control",
              ...this.lockParams(),
              IfNoneMatch: "*",
              ContentLength: body.length,
              ContentMD5: md5,
              Body: body,
            }),
            { abortSignal: o.signal },
          ),
        o.signal,
      );
      return false;
    } catch (err) {
      if (statusOf(err) === 412) return true;
      return undefined;
    }
  }

  async put(key: string, body: Readable, o: PutOptions = {}): Promise<ObjectInfo> {
    // The parts' MD5s from where the body was made, when it cut them at this store's part size.
    const given = o.partMd5?.size === this.partSize ? o.partMd5 : undefined;
    const digestOf = (s: SpoolFile, index: number) => {
      if (!given) return s.md5.digest();
      const d = given.get(index);
      if (d) return d;
      this.partsHashedAgain++; // should stay 0: tests check that a backup's digests all arrive
      return hashFile(s.path, "md5"); // the part as spooled
    };
    const spools = new Set<SpoolFile>();
    const discard = (s: SpoolFile) => (spools.delete(s), discardSpool(s));
    let uploadId: string | undefined;
    const parts: Promise<CompletedPart>[] = [];
    const partMd5s: Buffer[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    let bodyError: unknown;
    let total = 0;
    const lock = this.lockParams();
    const common = { Bucket: this.o.bucket, Key: this.k(key), ACL: "bucket-owner-full-control" as const, ...lock };
    const startPart = async (s: SpoolFile) => {
      // Backpressure: never more than `concurrency` parts on the wire, and one more filling its spool
      // while they go (so (concurrency + 1) × partSize on disk). Waiting here, before this part goes,
      // and not after, keeps `concurrency` parts going while the next one is produced.
      while (inflight.size >= this.concurrency) await Promise.race(inflight);
      // Surface a failed part at once rather than after the whole stream.
      if (failure) throw failure;
      // A CreateMultipartUpload whose answer was lost leaves an empty upload; prune aborts stale ones.
      uploadId ??= (
        await this.call(
          () => this.client.send(new CreateMultipartUploadCommand(common), { abortSignal: o.signal }),
          o.signal,
        )
      ).UploadId!;
      const md5 = await digestOf(s, parts.length);
      partMd5s.push(md5);
      const p = this.sendPart(uploadId, key, parts.length + 1, s, md5, o.signal).finally(() => discard(s));
      parts.push(p);
      const tracked: Promise<void> = p.then(
        () => void inflight.delete(tracked),
        (err) => {
          failure ??= err;
          inflight.delete(tracked);
        },
      );
      inflight.add(tracked);
    };
    try {
      let cur = await newSpool(this.spoolDir);
      spools.add(cur);
      for await (const chunk of markErrors(body as AsyncIterable<Buffer>, (e) => (bodyError = e))) {
        if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
        if (failure) throw failure;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(chunk.length - off, this.partSize - cur.size);
          const slice = chunk.subarray(off, off + n);
          await cur.fh.write(slice, 0, n, cur.size);
          if (!given) cur.md5.update(slice);
          cur.size += n;
          off += n;
          total += n;
          if (cur.size === this.partSize) {
            await startPart(cur);
            cur = await newSpool(this.spoolDir);
            spools.add(cur);
          }
        }
      }
      if (!uploadId) {
        await this.putSingle(key, cur, await digestOf(cur, 0), common, o.signal);
        await discard(cur);
        return { key, size: total };
      }
      if (cur.size > 0) await startPart(cur);
      else await discard(cur);
      const done = await Promise.all(parts);
      let mayHaveLanded = false;
      await this.call(async () => {
        try {
          const cmd = new CompleteMultipartUploadCommand({
            Bucket: this.o.bucket,
            Key: this.k(key),
            UploadId: uploadId,
            IfNoneMatch: "*",
            MultipartUpload: { Parts: done },
          });
          await this.client.send(cmd, { abortSignal: o.signal });
        } catch (err) {
          // The upload is gone (or the key taken) after an attempt that may have landed: ours completed it (see putSingle).
          const gone =
            statusOf(err) === 412 || statusOf(err) === 404 || (err as { name?: string }).name === "NoSuchUpload";
          if (gone && mayHaveLanded) return;
          if (outcomeUnknown(err)) mayHaveLanded = true;
          throw err;
        }
      }, o.signal);
      const etag = `"${createHash("md5").update(Buffer.concat(partMd5s)).digest("hex")}-${partMd5s.length}"`;
      await this.checkStored(key, total, etag, o.signal); // outside the retry: the parts are gone, the backup fails
      if (lock.ObjectLockMode) {
        // Some servers (Ceph RGW 16) ignore lock headers on CreateMultipartUpload: set the retention explicitly.
        const retention = { Mode: lock.ObjectLockMode, RetainUntilDate: lock.ObjectLockRetainUntilDate };
        await this.putRetention(key, retention, o.signal);
      }
      return { key, size: total };
    } catch (err) {
      body.destroy();
      await Promise.allSettled(parts);
      if (uploadId) {
        // Never leave a completable upload behind: abort it (the writer may do this, README, "S3 setup and least privilege").
        // Idempotent, so tried again: the one attempt could time out on a loaded or flaky server.
        const abort = new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.k(key), UploadId: uploadId });
        for (let attempt = 1; attempt <= 3; attempt++)
          if (
            await this.client.send(abort).then(
              () => true,
              () => false,
            )
          )
            break;
      }
      if (err === bodyError) throw err; // the source failed, not the store
      if (statusOf(err) === 412 || (err as { name?: string }).name === "PreconditionFailed") {
        throw new StrongboxError("STORE", `object already exists, not overwriting: ${key}`);
      }
      if (isSystemError(err) && !isNetworkError(err)) {
        // The spool directory (TMPDIR) failed, not the store: "disk full (ENOSPC) writing upload parts to /tmp (…)".
        const full = ["ENOSPC", "EDQUOT"].includes(err.code!);
        const what = describeSystemError(
          err,
          full || !err.path ? { doing: "writing upload parts to the spool directory", path: this.spoolDir } : {},
        );
        throw new StrongboxError(
          "STORE",
          full
            ? `${what} (needs ${(this.concurrency + 1) * (this.partSize / 1048576)} MiB free; set TMPDIR to a larger disk)`
            : what,
          { cause: err },
        );
      }
      throw this.describe(err, `uploading ${key}`);
    } finally {
      for (const s of [...spools]) await discard(s);
    }
  }

  get(key: string, o: { signal?: AbortSignal } = {}): Promise<Readable> {
    const g = {
      client: this.client,
      bucket: this.o.bucket,
      s3Key: this.k(key),
      key,
      role: this.o.role,
      endpoint: this.o.endpoint,
    };
    return resumableGet({ ...g, budget: this.budget, idleMs: this.timeouts.idleMs, signal: o.signal });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let res;
      try {
        const cmd = new ListObjectsV2Command({
          Bucket: this.o.bucket,
          Prefix: this.k(prefix),
          ContinuationToken: token,
        });
        res = await this.call(() => this.client.send(cmd));
      } catch (err) {
        throw this.describe(err, `listing ${prefix || "/"}`);
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
      await this.call(() => this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) })));
    } catch (err) {
      throw this.describe(err, `deleting ${key}`);
    }
  }

  async abortStaleUploads(before: Date): Promise<string[]> {
    const out: string[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      let res;
      try {
        const cmd = new ListMultipartUploadsCommand({
          Bucket: this.o.bucket,
          Prefix: this.o.prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: idMarker,
        });
        res = await this.call(() => this.client.send(cmd));
      } catch (err) {
        throw this.describe(err, "listing multipart uploads");
      }
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
        try {
          const cmd = new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: u.Key, UploadId: u.UploadId });
          await this.call(() => this.client.send(cmd));
          out.push(u.Key.slice(this.o.prefix.length));
        } catch (err) {
          throw this.describe(err, `aborting the multipart upload of ${u.Key}`);
        }
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      idMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return out;
  }

  /** Tries one permission without changing data (doctor). */
  probe(action: ProbeAction, key: string): Promise<ProbeResult> {
    return probeS3(this.client, this.o.bucket, this.o.prefix, this.o.role, action, key, this.o.endpoint);
  }

  destroy(): void {
    this.client.destroy();
    this.verifier?.destroy();
  }
}

import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { NotFoundError, StrongboxError } from "../errors.js";
import { backoffDelay, isTransient, retry, type RetryBudget } from "./retry.js";
import { describeS3Error, stallError } from "./s3-client.js";

export interface ResumableGet {
  client: S3Client;
  bucket: string;
  /** The full S3 key (prefix included) and the repository key used in messages. */
  s3Key: string;
  key: string;
  role: string;
  /** The store's endpoint, named by a connection error. */
  endpoint?: string;
  budget: RetryBudget;
  idleMs: number;
  signal?: AbortSignal;
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

/**
 * GETs an object as a stream that survives a connection dropped mid-body: it resumes with a Range
 * request from the byte reached, pinned to the first response's ETag (If-Match), so the bytes can
 * only ever come from one version of the object. A body that stops arriving for idleMs is a stall.
 */
export async function resumableGet(g: ResumableGet): Promise<Readable> {
  const send = (extra: { Range?: string; IfMatch?: string }) =>
    g.client.send(new GetObjectCommand({ Bucket: g.bucket, Key: g.s3Key, ...extra }), { abortSignal: g.signal });
  let first: GetObjectCommandOutput;
  try {
    first = await retry(() => send({}), { ...g.budget, signal: g.signal });
  } catch (err) {
    if ((err as { name?: string }).name === "NoSuchKey" || statusOf(err) === 404) throw new NotFoundError(g.key);
    throw describeS3Error(err, `reading ${g.key}`, g.role, g.endpoint);
  }
  const etag = first.ETag;
  const length = first.ContentLength;

  let res: GetObjectCommandOutput | undefined = first;
  async function* chunks(): AsyncGenerator<Buffer> {
    let offset = 0;
    let failures = 0;
    for (;;) {
      const body = res?.Body as Readable | undefined;
      try {
        if (!body) throw Object.assign(new Error("no response body"), { transient: true });
        const it = body[Symbol.asyncIterator]();
        for (;;) {
          const timer = setTimeout(() => body.destroy(stallError(`reading ${g.key}`, g.idleMs)), g.idleMs);
          let next: IteratorResult<Buffer>;
          try {
            next = await it.next();
          } finally {
            clearTimeout(timer);
          }
          if (next.done) break;
          offset += next.value.length;
          failures = 0; // progress: a flaky link that keeps delivering is not out of budget
          yield next.value;
        }
        if (length !== undefined && offset !== length) {
          throw Object.assign(new Error(`body ended at byte ${offset} of ${length}`), {
            code: "ECONNRESET",
            transient: offset < length,
          });
        }
        return;
      } catch (err) {
        body?.destroy();
        if (g.signal?.aborted) throw g.signal.reason ?? err;
        if (length !== undefined && offset === length && isTransient(err)) return; // every byte arrived; only the goodbye was lost
        failures++;
        if (!isTransient(err) || failures >= g.budget.attempts) {
          if (failures > 1) Object.assign(err as object, { attempts: failures });
          throw describeS3Error(err, `reading ${g.key} (at byte ${offset} of ${length ?? "?"})`, g.role, g.endpoint);
        }
        await sleep(backoffDelay(failures, g.budget.baseDelayMs, g.budget.maxDelayMs), undefined, { signal: g.signal });
        try {
          res = await send({ Range: `bytes=${offset}-`, IfMatch: etag });
          if (!res.ContentRange?.startsWith(`bytes ${offset}-`)) {
            throw new StrongboxError(
              "STORE",
              `s3: reading ${g.key}: the server ignored the Range request (resuming at byte ${offset})`,
            );
          }
        } catch (err) {
          if (statusOf(err) === 412 || statusOf(err) === 404) {
            throw new StrongboxError(
              "STORE",
              `s3: reading ${g.key}: the object changed or vanished while it was being read (at byte ${offset})`,
            );
          }
          if (err instanceof StrongboxError || !isTransient(err))
            throw describeS3Error(err, `reading ${g.key}`, g.role, g.endpoint);
          res = undefined; // counted as one more failure on the next turn
        }
      }
    }
  }
  const out = Readable.from(chunks(), { objectMode: false });
  // A reader that stops early (an integrity failure, an abort) must not leave the socket open.
  out.once("close", () => (res?.Body as Readable | undefined)?.destroy());
  return out;
}

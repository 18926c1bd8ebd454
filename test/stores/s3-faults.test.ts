// S3Store against real Ceph RGW through the fault proxy: every scenario ends in intact data
// (read back directly from RGW, around the proxy) or in a clear error naming the object, in bounded time.
import { ListMultipartUploadsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { NotFoundError } from "../../src/errors.js";
import { S3Store, type S3StoreOptions } from "../../src/stores/s3.js";
import { startS3FaultProxy, type Rule, type S3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { s3Client, type S3User } from "../helpers/s3-fixture.js";

const s3 = inject("s3");
const FAST = { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 };
// Generous enough that a busy RGW never causes a retry the test did not inject; stall tests use STALL.
const TIMEOUTS = { connectMs: 5000, idleMs: 8000, requestMs: 30_000 };
const STALL = { connectMs: 2000, idleMs: 1500, requestMs: 20_000 };

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function chunked(data: Buffer, size = 256 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      this.push(off < data.length ? data.subarray(off, (off += size)) : null);
    },
  });
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.skipIf(!s3)("S3Store under injected faults (fault proxy → Ceph RGW)", () => {
  let proxy: S3FaultProxy;
  const run = `faults-${randomBytes(3).toString("hex")}`;
  const prefix = `${s3!.prefix}/${run}/`;
  let n = 0;
  const key = (name: string) => `backups/${++n}-${name}`;
  const stores: S3Store[] = [];
  const store = (user: S3User, o: Partial<S3StoreOptions> = {}, endpoint = proxy.endpoint) => {
    const s = new S3Store({
      bucket: s3!.bucket,
      prefix,
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
      role: user.uid,
      partSize: 5 * 1024 * 1024,
      retry: FAST,
      timeouts: TIMEOUTS,
      ...o,
    });
    stores.push(s);
    return s;
  };
  /** Reads an object straight from RGW (no proxy) with the reader's credentials. */
  const direct = async (k: string) => readAll(await store(s3!.reader, {}, s3!.endpoint).get(k));
  const withRules = (rules: Rule[]) => {
    proxy.rules(rules);
    proxy.log.length = 0;
  };
  const faults = () => proxy.log.filter((e) => e.fault).length;
  const timed = async <T>(p: Promise<T>) => {
    const t0 = Date.now();
    const r = await p.then(
      (v) => ({ ok: true as const, v }),
      (e: Error) => ({ ok: false as const, e }),
    );
    return { ...r, ms: Date.now() - t0 };
  };

  beforeAll(async () => {
    proxy = await startS3FaultProxy(s3!.endpoint);
  });
  afterAll(async () => {
    for (const s of stores) s.destroy();
    console.log(`[s3 fault proxy] store scenarios: ${proxy.injected} faults injected`);
    await proxy.close();
  });

  it("the proxy forwards untouched: SigV4 holds with the proxy's Host header", async () => {
    withRules([]);
    const k = key("plain");
    const data = randomBytes(1000);
    await store(s3!.writer).put(k, Readable.from([data]));
    expect(await direct(k)).toEqual(data);
    expect(proxy.log.map((e) => e.method)).toEqual(["PUT"]);
  });

  it("500s on a single-part PUT are retried: the object lands intact", async () => {
    const k = key("five-hundreds");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "status", status: 500 }, times: 3 }]);
    const data = randomBytes(300_000);
    await store(s3!.writer).put(k, chunked(data));
    expect(sha(await direct(k))).toBe(sha(data));
    expect(faults()).toBe(3);
    expect(proxy.log.filter((e) => e.method === "PUT")).toHaveLength(4);
  });

  it("503 SlowDown past the budget: a one-line error naming the object and the attempts, and nothing stored", async () => {
    const k = key("slowdown");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "status", status: 503 }, times: 100 }]);
    const r = await timed(store(s3!.writer).put(k, Readable.from([randomBytes(1000)])));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.e.message).toMatch(new RegExp(`uploading ${k}: SlowDown \\(HTTP 503\\).*gave up after 4 attempts`));
    expect(r.e.message).not.toContain("\n");
    expect(proxy.log.filter((e) => e.method === "PUT")).toHaveLength(4);
    await expect(direct(k)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a 403 is never retried", async () => {
    const k = key("denied");
    withRules([
      {
        method: "PUT",
        path: new RegExp(`${k}$`),
        fault: { kind: "status", status: 403, code: "AccessDenied" },
        times: 100,
      },
    ]);
    await expect(store(s3!.writer).put(k, Readable.from([Buffer.from("x")]))).rejects.toThrow(
      /AccessDenied \(HTTP 403\).*not allowed/,
    );
    expect(proxy.log).toHaveLength(1);
  });

  it("a connection reset in the middle of a part is retried: the multipart object lands intact", async () => {
    const k = key("reset-mid-part");
    withRules([
      {
        method: "PUT",
        path: new RegExp(`${k}$`),
        query: /partNumber=2/,
        fault: { kind: "reset-request", afterBytes: 1024 * 1024 },
        times: 2,
      },
    ]);
    const data = randomBytes(12 * 1024 * 1024 + 777);
    await store(s3!.writer).put(k, chunked(data));
    expect(sha(await direct(k))).toBe(sha(data));
    expect(faults()).toBe(2);
  });

  it("two parts held on the wire: the third is produced meanwhile, and no fourth (concurrency 2, 3 spools)", async () => {
    const k = key("in-flight");
    const MiB = 1024 * 1024;
    // The server reads parts 1 and 2 whole and does not answer (until the test aborts the upload).
    withRules([
      { method: "PUT", path: new RegExp(`${k}$`), query: /partNumber=[12](&|$)/, fault: { kind: "stall" }, times: 2 },
    ]);
    let pulled = 0;
    const body = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (pulled >= 40 * MiB) return void this.push(null);
        pulled += 256 * 1024;
        this.push(Buffer.alloc(256 * 1024, 7));
      },
    });
    const ac = new AbortController();
    const slowTimeouts = { ...TIMEOUTS, idleMs: 120_000, requestMs: 120_000 }; // no retry while the test looks
    const put = store(s3!.writer, { concurrency: 2, timeouts: slowTimeouts })
      .put(k, body, { signal: ac.signal })
      .catch((e: Error) => e);
    try {
      await vi.waitFor(() => expect(faults()).toBe(2), { timeout: 30_000, interval: 50 });
      await vi.waitFor(() => expect(pulled).toBeGreaterThanOrEqual(15 * MiB), { timeout: 30_000, interval: 50 });
      // The third part is full and waits for a slot: the body is not read further (its buffer aside).
      expect(pulled).toBeLessThanOrEqual(15 * MiB + 512 * 1024);
    } finally {
      ac.abort();
    }
    expect(await put).toBeInstanceOf(Error);
  });

  it("a server that accepts and never answers: a timeout naming the object within the bound", async () => {
    const k = key("stall");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "stall" }, times: 100 }]);
    const r = await timed(
      store(s3!.writer, { retry: { ...FAST, attempts: 2 }, timeouts: STALL }).put(
        k,
        Readable.from([randomBytes(2000)]),
      ),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.e.message).toMatch(
      new RegExp(
        `uploading ${k}: timeout — no bytes moved for 1\\.5 s \\(repository\\.s3\\.timeouts\\.idle\\), gave up after 2 attempts`,
      ),
    );
    // 2 attempts × 1.5 s idle + backoff; far below it, and far from "hangs until SIGTERM".
    expect(r.ms).toBeLessThan(10_000);
  });

  it("a server that stops reading mid-body: the upload watchdog names the object and the part", async () => {
    const k = key("stall-mid-body");
    withRules([
      {
        method: "PUT",
        path: new RegExp(`${k}$`),
        query: /partNumber=1/,
        fault: { kind: "stall-request", afterBytes: 512 * 1024 },
        times: 100,
      },
    ]);
    const r = await timed(
      store(s3!.writer, { retry: { ...FAST, attempts: 2 }, timeouts: STALL }).put(
        k,
        chunked(randomBytes(6 * 1024 * 1024)),
      ),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.e.message).toMatch(
      new RegExp(`uploading ${k}: timeout — no bytes moved for [\\d.]+ s \\(repository\\.s3\\.timeouts\\.idle\\)`),
    );
    expect(r.ms).toBeLessThan(15_000);
  });

  it("a link that trickles (never idle, never done): the request timeout really throws", async () => {
    const k = key("trickle");
    withRules([
      { method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "slow", bytesPerSec: 64 * 1024 }, times: 100 },
    ]);
    const slowStore = store(s3!.writer, {
      retry: { ...FAST, attempts: 1 },
      timeouts: { ...STALL, idleMs: 10_000, requestMs: 2000 },
    });
    const r = await timed(slowStore.put(k, Readable.from([randomBytes(1024 * 1024)])));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.e.message).toBe(`s3: uploading ${k}: timeout — no answer within 2 s (repository.s3.timeouts.request)`);
    expect(r.ms).toBeLessThan(8_000);
  });

  it("a lost response to a single-part PUT: the retry's 412 is our own write, not a failure", async () => {
    const k = key("lost-response");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "lost-response" } }]);
    const data = randomBytes(50_000);
    await store(s3!.writer).put(k, Readable.from([data]));
    expect(await direct(k)).toEqual(data);
    expect(proxy.log.filter((e) => e.method === "PUT")).toHaveLength(2);
  });

  it("a lost response to CompleteMultipartUpload: the retry finds the upload done, not a failure", async () => {
    const k = key("lost-complete");
    withRules([{ method: "POST", path: new RegExp(`${k}$`), query: /uploadId/, fault: { kind: "lost-response" } }]);
    const data = randomBytes(11 * 1024 * 1024);
    await store(s3!.writer).put(k, chunked(data));
    expect(sha(await direct(k))).toBe(sha(data));
    expect(proxy.log.filter((e) => e.method === "POST" && /uploadId/.test(e.query))).toHaveLength(2);
  });

  it("a lost response to an UploadPart and 429s on CreateMultipartUpload: retried, intact", async () => {
    const k = key("lost-part");
    withRules([
      {
        method: "POST",
        path: new RegExp(`${k}$`),
        query: /^uploads/,
        fault: { kind: "status", status: 429, code: "SlowDown" },
        times: 2,
      },
      { method: "PUT", path: new RegExp(`${k}$`), query: /partNumber=1/, fault: { kind: "lost-response" } },
    ]);
    const data = randomBytes(6 * 1024 * 1024);
    await store(s3!.writer).put(k, chunked(data));
    expect(sha(await direct(k))).toBe(sha(data));
    expect(faults()).toBe(3);
  });

  it("a 412 on a first attempt is a real conflict: someone else's object is never taken for ours", async () => {
    const k = key("taken");
    const admin = s3Client(s3!.endpoint, s3!.admin);
    await admin.send(new PutObjectCommand({ Bucket: s3!.bucket, Key: prefix + k, Body: "someone else" }));
    admin.destroy();
    withRules([]);
    await expect(store(s3!.writer).put(k, Readable.from([Buffer.from("ours")]))).rejects.toThrow(
      `object already exists, not overwriting: ${k}`,
    );
  });

  it("a PUT answered 200 but never stored goes unnoticed by a writer that cannot read (the documented limit)", async () => {
    const k = key("dropped-unverified");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "drop-put" } }]);
    await store(s3!.writer).put(k, Readable.from([randomBytes(1000)]));
    await expect(direct(k)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("verify_after_write: a PUT answered 200 but never stored is found and sent again", async () => {
    const k = key("dropped-verified");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "drop-put" } }]);
    const data = randomBytes(4000);
    const verifyCredentials = { accessKeyId: s3!.reader.accessKeyId, secretAccessKey: s3!.reader.secretAccessKey };
    await store(s3!.writer, { verifyCredentials }).put(k, Readable.from([data]));
    expect(await direct(k)).toEqual(data);
    expect(proxy.log.map((e) => e.method)).toEqual(["PUT", "HEAD", "PUT", "HEAD"]);
  });

  it("verify_after_write: a server that always drops the write ends in a lost-write error, not a silent success", async () => {
    const k = key("dropped-always");
    withRules([{ method: "PUT", path: new RegExp(`${k}$`), fault: { kind: "drop-put" }, times: 100 }]);
    const verifyCredentials = { accessKeyId: s3!.reader.accessKeyId, secretAccessKey: s3!.reader.secretAccessKey };
    await expect(store(s3!.writer, { verifyCredentials }).put(k, Readable.from([randomBytes(10)]))).rejects.toThrow(
      `s3: uploading ${k}: the server acknowledged the upload but did not store it (lost write, found by verify_after_write)`,
    );
  });

  it("verify_after_write: a CompleteMultipartUpload answered 200 but never done fails the upload, and leaves no open upload", async () => {
    const k = key("dropped-complete");
    withRules([{ method: "POST", path: new RegExp(`${k}$`), query: /uploadId/, fault: { kind: "drop-put" } }]);
    const verifyCredentials = { accessKeyId: s3!.reader.accessKeyId, secretAccessKey: s3!.reader.secretAccessKey };
    await expect(
      store(s3!.writer, { verifyCredentials }).put(k, chunked(randomBytes(6 * 1024 * 1024))),
    ).rejects.toThrow(
      `s3: uploading ${k}: the server acknowledged the upload but did not store it (lost write, found by verify_after_write)`,
    );
    await expect(direct(k)).rejects.toBeInstanceOf(NotFoundError);
    const admin = s3Client(s3!.endpoint, s3!.admin);
    const open = await admin.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: prefix + k }));
    admin.destroy();
    expect(open.Uploads ?? []).toHaveLength(0);
    expect(proxy.log.filter((e) => e.method === "DELETE")).toHaveLength(1); // the abort
  });

  it("verify_after_write checks a multipart object's size and ETag too", async () => {
    const k = key("verified-multipart");
    withRules([]);
    const data = randomBytes(11 * 1024 * 1024);
    const verifyCredentials = { accessKeyId: s3!.reader.accessKeyId, secretAccessKey: s3!.reader.secretAccessKey };
    await store(s3!.writer, { verifyCredentials }).put(k, chunked(data));
    expect(proxy.log.filter((e) => e.method === "HEAD")).toHaveLength(1);
    expect(sha(await direct(k))).toBe(sha(data));
  });

  describe("GET", () => {
    const big = randomBytes(3 * 1024 * 1024 + 5);
    const k = `backups/get-source.bin`;
    beforeAll(async () => {
      proxy.rules([]);
      await store(s3!.writer, {}, s3!.endpoint).put(k, chunked(big));
    });

    it("a body reset mid-way resumes with a Range request from the byte reached", async () => {
      withRules([
        { method: "GET", path: /get-source\.bin$/, fault: { kind: "truncate", afterBytes: 1024 * 1024 }, times: 2 },
      ]);
      expect(sha(await readAll(await store(s3!.reader).get(k)))).toBe(sha(big));
      expect(proxy.log.filter((e) => e.method === "GET")).toHaveLength(3);
    });

    it("a body that stops arriving is a stall: resumed, intact", async () => {
      withRules([{ method: "GET", path: /get-source\.bin$/, fault: { kind: "stall-response", afterBytes: 100_000 } }]);
      expect(sha(await readAll(await store(s3!.reader, { timeouts: STALL }).get(k)))).toBe(sha(big));
    });

    it("a body that keeps breaking without progress: a one-line error naming the object and the byte", async () => {
      withRules([
        { method: "GET", path: /get-source\.bin$/, fault: { kind: "truncate", afterBytes: 200_000 } },
        { method: "GET", path: /get-source\.bin$/, fault: { kind: "truncate", afterBytes: 0 }, times: 100 },
      ]);
      const r = await timed(store(s3!.reader).get(k).then(readAll));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.e.message).toMatch(
        new RegExp(`s3: reading ${k} \\(at byte \\d+ of ${big.length}\\): .*gave up after 4 attempts`),
      );
      expect(r.ms).toBeLessThan(10_000);
    });

    it("an object replaced between the first byte and the resume is refused (If-Match), never spliced", async () => {
      const k2 = `backups/get-replaced.bin`;
      const admin = s3Client(s3!.endpoint, s3!.admin);
      await admin.send(
        new PutObjectCommand({ Bucket: s3!.bucket, Key: prefix + k2, Body: randomBytes(2 * 1024 * 1024) }),
      );
      withRules([
        { method: "GET", path: /get-replaced\.bin$/, fault: { kind: "stall-response", afterBytes: 64 * 1024 } },
      ]);
      const body = await store(s3!.reader, { timeouts: STALL }).get(k2);
      // Replace the object while the first response hangs; the resume must not mix two versions.
      await admin.send(
        new PutObjectCommand({ Bucket: s3!.bucket, Key: prefix + k2, Body: randomBytes(2 * 1024 * 1024) }),
      );
      admin.destroy();
      await expect(readAll(body)).rejects.toThrow(
        `s3: reading ${k2}: the object changed or vanished while it was being read`,
      );
    });

    it("a slow link is not a stall: 1 MiB at 256 KiB/s arrives intact", async () => {
      const k3 = key("slow");
      const data = randomBytes(1024 * 1024);
      withRules([
        { method: "PUT", path: new RegExp(`${k3}$`), fault: { kind: "slow", bytesPerSec: 256 * 1024 } },
        { method: "GET", path: new RegExp(`${k3}$`), fault: { kind: "slow", bytesPerSec: 256 * 1024 } },
      ]);
      await store(s3!.writer).put(k3, Readable.from([data]));
      expect(sha(await readAll(await store(s3!.reader).get(k3)))).toBe(sha(data));
      expect(faults()).toBe(2);
    });
  });
});

import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_RETRY, isTransient, retry } from "../../src/stores/retry.js";
import { describeS3Error } from "../../src/stores/s3-client.js";

const http = (status: number, name = "Error") =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const net = (code: string, message = code) => Object.assign(new Error(message), { code });

describe("retry budget", () => {
  it.each([
    ["500 InternalError", http(500, "InternalError"), true],
    ["502", http(502), true],
    ["503 SlowDown", http(503, "SlowDown"), true],
    ["429", http(429), true],
    ["400 RequestTimeout (S3 waited too long for the body)", http(400, "RequestTimeout"), true],
    ["connection reset", net("ECONNRESET"), true],
    ["refused (a gateway restarting)", net("ECONNREFUSED"), true],
    ["Node's 'aborted' (a body cut short)", new Error("aborted"), true],
    ["smithy idle timeout", Object.assign(new Error("socket timed out"), { name: "TimeoutError" }), true],
    ["403 AccessDenied", http(403, "AccessDenied"), false],
    ["403 SignatureDoesNotMatch", http(403, "SignatureDoesNotMatch"), false],
    ["404 NoSuchKey", http(404, "NoSuchKey"), false],
    ["412 PreconditionFailed", http(412, "PreconditionFailed"), false],
    ["an explicit non-transient mark wins", Object.assign(http(500), { transient: false }), false],
  ])("%s → transient: %s", (_what, err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });

  it("delays double from the base, are capped, and keep at least half (jitter never collapses the horizon)", () => {
    const { baseDelayMs: b, maxDelayMs: m } = DEFAULT_RETRY;
    expect([1, 2, 3].map((a) => backoffDelay(a, b, m, () => 1))).toEqual([500, 1000, 2000]);
    expect(backoffDelay(20, b, m, () => 1)).toBe(m);
    expect(backoffDelay(20, b, m, () => 0)).toBe(m / 2);
    let min = 0;
    let max = 0;
    for (let a = 1; a < DEFAULT_RETRY.attempts; a++) {
      min += backoffDelay(a, b, m, () => 0);
      max += backoffDelay(a, b, m, () => 1);
    }
    // The default budget gives a failing server about one minute before the job gives up.
    expect(min).toBeGreaterThanOrEqual(35_000);
    expect(max).toBeLessThanOrEqual(75_000);
  });

  it("stops at the budget and records the attempts; a 403 stops at once", async () => {
    let calls = 0;
    const err = await retry(
      async () => {
        calls++;
        throw http(503, "SlowDown");
      },
      { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
    ).catch((e) => e);
    expect(calls).toBe(4);
    expect(describeS3Error(err, "uploading backups/x/complete.json", "writer").message).toBe(
      "s3: uploading backups/x/complete.json: SlowDown (HTTP 503), gave up after 4 attempts",
    );
    calls = 0;
    await retry(
      async () => {
        calls++;
        throw http(403, "AccessDenied");
      },
      { attempts: 4, baseDelayMs: 1 },
    ).catch(() => undefined);
    expect(calls).toBe(1);
  });

  it("names which timeout fired, with the key to change", () => {
    const idle = Object.assign(
      new Error(
        "@smithy/node-http-handler - the request socket timed out after 60000 ms of inactivity (configured by client requestHandler).",
      ),
      { name: "TimeoutError" },
    );
    expect(describeS3Error(idle, "reading k", "reader").message).toBe(
      "s3: reading k: timeout — no bytes moved for 60 s (repository.s3.timeouts.idle)",
    );
    const req = Object.assign(
      new Error("@smithy/node-http-handler - [ERROR] a request has exceeded the configured 900000 ms requestTimeout."),
      { name: "TimeoutError" },
    );
    expect(describeS3Error(req, "reading k", "reader").message).toMatch(
      /no answer within 900 s \(repository\.s3\.timeouts\.request\)/,
    );
    const conn = Object.assign(
      new Error(
        "@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 10000 ms.",
      ),
      { name: "TimeoutError" },
    );
    expect(describeS3Error(conn, "reading k", "reader").message).toMatch(
      /could not connect within 10 s \(repository\.s3\.timeouts\.connect\)/,
    );
  });
});

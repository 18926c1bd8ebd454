import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { proxiedAgents, proxyFor } from "../net/proxy.js";
import { StrongboxError } from "../errors.js";
import { describeSystemError, isNetworkError } from "../system-error.js";

export interface S3Timeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** No byte sent or received on the socket for this long: the request fails (also the body watchdog's limit). */
  idleMs: number;
  /** One request from start to response headers, upload body included: a hard ceiling for a trickling server. */
  requestMs: number;
}

export const DEFAULT_TIMEOUTS: S3Timeouts = { connectMs: 10_000, idleMs: 60_000, requestMs: 15 * 60_000 };

/**
 * The one place the S3 client's HTTP handler is made; its agents honour HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
 * @smithy/node-http-handler 4.x only logs a warning when `requestTimeout` passes unless `throwOnRequestTimeout`
 * is set; `socketTimeout` is the idle timeout and also covers a response body that stops arriving.
 */
export function createRequestHandler(t: S3Timeouts): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: 16 };
  return new NodeHttpHandler({
    connectionTimeout: t.connectMs,
    socketTimeout: t.idleMs,
    requestTimeout: t.requestMs,
    throwOnRequestTimeout: true,
    ...(({ http, https }) => ({ httpAgent: http, httpsAgent: https }))(proxiedAgents(agentOptions)),
  });
}

export interface S3ClientOptions {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string };
  timeouts: S3Timeouts;
}

export function createS3Client(o: S3ClientOptions): S3Client {
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: o.credentials,
    // The default CRC32 "aws-chunked" uploads corrupt objects on some S3-compatible servers.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // strongbox retries every call itself (retry.ts) with one budget; SDK retries on top would multiply it.
    maxAttempts: 1,
    // strongbox reports failures itself, once, in one line; the SDK's console chatter would duplicate them.
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    requestHandler: createRequestHandler(o.timeouts),
  });
}

/** An error for "no bytes moved for too long"; transient, so the retry budget applies. */
export function stallError(what: string, idleMs: number): Error {
  return Object.assign(new Error(`${what}: no bytes moved for ${Math.round(idleMs / 100) / 10} s`), {
    name: "TimeoutError",
    code: "ETIMEDOUT",
    transient: true,
  });
}

/** AWS's endpoint, where a config names none. */
export const DEFAULT_ENDPOINT = "https://s3.amazonaws.com";

/**
 * Describes an S3 error in one line, naming what was being done, with a hint for the usual causes.
 * `endpoint` is the endpoint of the store that failed (a run may open two: copy), to name what a
 * connection could not reach and the proxy it went through.
 */
export function describeS3Error(
  err: unknown,
  what: string,
  role: string,
  endpoint: string = DEFAULT_ENDPOINT,
): StrongboxError {
  if (err instanceof StrongboxError) return err;
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    attempts?: number;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  let name = e.name && e.name !== "Error" ? e.name : (e.code ?? "error");
  let hint = "";
  if (name === "InvalidAccessKeyId")
    hint = ` — the server does not know the ${role} access key id; check repository.s3.credentials.${role}.access_key_id`;
  else if (name === "SignatureDoesNotMatch")
    hint = ` — the ${role} secret access key is wrong for its key id; check repository.s3.credentials.${role}.secret_access_key`;
  else if (name === "AccessDenied" || status === 403)
    hint = ` — the ${role} credentials are not allowed to do this (see 'strongbox policy ${role}')`;
  else if (name === "NoSuchBucket") hint = " — the bucket does not exist";
  else if (
    ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET"].includes(e.code ?? "") ||
    /proxy/i.test(e.message ?? "")
  ) {
    const proxy = proxyFor(endpoint);
    hint = proxy
      ? ` — the proxy ${proxy} is unreachable or refused the connection (HTTPS_PROXY/HTTP_PROXY; NO_PROXY to bypass it)`
      : " — the endpoint is unreachable or dropped the connection";
  } else if (name === "TimeoutError" || e.code === "ETIMEDOUT") {
    name = "timeout";
    hint = ` — ${timeoutHint(e.message ?? "")}`;
  }
  const st = status ? ` (HTTP ${status})` : "";
  const tries = e.attempts && e.attempts > 1 ? `, gave up after ${e.attempts} attempts` : "";
  // A socket-level failure: "cannot connect to https://…: the endpoint does not speak TLS (EPROTO) — is it http?".
  if (isNetworkError(err) && name !== "timeout") {
    const sentence = describeSystemError(err as NodeJS.ErrnoException, {
      endpoint: endpoint.replace(/\/+$/, ""),
    });
    return new StrongboxError(
      "STORE",
      `s3: ${what}: ${sentence}${hint.startsWith(" — the proxy") ? hint : ""}${tries}`,
      { cause: err },
    );
  }
  return new StrongboxError("STORE", `s3: ${what}: ${name}${st}${hint}${tries}`, { cause: err });
}

/** Which of the three timeouts ended a request, in the user's words, with the config key to change. */
function timeoutHint(msg: string): string {
  const secs = (ms: string) => `${Math.round(Number(ms) / 100) / 10} s`;
  let m = /no bytes moved for ([\d.]+) s/.exec(msg);
  if (m) return `no bytes moved for ${m[1]} s (repository.s3.timeouts.idle)`;
  if ((m = /after (\d+) ms of inactivity/.exec(msg)))
    return `no bytes moved for ${secs(m[1])} (repository.s3.timeouts.idle)`;
  if ((m = /configured (\d+) ms requestTimeout/.exec(msg)))
    return `no answer within ${secs(m[1])} (repository.s3.timeouts.request)`;
  if ((m = /establish a connection .* of (\d+) ms/.exec(msg)))
    return `could not connect within ${secs(m[1])} (repository.s3.timeouts.connect)`;
  return "the server did not answer in time (repository.s3.timeouts)";
}

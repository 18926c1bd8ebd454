// An HTTP proxy in front of the S3 server (Ceph RGW) that injects faults into chosen requests.
// It listens on 127.0.0.1 only and forwards bytes unchanged, the Host header included: SigV4 signs the
// Host the client used (the proxy's), and RGW checks the signature against the Host it receives.
import { createHash } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Transform, type Readable, type Writable } from "node:stream";

export type Fault =
  /** Answer with this status and an S3 error body, without forwarding; `early`: before reading the body, and never read it. */
  | { kind: "status"; status: number; code?: string; early?: boolean }
  /** Read this many bytes of the request body, then reset the connection (a reset mid-part). */
  | { kind: "reset-request"; afterBytes: number }
  /** Read this many bytes of the request body, then stop reading and never answer (a hung OSD). */
  | { kind: "stall-request"; afterBytes: number }
  /** Read the whole request, never answer. */
  | { kind: "stall" }
  /** Forward; send the response headers and this many body bytes, then stop sending (connection stays open). */
  | { kind: "stall-response"; afterBytes: number }
  /** Forward; send the response headers and this many body bytes, then reset the connection. */
  | { kind: "truncate"; afterBytes: number }
  /** Forward; send the response headers (Content-Length intact) and this many body bytes, then close the connection cleanly (FIN). */
  | { kind: "short-body"; afterBytes: number }
  /** Forward with both directions throttled to this rate. */
  | { kind: "slow"; bytesPerSec: number }
  /** Read the request, answer 200 with the body's MD5 as ETag (a PUT) or a CompleteMultipartUploadResult (a POST), forward nothing: acknowledged, never stored. */
  | { kind: "drop-put" }
  /** Forward and let the server act, then reset the connection instead of answering. */
  | { kind: "lost-response" };

export interface Rule {
  method?: string;
  /** Matched against the decoded path (bucket/key). */
  path?: RegExp;
  /** Matched against the query string, e.g. /partNumber=2/ or /uploadId/ */
  query?: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Matching requests to let through untouched before the fault starts (default 0). */
  skip?: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  query: string;
  /** When the request arrived (ms since the epoch). */
  at: number;
  fault?: Fault["kind"];
}

export interface S3FaultProxy {
  endpoint: string;
  log: ProxyLogEntry[];
  /** Faults injected so far. */
  readonly injected: number;
  rules(rules: Rule[]): void;
  close(): Promise<void>;
}

const MAX_REQUESTS = 20_000; // a client stuck in a retry loop cannot keep the proxy busy forever
const MAX_LIFETIME_MS = 10 * 60_000;

function throttle(bytesPerSec: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const step = Math.max(1, Math.floor(bytesPerSec / 10));
      const push = (off: number) => {
        if (off >= chunk.length) return cb();
        this.push(chunk.subarray(off, off + step));
        setTimeout(() => push(off + step), 100).unref();
      };
      push(0);
    },
  });
}

/** Counts body bytes and calls `at` once `limit` bytes have passed; passes at most `limit` bytes on. */
function cutAfter(limit: number, at: () => void): Transform {
  let seen = 0;
  let fired = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const room = limit - seen;
      seen += chunk.length;
      if (room > 0) this.push(chunk.subarray(0, room));
      if (seen >= limit && !fired) {
        fired = true;
        setImmediate(at);
      }
      cb();
    },
  });
}

export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const up = new URL(target);
  let active: (Rule & { seen: number; hits: number })[] = [];
  const sockets = new Set<Socket>();
  const log: ProxyLogEntry[] = [];
  let injected = 0;

  const pick = (req: IncomingMessage, path: string, query: string) => {
    for (const r of active) {
      if (r.method && r.method !== req.method) continue;
      if (r.path && !r.path.test(path)) continue;
      if (r.query && !r.query.test(query)) continue;
      if (r.seen++ < (r.skip ?? 0)) continue;
      if (r.hits >= (r.times ?? 1)) continue;
      r.hits++;
      return r.fault;
    }
    return undefined;
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    o: { reqBody?: (r: Readable) => Readable; onResponse?: (up: IncomingMessage) => void } = {},
  ) => {
    const out = httpRequest(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        if (o.onResponse) return o.onResponse(ur);
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    out.on("error", () => req.socket.destroy());
    (o.reqBody ? o.reqBody(req) : req).pipe(out as Writable);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://proxy");
    const path = decodeURIComponent(u.pathname);
    const query = u.search.slice(1);
    const entry: ProxyLogEntry = { method: req.method ?? "", path, query, at: Date.now() };
    log.push(entry);
    if (log.length > MAX_REQUESTS) return void res.writeHead(503).end();
    const fault = pick(req, path, query);
    if (fault) {
      injected++;
      entry.fault = fault.kind;
    }
    const sock = req.socket;
    switch (fault?.kind) {
      case undefined:
        return forward(req, res);
      case "status": {
        const code = fault.code ?? (fault.status === 503 ? "SlowDown" : "InternalError");
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;
        const answer = () =>
          res
            .writeHead(fault.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) })
            .end(body);
        // Like a server that rejects on the headers alone: answer, then read no more of the body.
        if (fault.early) return void (answer(), setImmediate(() => (sock.pause(), sock.removeAllListeners("data"))));
        req.resume();
        return void req.once("end", answer);
      }
      case "reset-request":
        return void req
          .pipe(cutAfter(fault.afterBytes, () => sock.destroy()))
          .resume()
          .once("end", () => sock.destroy());
      case "stall-request":
        return void req.pipe(cutAfter(fault.afterBytes, () => req.unpipe())).resume();
      case "stall":
        return void req.resume();
      case "drop-put": {
        const md5 = createHash("md5");
        req.on("data", (c) => md5.update(c));
        return void req.once("end", () => {
          const etag = `"${md5.digest("hex")}"`;
          // A CompleteMultipartUpload (POST ?uploadId) gets a plausible result document; the upload stays open.
          const b =
            req.method === "POST"
              ? `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Key>${path}</Key><ETag>${etag}</ETag></CompleteMultipartUploadResult>`
              : "";
          res
            .writeHead(200, { etag, "content-type": "application/xml", "content-length": Buffer.byteLength(b) })
            .end(b);
        });
      }
      case "lost-response":
        return forward(req, res, { onResponse: (ur) => ur.resume().once("end", () => sock.destroy()) });
      case "slow":
        return forward(req, res, {
          reqBody: (r) => r.pipe(throttle(fault.bytesPerSec)),
          onResponse: (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(throttle(fault.bytesPerSec)).pipe(res);
          },
        });
      case "short-body":
        return forward(req, res, {
          onResponse: (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(cutAfter(fault.afterBytes, () => (ur.destroy(), res.socket?.end()))).pipe(res, { end: false });
          },
        });
      case "truncate":
      case "stall-response":
        return forward(req, res, {
          onResponse: (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            const cut = cutAfter(fault.afterBytes, () => (fault.kind === "truncate" ? sock.destroy() : ur.destroy()));
            ur.pipe(cut).pipe(res, { end: false });
          },
        });
    }
  };

  const server: Server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const lifetime = setTimeout(() => void close(), MAX_LIFETIME_MS).unref();
  const close = () =>
    new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    get injected() {
      return injected;
    },
    rules(rules) {
      active = rules.map((r) => ({ ...r, seen: 0, hits: 0 }));
    },
    close,
  };
}

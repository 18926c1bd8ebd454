import { http, https } from "./builtins.js";
import { proxiedAgents } from "./proxy.js";

let agents: ReturnType<typeof proxiedAgents> | undefined;

/**
 * One HTTP(S) request through the configured proxy (if any), its response read to the end. The
 * timeout covers the whole exchange: connect, answer and a body that stops arriving.
 */
export function send(
  url: string,
  o: { method: string; headers?: Record<string, string>; body?: string; timeoutMs: number },
): Promise<number> {
  agents ??= proxiedAgents();
  const u = new URL(url);
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  return new Promise((resolve, reject) => {
    const req = (u.protocol === "https:" ? https.request : http.request)(
      u,
      {
        method: o.method,
        agent: u.protocol === "https:" ? agents!.https : agents!.http,
        headers: { ...o.headers, ...(body ? { "content-length": String(body.length) } : {}) },
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs / 1000} s`)), o.timeoutMs);
    req.on("close", () => clearTimeout(timer));
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

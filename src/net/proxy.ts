// Outbound proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and their lower-case forms), for S3 and
// notifications alike, through Node's built-in proxy support in http.Agent (CONNECT for https,
// absolute-URI requests for http; credentials in the proxy URL become Proxy-Authorization).
import type { Agent as HttpAgent, AgentOptions } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { http, https } from "./builtins.js";
import { registerSecret } from "../secrets.js";

type Env = NodeJS.ProcessEnv;

const pick = (env: Env, name: string) => env[name.toLowerCase()] ?? env[name];

/** The proxy settings in effect, with any password registered for redaction. */
export function proxyEnv(env: Env = process.env): Env {
  for (const name of ["HTTPS_PROXY", "HTTP_PROXY"]) {
    const v = pick(env, name);
    if (!v) continue;
    try {
      const u = new URL(v);
      if (u.password) registerSecret(decodeURIComponent(u.password));
      if (u.username) registerSecret(decodeURIComponent(u.username));
    } catch {
      // an unparsable proxy URL: Node ignores it, and doctor says so
    }
  }
  return env;
}

/** http and https agents that go through the configured proxy (or directly, when none is set or NO_PROXY matches). */
export function proxiedAgents(
  options: AgentOptions = {},
  env: Env = process.env,
): { http: HttpAgent; https: HttpsAgent } {
  const proxy = proxyEnv(env);
  return {
    http: new http.Agent({ ...options, proxyEnv: proxy }),
    https: new https.Agent({ ...options, proxyEnv: proxy }),
  };
}

/** The proxy a request to `url` would use, without credentials; undefined when it goes directly. */
export function proxyFor(url: string, env: Env = process.env): string | undefined {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return undefined;
  }
  const raw = pick(env, target.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY");
  if (!raw || bypassed(target, pick(env, "NO_PROXY") ?? "")) return undefined;
  try {
    const p = new URL(raw);
    return `${p.protocol}//${p.host}`;
  } catch {
    return `(unparsable proxy URL in ${target.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY"})`;
  }
}

/** NO_PROXY as Node reads it: `*`, host names and domain suffixes (`.example.com` or `example.com`), optional `:port`, IPs. */
function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(/[\s,]+/).filter(Boolean)) {
    if (raw === "*") return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(raw.toLowerCase())!;
    const entry = m[1].replace(/^\[|\]$/g, "").replace(/^\*?\./, ".");
    if (m[2] && m[2] !== port) continue;
    if (
      entry.startsWith(".")
        ? host.endsWith(entry) || host === entry.slice(1)
        : host === entry || host.endsWith(`.${entry}`)
    )
      return true;
  }
  return false;
}

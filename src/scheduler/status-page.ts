import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIPv4 } from "node:net";
import { formatDuration } from "../config/duration.js";
import { describeError, StrongboxError } from "../errors.js";
import { formatBytes } from "../progress.js";
import type { RunRecord } from "./run-record.js";

/**
 * The read-only status page: server-rendered HTML, no script at all, charts as inline SVG. Nothing in
 * it executes, so a name a forger wrote can at worst be text; every such name goes through esc().
 */
export interface StatusView {
  title: string;
  now: number;
  sources: { name: string; newestAt?: number; maxAgeMs?: number; failed?: boolean }[];
  lastDrill?: { at?: number; result: "pass" | "fail" };
  /** Newest first. */
  runs: RunRecord[];
  nextRuns: { job: string; command: string; at: number | null }[];
  running?: { job: string; since: number; steps: Record<string, unknown>[] };
  /** Browsing backups (`strongbox ui`): on with the identity (backup ids link to /browse), else why not. */
  browse?: { on: true } | { on: false; why: string };
}

/** Rows shown (and points charted) at most, whatever the history holds. */
export const SHOWN_RUNS = 100;

const CSS = `body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left;vertical-align:top}th{background:#f4f4f4}
.ok{color:#176b2c;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#777}
svg{border:1px solid #ddd;background:#fcfcfc;margin-right:1em}polyline{fill:none;stroke-width:2}
figure{display:inline-block;margin:0 1em 1em 0}.c1{stroke:#2563eb}.c2{stroke:#d97706}ul.checks{margin:0;padding-left:1.2em}
.path{word-break:break-all;max-width:60em}`;

/** Only the stylesheet (by hash), nothing else: no script, no image, no frame, no form, no base. */
export const STATUS_CSP = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(CSS).digest("base64")}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/**
 * Escapes text for HTML element content and quoted attributes; control characters, and the bidi
 * controls that would let a name reorder the text after it on screen, become U+FFFD.
 */
export function esc(s: unknown): string {
  return String(s)
    .replace(
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
      "\ufffd",
    )
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A link to a page of this server: the query's values URL-encoded, the whole escaped for the attribute. */
export function link(path: string, query: Record<string, string | number | undefined>, text: string): string {
  const q = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join("&");
  return `<a href="${esc(q ? `${path}?${q}` : path)}">${esc(text)}</a>`;
}

export const iso = (ms: number | null | undefined) =>
  ms == null ? "—" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
export const mark = (ok: boolean, text: string) => `<span class="${ok ? "ok" : "bad"}">${esc(text)}</span>`;

function sourcesTable(v: StatusView): string {
  const rows = v.sources.map((s) => {
    const age = s.newestAt === undefined ? undefined : v.now - s.newestAt;
    const fresh = age !== undefined && (s.maxAgeMs === undefined || age <= s.maxAgeMs);
    return `<tr><td>${esc(s.name)}</td><td>${iso(s.newestAt)}</td><td>${age === undefined ? mark(false, "none known") : mark(fresh, formatDuration(age))}</td><td>${s.maxAgeMs === undefined ? "—" : esc(formatDuration(s.maxAgeMs))}</td><td>${s.failed ? mark(false, "failed") : s.failed === false ? mark(true, "stored") : "—"}</td></tr>`;
  });
  const drill = v.lastDrill
    ? `<p>Last drill: ${mark(v.lastDrill.result === "pass", v.lastDrill.result.toUpperCase())} at ${iso(v.lastDrill.at)}</p>`
    : `<p class="muted">No drill known.</p>`;
  return `<h2>Sources</h2><table><tr><th>Source</th><th>Newest backup</th><th>Age</th><th>Schedule allows</th><th>Last run</th></tr>${rows.join("")}</table>${drill}`;
}

function runRow(r: RunRecord, browse: boolean): string {
  const b = r.backup;
  const kinds = b
    ? b.sources.map((s) => `${esc(s.name)}: ${esc(s.kind)} ${esc(formatBytes(s.stored_bytes))}`).join("<br>")
    : "";
  const d = r.drill;
  const checks = d
    ? `<ul class="checks">${d.checks
        .slice(0, 50)
        .map(
          (c) => `<li>${mark(c.ok, c.ok ? "ok" : "FAIL")} ${esc(c.name)}${c.detail ? `: ${esc(c.detail)}` : ""}</li>`,
        )
        .join("")}</ul>`
    : "";
  const what = b
    ? `${browse ? link("/browse", { id: b.id }, `backup ${b.id}`) : `backup ${esc(b.id)}`}${b.partial.length ? ` ${mark(false, `partial: ${b.partial.join(", ")}`)}` : ""}${b.failed.length ? ` ${mark(false, `failed: ${b.failed.join(", ")}`)}` : ""}`
    : d
      ? `drill${d.id ? ` ${esc(d.id)}` : ""}${d.backup_id ? ` of ${esc(d.backup_id)}` : ""}`
      : "";
  return `<tr><td>${iso(r.started)}</td><td>${esc(r.job)}</td><td>${esc(r.command)}</td><td>${mark(r.status === "success", r.status)}${r.failure ? `<br>${esc(r.failure)}` : ""}</td><td>${esc(formatDuration(r.duration_s * 1000))}</td><td>${b ? esc(formatBytes(b.stored_bytes)) : ""}</td><td>${what}${kinds ? `<br>${kinds}` : ""}${checks}</td></tr>`;
}

/** A line chart of one value over the backups, oldest left: an inline SVG, nothing loaded. */
function chart(title: string, points: number[], unit: (n: number) => string, cls: string): string {
  const w = 420;
  const h = 120;
  if (points.length < 2)
    return `<figure><figcaption>${esc(title)}</figcaption><p class="muted">Not enough backups yet.</p></figure>`;
  const max = Math.max(...points, 1);
  const xy = points.map(
    (p, i) => `${((i / (points.length - 1)) * (w - 10) + 5).toFixed(1)},${(h - 5 - (p / max) * (h - 20)).toFixed(1)}`,
  );
  return `<figure><figcaption>${esc(title)} (max ${esc(unit(max))})</figcaption><svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}"><polyline class="${cls}" points="${xy.join(" ")}"/></svg></figure>`;
}

function liveSection(v: StatusView): string {
  if (!v.running) return `<p class="muted">No job running.</p>`;
  const steps = v.running.steps.map((s) => {
    const total = typeof s.total === "number" ? ` of ${formatBytes(s.total)}` : "";
    const eta = typeof s.eta_s === "number" ? `, ETA ${formatDuration(s.eta_s * 1000)}` : "";
    return `<li>${esc(s.step)}: ${esc(formatBytes(Number(s.bytes) || 0))}${esc(total)}, ${esc(s.mb_per_s)} MB/s${esc(eta)}</li>`;
  });
  return `<p>Running: <b>${esc(v.running.job)}</b> since ${iso(v.running.since)} (${esc(formatDuration(v.now - v.running.since))})</p><ul>${steps.join("")}</ul>`;
}

/** The document around a page's body: the one stylesheet, nothing else loaded. */
export function pageShell(title: string, body: string, refresh = true): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">${refresh ? `<meta http-equiv="refresh" content="10">` : ""}<meta name="referrer" content="no-referrer"><title>${esc(title)}</title><style>${CSS}</style></head><body>
${body}
</body></html>`;
}

export function renderStatus(v: StatusView): string {
  const runs = v.runs.slice(0, SHOWN_RUNS);
  const backups = runs.filter((r) => r.backup).reverse();
  const next = v.nextRuns.map((n) => `<tr><td>${esc(n.job)}</td><td>${esc(n.command)}</td><td>${iso(n.at)}</td></tr>`);
  return pageShell(
    v.title,
    `<h1>${esc(v.title)}</h1><p class="muted">As of ${iso(v.now)}. Read-only; refreshes every 10 s.</p>
${sourcesTable(v)}
<h2>Now</h2>${liveSection(v)}
<h2>Next runs</h2><table><tr><th>Job</th><th>Command</th><th>Next run</th></tr>${next.join("")}</table>
<h2>Size and duration of backups</h2>${chart(
      "Stored bytes per backup",
      backups.map((r) => r.backup!.stored_bytes),
      formatBytes,
      "c1",
    )}${chart(
      "Duration per backup",
      backups.map((r) => r.duration_s),
      (s) => formatDuration(s * 1000),
      "c2",
    )}
<h2>Timeline</h2>${v.browse && !v.browse.on ? `<p class="muted">${esc(v.browse.why)}</p>` : ""}<table><tr><th>Started</th><th>Job</th><th>Command</th><th>Status</th><th>Duration</th><th>Stored</th><th>What</th></tr>${runs.map((r) => runRow(r, v.browse?.on === true)).join("")}</table>`,
  );
}

/** True when the listener is reachable only from this host: the page needs no token there. */
export function isLoopback(host: string): boolean {
  // An address, not a name: "127.example.com" resolves wherever its owner likes.
  return host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."));
}

/** The host name of a Host header ("localhost:8080" → "localhost", "[::1]:80" → "::1"). */
function hostName(header: string | undefined): string {
  const h = header ?? "";
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") < 0 ? undefined : h.indexOf("]"));
  return h.replace(/:\d*$/, "");
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The status page's access token: the first line of `file`, 16+ characters (`what` names the setting in errors). */
export function readToken(file: string, what = "--token-file"): string {
  // A flag's file is a usage error; a config key's (daemon.token_file) is a config error. Both exit 2.
  const code = what.startsWith("--") ? "USAGE" : "CONFIG";
  let token: string;
  try {
    token = readFileSync(file, "utf8").split("\n")[0].trim();
  } catch (err) {
    throw new StrongboxError(code, `${what} ${file}: ${describeError(err)}`);
  }
  if (token.length < 16) throw new StrongboxError(code, `${what} ${file}: the token must be at least 16 characters`);
  return token;
}

/** The token, as HTTP Basic auth (any user name; what a browser prompts for) or a Bearer token. */
function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? "";
  let given: string | undefined;
  if (/^Bearer /i.test(h)) given = h.slice(7).trim();
  else if (/^Basic /i.test(h)) {
    const pair = Buffer.from(h.slice(6).trim(), "base64").toString("utf8");
    given = pair.slice(pair.indexOf(":") + 1);
  }
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/**
 * The checks every route of the page makes, with the headers they all send: true when the request may
 * be answered; false when it has been answered already (403 for a foreign Host without a token, 401
 * without the token, 405 for anything but GET/HEAD).
 */
export function admitRequest(req: IncomingMessage, res: ServerResponse, token: string | undefined): boolean {
  res.setHeader("content-security-policy", STATUS_CSP);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("cache-control", "no-store");
  // Without a token, only a request addressed to a loopback name: a site that re-points its own name at
  // 127.0.0.1 (DNS rebinding) makes the browser send "Host: its.name", and must not read the page.
  if (token === undefined && !isLoopback(hostName(req.headers.host))) {
    res.statusCode = 403;
    res.end("the status page without a token answers requests to localhost or 127.0.0.1 only\n");
    return false;
  }
  if (token !== undefined && !authorized(req, token)) {
    res.statusCode = 401;
    res.setHeader("www-authenticate", 'Basic realm="strongbox", charset="UTF-8"');
    res.end("the status page needs the access token (HTTP Basic password, or Authorization: Bearer)\n");
    return false;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.statusCode = 405;
    res.end("read-only\n");
    return false;
  }
  return true;
}

/** Serves the page (GET / or /status) with its headers; false when the request is for something else. */
export function serveStatusPage(
  req: IncomingMessage,
  res: ServerResponse,
  render: () => string | Promise<string>,
  token: string | undefined,
): boolean {
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/" && path !== "/status") return false;
  if (!admitRequest(req, res, token)) return true;
  res.setHeader("content-type", "text/html; charset=utf-8");
  // Rendered only for a request that passed the token check (`strongbox ui` reads the repository to render).
  Promise.resolve()
    .then(render)
    .then(
      (html) => res.end(html),
      () => {
        res.statusCode = 503;
        res.setHeader("content-type", "text/plain; charset=utf-8");
        res.end("cannot read the repository now (the log says why)\n");
      },
    );
  return true;
}

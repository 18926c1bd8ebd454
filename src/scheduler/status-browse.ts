import type { IncomingMessage, ServerResponse } from "node:http";
import type { ManifestEntry } from "../archive/tar-pack.js";
import { comparePaths } from "../archive/path-order.js";
import { dumpFile } from "../browse/dump.js";
import { entryAt, filesManifest, normalisePath, openTree, type OpenedTree } from "../browse/tree.js";
import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { describeError, StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { formatBytes } from "../progress.js";
import { isBackupId } from "../repository/layout.js";
import type { Repository } from "../repository/repository.js";
import { esc, link, pageShell } from "./status-page.js";

/**
 * Browsing a backup's tree on the status page (`strongbox ui` with the identity): one page per
 * directory, read from the backup's checked manifest, and a download of one file through the same
 * code as `strongbox dump`. Everything comes from query parameters validated against the manifest;
 * nothing is ever looked up on this host's filesystem by a path a request names.
 */
export interface BrowseAccess {
  /** A fresh reader-role repository (one per request: its listing is read when the request comes). */
  repo(): Promise<Repository>;
  identities: Identity[];
  config: Config;
  log: Logger;
}

/** Entries shown per directory page; a bigger directory has further pages. */
export const PAGE_ENTRIES = 200;
/** Requests that read the repository at once; more get 503 (each decrypts a manifest, a download a whole object). */
const MAX_BUSY = 2;
/** Longest query value taken (a manifest path is far shorter; nothing longer is looked for). */
const MAX_PARAM = 8192;

let busy = 0;

export const BROWSE_ROUTES = ["/browse", "/download"];

/** The query's parameters, each checked: the backup id's form, the path's (no `..`, no NUL), the page. */
function params(req: IncomingMessage): { id: string; source?: string; path: string; page: number } {
  const q = new URL(req.url ?? "/", "http://status.invalid").searchParams;
  for (const [k, v] of q) if (v.length > MAX_PARAM) throw new StrongboxError("USAGE", `parameter ${k} is too long`);
  const id = q.get("id") ?? "";
  if (!isBackupId(id)) throw new StrongboxError("USAGE", "id must be a backup id");
  const page = Number(q.get("page") ?? "1");
  if (!Number.isSafeInteger(page) || page < 1) throw new StrongboxError("USAGE", "page must be a number from 1");
  return { id, source: q.get("source") ?? undefined, path: normalisePath(q.get("path") ?? ""), page };
}

const STATUS: Record<string, number> = { USAGE: 400, NOT_FOUND: 404 };

function fail(res: ServerResponse, err: unknown, html: boolean): void {
  const code = err instanceof StrongboxError ? err.code : "";
  res.statusCode = STATUS[code] ?? 502;
  const message = describeError(err);
  if (html) {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(
      pageShell("strongbox: cannot browse", `<h1>Cannot browse</h1><p class="bad">${esc(message)}</p>${home}`, false),
    );
  } else {
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.end(`${message.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd")}\n`);
  }
}

const home = `<p>${link("/", {}, "Back to the status page")}</p>`;

/**
 * Answers /browse and /download (the caller made the token and Host checks). When browsing is off
 * (`access` is the reason why, as a string) both answer 403 and say why. GET only: a download is not
 * repeated for HEAD.
 */
export function serveBrowse(req: IncomingMessage, res: ServerResponse, access: BrowseAccess | string): void {
  const route = (req.url ?? "").split("?")[0];
  if (typeof access === "string") {
    res.statusCode = 403;
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.end(`${access}\n`);
    return;
  }
  if (req.method !== "GET") {
    res.statusCode = 405;
    res.end("GET only\n");
    return;
  }
  if (busy >= MAX_BUSY) {
    res.statusCode = 503;
    res.setHeader("retry-after", "5");
    res.end("busy: other requests are reading the repository; try again\n");
    return;
  }
  busy++;
  const done = () => busy--;
  (route === "/download" ? download(req, res, access) : browse(req, res, access)).then(done, (err: unknown) => {
    done();
    access.log.warn(`status page: ${route}: ${describeError(err)}`);
    if (!res.headersSent) fail(res, err, route !== "/download");
    // Bytes have left: end the response unfinished (no final chunk, fewer bytes than Content-Length),
    // so the client sees a failed transfer, never a complete file.
    else res.destroy();
  });
}

async function browse(req: IncomingMessage, res: ServerResponse, a: BrowseAccess): Promise<void> {
  const p = params(req);
  const repo = await a.repo();
  const trust = { warn: (m: string) => a.log.warn(m) };
  let body: string;
  if (p.source === undefined) {
    const rec = await repo.resolve(p.id, [], trust);
    const rows = rec.sources.map(
      (s) =>
        `<tr><td class="path">${s.type === "files" ? link("/browse", { id: rec.id, source: s.name }, s.name) : esc(s.name)}</td><td>${s.type === "files" ? "files" : "database (not browsable: restore it)"}</td></tr>`,
    );
    body = `<h1>Backup ${esc(rec.id)}</h1>${home}<table><tr><th>Source</th><th>Type</th></tr>${rows.join("")}</table>`;
  } else {
    const tree = await openTree(repo, p.id, a.identities, { source: p.source, trust });
    try {
      body = directoryPage(tree, p.source, p.path, p.page);
    } finally {
      tree.close();
    }
  }
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(pageShell(`strongbox: backup ${p.id}`, body, false));
}

/**
 * One page of a directory's children, read in one pass over the spooled manifest: tree order puts a
 * directory's subtree in one run, so the pass stops at its end or when the page is full, and holds
 * at most one page of entries whatever the manifest lists.
 */
function directoryPage(tree: OpenedTree, source: string, dir: string, page: number): string {
  const id = tree.rec.id;
  if (dir) {
    const at = entryAt(tree, source, dir);
    if (!at) throw new StrongboxError("NOT_FOUND", `backup ${id}, source ${source} holds no ${JSON.stringify(dir)}`);
    if (at.type !== "dir") throw new StrongboxError("USAGE", `${JSON.stringify(dir)} is a ${at.type}, not a directory`);
  }
  const prefix = dir ? `${dir}/` : "";
  const skip = (page - 1) * PAGE_ENTRIES;
  const shown: ManifestEntry[] = [];
  let seen = 0;
  let more = false;
  for (const e of filesManifest(tree, source).entries) {
    if (e.path === "." || e.path === dir) continue;
    if (!e.path.startsWith(prefix)) {
      if (comparePaths(e.path, prefix) > 0) break; // past the subtree
      continue;
    }
    if (e.path.indexOf("/", prefix.length) >= 0) continue; // deeper than a child
    if (seen++ < skip) continue;
    if (shown.length === PAGE_ENTRIES) {
      more = true;
      break;
    }
    shown.push(e);
  }
  const rows = shown.map((e) => entryRow(id, source, prefix, e));
  const up = dir ? dir.split("/").slice(0, -1).join("/") : undefined;
  const nav = [
    link("/", {}, "status page"),
    link("/browse", { id }, `backup ${id}`),
    ...(dir ? [link("/browse", { id, source }, source), link("/browse", { id, source, path: up }, "up")] : []),
    ...(page > 1 ? [link("/browse", { id, source, path: dir, page: page - 1 }, "previous page")] : []),
    ...(more ? [link("/browse", { id, source, path: dir, page: page + 1 }, "next page")] : []),
  ];
  return `<h1>Backup ${esc(id)}: ${esc(source)}/${esc(visible(dir))}</h1><p>${nav.join(" · ")}</p>
<p class="muted">Page ${page}: entries ${skip + 1}–${skip + shown.length}${more ? " (more on the next page)" : ""}.</p>
<table><tr><th>Type</th><th>Mode</th><th>Size</th><th>Modified</th><th>Name</th></tr>${rows.join("")}</table>`;
}

/** A name on one line, its newline, return and tab shown as \n, \r, \t (HTML would fold them into spaces). */
const visible = (s: string) => s.replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");

function entryRow(id: string, source: string, prefix: string, e: ManifestEntry): string {
  const name = visible(e.path.slice(prefix.length));
  const shown =
    e.type === "dir"
      ? link("/browse", { id, source, path: e.path }, `${name}/`)
      : e.type === "file"
        ? link("/download", { id, source, path: e.path }, name)
        : `${esc(name)} → ${esc(visible(e.target ?? ""))}`;
  const mtime = Math.floor(Number(e.mtime)) * 1000;
  const when = Number.isFinite(mtime) && Math.abs(mtime) < 8.64e15 ? new Date(mtime).toISOString() : e.mtime;
  return `<tr><td>${esc(e.type)}</td><td>${e.mode.toString(8).padStart(4, "0")}</td><td>${e.type === "file" ? esc(formatBytes(e.size)) : ""}</td><td>${esc(when)}</td><td class="path">${shown}</td></tr>`;
}

/** A Content-Disposition naming the file: an ASCII fallback of safe characters, and the exact name per RFC 6266/8187. */
export function attachment(path: string): string {
  const base = [...(path.split("/").pop() ?? "")].slice(0, 120).join("");
  const ascii = base.replace(/[^A-Za-z0-9._ -]/g, "_").replace(/^[.\s]+/, "") || "download";
  const exact = encodeURIComponent(base).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

async function download(req: IncomingMessage, res: ServerResponse, a: BrowseAccess): Promise<void> {
  const p = params(req);
  if (p.source === undefined) throw new StrongboxError("USAGE", "source is required");
  const repo = await a.repo();
  const tree = await openTree(repo, p.id, a.identities, { source: p.source, trust: { warn: (m) => a.log.warn(m) } });
  const aborted = new AbortController();
  res.once("close", () => aborted.abort(new StrongboxError("INTERRUPTED", "the client went away")));
  try {
    const entry = entryAt(tree, p.source, p.path);
    // The headers go with the first byte (or at the end, for an empty file): until then a failure is an error page.
    const head = () => {
      if (res.headersSent) return;
      res.statusCode = 200;
      res.setHeader("content-type", "application/octet-stream");
      res.setHeader("content-disposition", attachment(p.path));
      // A length makes a withheld last chunk a failed transfer for every client (curl: exit 18).
      if (entry) res.setHeader("content-length", String(entry.size));
      // And Node refuses to send more than it (dump-sink.ts already stops at the manifest's size).
      res.strictContentLength = true;
    };
    const out = (chunk: Buffer) =>
      new Promise<void>((resolve, reject) => {
        head();
        res.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    await dumpFile({ ...a, repo, tree, source: p.source, path: p.path, out, signal: aborted.signal });
    head();
    res.end();
  } finally {
    tree.close();
  }
}

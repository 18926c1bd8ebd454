import { http } from "../net/builtins.js";
import { describeError, StrongboxError } from "../errors.js";
import { newestBySource, Repository, unusable, type BackupListing } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import type { RunRecord } from "../scheduler/run-record.js";
import { BROWSE_ROUTES, serveBrowse, type BrowseAccess } from "../scheduler/status-browse.js";
import {
  admitRequest,
  isLoopback,
  readToken,
  renderStatus,
  serveStatusPage,
  SHOWN_RUNS,
  type StatusView,
} from "../scheduler/status-page.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { onStopSignals } from "./interrupt.js";

/** How long one reading of the repository is shown before the next request reads it again. */
const CACHE_MS = 30_000;

/** The access token: the file's first line, at least 16 characters. */
function backupRun(b: BackupListing): RunRecord {
  const c = b.complete;
  const started = Date.parse(c?.started_at ?? "") || b.time.getTime();
  const finished = Date.parse(c?.finished_at ?? "") || started;
  const size = (b.complete?.objects ?? b.objects).reduce((n, o) => n + o.size, 0);
  const why = b.damaged ?? (unusable(b) ? (b.untrusted?.join("; ") ?? "not restorable") : undefined);
  return {
    job: c?.host ?? "",
    command: "backup",
    started,
    duration_s: Math.max(0, (finished - started) / 1000),
    status: c && !why ? "success" : "failure",
    ...(why ? { failure: why } : c ? {} : { failure: "incomplete" }),
    backup: {
      id: b.id,
      stored_bytes: size,
      partial: c?.partial ?? [],
      failed: [],
      sources: (c?.sources ?? []).map((s) => ({
        name: s.name,
        kind: c!.objects.some((o) => o.source === s.name && o.base) ? "diff" : "full",
        stored_bytes: c!.objects.filter((o) => o.source === s.name).reduce((n, o) => n + o.size, 0),
      })),
    },
  };
}

/** What a reader sees in the repository: per source its newest restorable backup, the backups, their drills. */
async function repositoryView(ctx: CommandContext, browse: StatusView["browse"]): Promise<StatusView> {
  const config = ctx.config();
  const repo = new Repository(await openStore(config, "reader"), repositoryOptions(config));
  const backups = (await repo.listBackups()).slice(0, SHOWN_RUNS);
  const drills = await repo.lastDrills(200, { checks: true });
  const newestOf = newestBySource(
    backups,
    config.sources.map((s) => s.name),
  );
  const names = [...newestOf.keys()];
  const newest = (name: string) => newestOf.get(name)?.complete?.finished_at;
  const runs = backups.map(backupRun);
  const drillRuns: RunRecord[] = [...drills].slice(0, SHOWN_RUNS).map(([backupId, d]) => ({
    job: "",
    command: "drill",
    started: Date.parse(d.at) || 0,
    duration_s: 0,
    status: d.result === "pass" ? "success" : "failure",
    drill: { id: d.drill_id, backup_id: backupId, result: d.result, checks: d.checks ?? [] },
  }));
  const lastDrill = drillRuns.sort((a, b) => b.started - a.started)[0];
  return {
    title: "strongbox repository",
    now: Date.now(),
    sources: names.map((name) => ({ name, newestAt: Date.parse(newest(name) ?? "") || undefined })),
    lastDrill: lastDrill ? { at: lastDrill.started, result: lastDrill.drill!.result } : undefined,
    runs: [...runs, ...drillRuns].sort((a, b) => b.started - a.started).slice(0, SHOWN_RUNS),
    nextRuns: [],
    browse,
  };
}

/** Browsing is on when this host can decrypt: the identity loads (else the page says it needs it). */
async function browseAccess(ctx: CommandContext): Promise<BrowseAccess | undefined> {
  const config = ctx.config();
  if (!config.encryption.identity_file) return undefined;
  let identities;
  try {
    identities = await ctx.identities();
  } catch (err) {
    ctx.log.warn(`status page: browsing is off: ${describeError(err)}`);
    return undefined;
  }
  return {
    repo: async () => new Repository(await openStore(config, "reader"), repositoryOptions(config)),
    identities,
    config,
    log: ctx.log,
  };
}

/**
 * `strongbox ui`: the status page on a host with the reader role. 127.0.0.1 by default; any other
 * address only with an access token from a file, and it refuses to start without one.
 */
export async function uiCommand(ctx: CommandContext, o: { listen: string; tokenFile?: string }): Promise<void> {
  const i = o.listen.lastIndexOf(":");
  const host = o.listen.slice(0, i).replace(/^\[|\]$/g, "");
  const portText = o.listen.slice(i + 1);
  // Digits only: Number() would take "" as 0 (a random port) and " 0x50" as 80.
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (i < 0 || !host || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new StrongboxError("USAGE", `--listen must be HOST:PORT, not '${o.listen}'`);
  if (!isLoopback(host) && !o.tokenFile)
    throw new StrongboxError(
      "USAGE",
      `--listen ${o.listen} is reachable from other hosts: give --token-file FILE (an access token of 16+ characters), or listen on 127.0.0.1`,
    );
  const token = o.tokenFile ? readToken(o.tokenFile) : undefined;
  // Browsing serves decrypted files: on 127.0.0.1 every local user and process reaches the port, so
  // it needs the token there too (the status page itself shows only what the reader role can list).
  const access = token
    ? ((await browseAccess(ctx)) ?? "Browsing backups needs the identity (encryption.identity_file) on this host.")
    : "Browsing backups serves decrypted files, so it needs --token-file, also on 127.0.0.1 (every local user can reach that port).";
  const browse: StatusView["browse"] = typeof access === "string" ? { on: false, why: access } : { on: true };
  let cached: { at: number; html: Promise<string> } | undefined;
  const render = () => {
    if (!cached || Date.now() - cached.at > CACHE_MS)
      cached = { at: Date.now(), html: repositoryView(ctx, browse).then(renderStatus) };
    return cached.html;
  };
  const server = http.createServer((req, res) => {
    const page = () =>
      render().catch((err: unknown) => {
        cached = undefined;
        ctx.log.warn(`status page: cannot read the repository: ${describeError(err)}`);
        throw err;
      });
    if (BROWSE_ROUTES.includes((req.url ?? "").split("?")[0])) {
      if (admitRequest(req, res, token)) serveBrowse(req, res, access);
    } else if (!serveStatusPage(req, res, page, token)) {
      res.statusCode = 404;
      res.end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new StrongboxError("USAGE", `--listen ${o.listen}: ${describeError(err)}`)));
    server.listen(port, host, resolve);
  });
  const bound = server.address();
  const where =
    bound && typeof bound === "object"
      ? `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`
      : o.listen;
  ctx.log.info(`status page on http://${where}/ (read-only${token ? ", token required" : ""}); Ctrl-C stops`);
  await new Promise<void>((resolve) => {
    const signals = onStopSignals(
      () => {
        signals.release();
        server.close();
        server.closeAllConnections();
        resolve();
      },
      () => {},
    );
  });
}

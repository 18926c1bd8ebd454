import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import { redact } from "../secrets.js";

/** What a job tells the outside world when it ends (README, "Notifications and the audit log"). */
export interface JobOutcome {
  job: string;
  command: string;
  status: "success" | "failure";
  backup_id?: string;
  started_at: string;
  finished_at: string;
  error?: string;
  report?: unknown;
  summary: string;
}

export interface Notifier {
  start(job: string, command: string): Promise<void>;
  finish(outcome: JobOutcome): Promise<void>;
}

/** 10 s per request (connect, answer and body alike), 3 attempts; tests pass shorter ones (README, "Notifications and the audit log"). */
export interface DeliveryOptions {
  timeoutMs: number;
  attempts: number;
  baseDelayMs: number;
}
const DEFAULT_DELIVERY: DeliveryOptions = { timeoutMs: 10_000, attempts: 3, baseDelayMs: 500 };

interface Request {
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Where a notification goes, for a log: scheme and host only. A webhook's path and query are its
 * credential (Slack's /services/T…/B…/token, a healthchecks UUID, ?token=…), never logged.
 */
function urlOrigin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return "(invalid URL)";
  }
}

/** One HTTP request (through HTTPS_PROXY/HTTP_PROXY unless NO_PROXY) with a timeout and retries; a failure is logged, never thrown. */
async function deliver(log: Logger, what: string, url: string, init: Request, d: DeliveryOptions): Promise<void> {
  const attempts = d.attempts;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      // Loaded here: node:http and node:https are start-up cost for every job that notifies no one.
      // Inside the try: a failure to load it is a failed attempt, never an exception for the job.
      const { send } = await import("../net/http-send.js");
      const status = await send(url, { ...init, timeoutMs: d.timeoutMs });
      if (status >= 200 && status < 300) return;
      if (status < 500 && status !== 429) {
        log.warn(`notification ${what} refused: HTTP ${status}`, { url: urlOrigin(url) });
        return;
      }
      throw new Error(`HTTP ${status}`);
    } catch (err) {
      if (attempt === attempts) {
        log.warn(`notification ${what} failed after ${attempts} attempts: ${(err as Error).message}`, {
          url: urlOrigin(url),
        });
        return;
      }
      await sleep(d.baseDelayMs * 2 ** (attempt - 1));
    }
  }
}

/** healthchecks.io protocol: GET /start, POST on success, POST /fail with the reason. */
function healthchecks(url: string, log: Logger, d: DeliveryOptions): Notifier {
  const base = url.replace(/\/+$/, "");
  return {
    start: () => deliver(log, "healthchecks start", `${base}/start`, { method: "GET" }, d),
    finish: (o) =>
      deliver(
        log,
        `healthchecks ${o.status}`,
        o.status === "success" ? base : `${base}/fail`,
        {
          method: "POST",
          headers: { "content-type": "text/plain; charset=utf-8" },
          body: redact(o.summary).slice(0, 10_000),
        },
        d,
      ),
  };
}

/** A JSON POST of the job's result. */
function webhook(url: string, log: Logger, d: DeliveryOptions): Notifier {
  return {
    start: async () => {},
    finish: (o) => {
      const { summary: _summary, ...body } = o;
      return deliver(
        log,
        "webhook",
        url,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: redact(JSON.stringify(body)),
        },
        d,
      );
    },
  };
}

/** All configured notifiers as one; never throws. */
export function notifiersFor(
  config: Config | undefined,
  log: Logger,
  delivery: Partial<DeliveryOptions> = {},
): Notifier {
  const d = { ...DEFAULT_DELIVERY, ...delivery };
  const all = (config?.notify ?? []).map((n) =>
    n.type === "healthchecks" ? healthchecks(n.url, log, d) : webhook(n.url, log, d),
  );
  return {
    start: async (job, command) => void (await Promise.all(all.map((n) => n.start(job, command)))),
    finish: async (outcome) => void (await Promise.all(all.map((n) => n.finish(outcome)))),
  };
}

import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { describeError } from "../errors.js";
import { parseWalKey } from "./names.js";
import type { PushResult } from "./push.js";
import {
  clearSpoolError,
  hasSpoolError,
  readRecord,
  readyFiles,
  refreshLock,
  releaseLock,
  takeLock,
  writeRecord,
  writeSpoolError,
} from "./spool.js";

export interface SpoolWorkerOptions {
  /** pg_wal: the files and their archive_status/*.ready marks (read only: PostgreSQL owns both). */
  walDir: string;
  spool: string;
  /** The repository's URL, written into each record. */
  repository: string;
  /** How many files are stored at once. */
  processes: number;
  /** How many ready files, in WAL order, are looked at: the queue never runs further ahead. */
  queueMax: number;
  /** Nothing ready for this long: the worker exits. */
  idleMs: number;
  /** The synchronous push of one file (the same code `wal push` runs without the spool). */
  push: (path: string) => Promise<PushResult>;
  log: (line: string) => void;
  /** After a failed store, the file waits this long before its next try, twice as long after each next failure in a row… */
  retryBaseMs?: number;
  /** …up to this (a full disk or a store that is down is not hammered; the backoff is bounded). */
  retryMaxMs?: number;
  /** The clock of the backoff and of the idle exit (tests inject one). */
  now?: () => number;
  /** The longest pause between two looks at an idle spool (default 500 ms; a test with its own clock shortens it). */
  idlePollMaxMs?: number;
}

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * Failed files and when each may be tried again: a bounded exponential backoff over the failures in a
 * row (any file's; a stored file ends the run of failures).
 */
class Backoff {
  private readonly retryAt = new Map<string, number>();
  private streak = 0;
  constructor(private readonly o: SpoolWorkerOptions) {}
  private now = () => (this.o.now ?? Date.now)();
  failed(name: string): void {
    const base = this.o.retryBaseMs ?? RETRY_BASE_MS;
    const delay = Math.min(base * 2 ** Math.min(this.streak, 30), this.o.retryMaxMs ?? RETRY_MAX_MS);
    this.streak++;
    this.retryAt.set(name, this.now() + delay);
  }
  stored(): void {
    this.streak = 0;
  }
  has = (name: string) => this.retryAt.has(name);
  /** Whether `name` must still wait before its next try. */
  waiting = (name: string) => (this.retryAt.get(name) ?? 0) > this.now();
  forget = (name: string) => this.retryAt.delete(name);
  /** Whether a failed file is still within its backoff: the worker is not idle then. */
  pendingRetry = () => [...this.retryAt.keys()].some(this.waiting);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The resident half of asynchronous archiving: holds the spool's lock, stores ready files up to
 * `processes` at once, and records each one only after the store confirmed it. Returns at once when
 * another live worker holds the lock, and when nothing has been ready for `idleMs`.
 */
export async function runSpoolWorker(o: SpoolWorkerOptions): Promise<void> {
  if (!(await takeLock(o.spool))) return;
  try {
    await drain(o);
  } finally {
    await releaseLock(o.spool);
  }
}

async function drain(o: SpoolWorkerOptions): Promise<void> {
  const inFlight = new Map<string, Promise<void>>();
  // Failed in this run: tried again once its backoff is over and `wal push` asks again (it removes the error line).
  const failed = new Backoff(o);
  const now = o.now ?? Date.now;
  let idleSince = now();
  let wait = 20;
  for (;;) {
    await refreshLock(o.spool);
    for (const name of await pending(o, inFlight, failed)) {
      if (inFlight.size >= o.processes) break;
      inFlight.set(
        name,
        storeOne(o, name, failed).finally(() => inFlight.delete(name)),
      );
    }
    if (inFlight.size === 0) {
      if (failed.pendingRetry()) idleSince = now();
      if (now() - idleSince >= o.idleMs) return;
      await sleep(wait);
      wait = Math.min(wait * 2, o.idlePollMaxMs ?? 500);
      continue;
    }
    idleSince = now();
    wait = 20;
    await Promise.race([...inFlight.values(), sleep(200)]);
  }
}

/** The first `queueMax` ready files that are neither being stored, nor stored already, nor failed and not asked again. */
async function pending(o: SpoolWorkerOptions, inFlight: Map<string, unknown>, failed: Backoff): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readyFiles(o.walDir)).slice(0, o.queueMax)) {
    if (inFlight.has(name)) continue;
    if (failed.has(name)) {
      if (failed.waiting(name) || (await hasSpoolError(o.spool, name))) continue;
      failed.forget(name);
    }
    const st = await fsp.stat(join(o.walDir, name)).catch(() => undefined);
    if (!st) continue; // gone: archived and recycled meanwhile
    const r = await readRecord(o.spool, name);
    if (r && r.repository === o.repository && r.size === st.size && r.mtimeMs === st.mtimeMs) continue; // stored; waiting for PostgreSQL to ask
    out.push(name);
  }
  return out;
}

async function storeOne(o: SpoolWorkerOptions, name: string, failed: Backoff): Promise<void> {
  const path = join(o.walDir, name);
  try {
    const st = await fsp.stat(path);
    const r = await o.push(path);
    const sha256 = parseWalKey(r.key)?.sha256;
    if (!sha256) throw new Error(`${name}: stored under ${r.key}, which holds no SHA-256`);
    // Only now, after the store confirmed: the record `wal push` acknowledges.
    const record = { name, sha256, key: r.key, repository: o.repository, size: r.bytes, mtimeMs: st.mtimeMs };
    await writeRecord(o.spool, record);
    await clearSpoolError(o.spool, name);
    failed.stored();
    o.log(`${name}: ${r.stored ? "stored as" : "already stored as"} ${r.key}`);
  } catch (err) {
    failed.failed(name);
    const line = describeError(err);
    o.log(`${name}: ${line}`);
    await writeSpoolError(o.spool, name, line).catch(() => undefined);
  }
}

import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration, parseDuration } from "../config/duration.js";
import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { acquireLock, LockHeldError, repositoryIdentity, type LockInfo } from "../repository/lock.js";
import type { CommandContext } from "./context.js";

/** The first poll for a held lock comes after this; each next one after twice as long, up to LOCK_POLL_MAX_MS. */
const LOCK_POLL_FIRST_MS = 200;
const LOCK_POLL_MAX_MS = 5_000;
/** While waiting for a lock, a progress line this often. */
const LOCK_PROGRESS_MS = 30_000;

/** How long a run waits for a held repository lock: `--retry-lock` (the daemon sets it per job); 0 = fail at once. */
export function lockWaitMs(ctx: CommandContext): number {
  const v = ctx.options.retryLock;
  if (v === undefined) return 0;
  const ms = parseDuration(v);
  if (ms === null) throw new StrongboxError("USAGE", `--retry-lock must be a duration like 30s or 10m, not '${v}'`);
  return ms;
}

const holderFields = (h: LockInfo | undefined) => ({
  lock_holder: h ? { command: h.command, pid: h.pid, host: h.host, since: h.since } : null,
});
const holderText = (h: LockInfo | undefined) =>
  h ? `${h.command} (pid ${h.pid} on ${h.host}, since ${h.since})` : "another run (its lock file cannot be read yet)";

/**
 * Takes the repository lock, waiting up to `waitMs` while another live run holds it: the holder is
 * logged once (again if another takes its place), then a progress line every LOCK_PROGRESS_MS;
 * polls back off from LOCK_POLL_FIRST_MS to LOCK_POLL_MAX_MS. A stale lock (its holder gone) is
 * taken over at once by acquireLock, as without a wait. `signal` (a deadline, SIGTERM) ends the wait.
 */
export async function acquireLockWaiting(
  identity: string,
  command: string,
  dir: string | undefined,
  o: { waitMs: number; log: Logger; signal?: AbortSignal },
): Promise<() => Promise<void>> {
  const t0 = Date.now();
  let delay = LOCK_POLL_FIRST_MS;
  let announced: string | undefined;
  let progressAt = t0 + LOCK_PROGRESS_MS;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      return await acquireLock(identity, command, dir);
    } catch (err) {
      if (!(err instanceof LockHeldError) || o.waitMs <= 0) throw err;
      const waited = Date.now() - t0;
      if (waited >= o.waitMs)
        throw new LockHeldError(`${err.message}; gave up after waiting ${formatDuration(waited)}`, err.holder);
      const holder = holderText(err.holder);
      if (announced === undefined)
        o.log.warn(
          `waiting up to ${formatDuration(o.waitMs)} for the repository lock held by ${holder}`,
          holderFields(err.holder),
        );
      else if (announced !== holder)
        o.log.warn(`the repository lock is now held by ${holder}; still waiting`, holderFields(err.holder));
      else if (Date.now() >= progressAt) {
        o.log.info(
          `still waiting for the repository lock held by ${err.holder ? err.holder.command : "another run"}: ${formatDuration(waited)} of ${formatDuration(o.waitMs)}`,
        );
        progressAt = Date.now() + LOCK_PROGRESS_MS;
      }
      announced = holder;
      await sleep(Math.min(delay, o.waitMs - waited), undefined, { signal: o.signal }).catch(() =>
        o.signal?.throwIfAborted(),
      );
      delay = Math.min(delay * 2, LOCK_POLL_MAX_MS);
    }
  }
}

/** Runs fn holding this host's lock on the configured repository (released however fn ends); waits for it per lockWaitMs. */
export async function withRepositoryLock<T>(
  ctx: CommandContext,
  command: string,
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const config = ctx.config();
  const waitMs = lockWaitMs(ctx);
  const identity = repositoryIdentity(config.repository.url, config.repository.s3);
  const release = await acquireLockWaiting(identity, command, config.lock_dir, { waitMs, log: ctx.log, signal });
  try {
    return await fn();
  } finally {
    await release();
  }
}

import { isBackupId } from "../repository/layout.js";
import { StrongboxError } from "../errors.js";
import { verifyBackup } from "../engine/verify.js";
import { checkBackupRef, Repository, type TrustOptions } from "../repository/repository.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { Identity } from "../crypto/age-keys.js";
import type { JobResult } from "./job.js";
import { runCommand } from "./lifecycle.js";
import type { CommandContext } from "./context.js";
import { repositoryOptions } from "../repository/options.js";

interface VerifyOutcome {
  id: string;
  ok: boolean;
  error?: string;
  checks: { name: string; ok: boolean; detail?: string }[];
}

export async function verifyCommand(
  ctx: CommandContext,
  ref: string,
  o: { job?: string; signal?: AbortSignal; allowUnsigned?: boolean } = {},
): Promise<void> {
  checkBackupRef(ref, ["all"]); // its syntax: a usage error, before waiting for any lock
  const config = ctx.config();
  const trust: TrustOptions = { allowUntrusted: o.allowUnsigned, warn: (m) => ctx.log.warn(m) };
  const run = { command: "verify", job: o.job, notify: Boolean(o.job), signal: o.signal, interrupt: true };
  await runCommand(ctx, run, async (signal) => {
    // Inside the job: a missing identity or a dead store is a failed job, notified and audited.
    const identities = await ctx.identities();
    const store = await openStore(config, "reader");
    const repo = new Repository(abortableStore(store, signal), repositoryOptions(config)); // a deadline or SIGTERM ends even a stalled read
    return verifyAll(ctx, repo, await chooseIds(ctx, repo, ref), ref, identities, trust, signal);
  });
}

/** The backups `verify <ref>` checks. Chosen inside the job: a stall or failure here is audited and notified like any other. */
async function chooseIds(ctx: CommandContext, repo: Repository, ref: string): Promise<string[]> {
  const config = ctx.config();
  let ids: string[];
  if (ref === "all") {
    const all = await repo.listBackups();
    for (const b of all.filter((x) => !x.complete && !x.damaged)) ctx.log.info(`${b.id}: incomplete, not verified`);
    // Damaged ones are verified too: each is reported FAILED, and the others are still checked.
    ids = all.filter((b) => b.complete || b.damaged).map((b) => b.id);
    if (ids.length === 0) throw new StrongboxError("NOT_FOUND", `no complete backup in ${repo.store.description}`);
  } else if (ref === "latest") {
    // The newest backup of each configured source, damaged or not: a damaged newest is FAILED (exit 3), not stepped over.
    ids = await repo.newestPerSource(config.sources.map((s) => s.name));
    if (ids.length === 0) throw new StrongboxError("NOT_FOUND", `no complete backup in ${repo.store.description}`);
  } else {
    try {
      // An untrusted id is judged (and reported FAILED) by verifyAll, as every backup of 'all' is.
      ids = [(await repo.resolve(ref, [], { allowUntrusted: true })).id];
    } catch (err) {
      // A named backup whose complete.json is damaged gets its "<id>  FAILED" line like any other.
      if (!(err instanceof StrongboxError) || err.code !== "VERIFY" || !isBackupId(ref)) throw err;
      ids = [ref];
    }
  }
  return ids;
}

async function verifyAll(
  ctx: CommandContext,
  repo: Repository,
  ids: string[],
  ref: string,
  identities: Identity[],
  trust: TrustOptions,
  signal?: AbortSignal,
): Promise<JobResult> {
  const config = ctx.config();
  const outcomes: VerifyOutcome[] = [];
  let hardFailure: StrongboxError | undefined;
  for (const id of ids) {
    try {
      const checks = await verifyBackup({ repo, id, identities, config, log: ctx.log, trust, signal });
      const ok = checks.every((c) => c.ok);
      // A check failed while stopping (the signal kills pg_restore --list): the stop's doing, not a verdict.
      if (!ok && signal?.aborted) throw signal.reason;
      outcomes.push({ id, ok, checks });
      if (ok) ctx.log.info(`${id}: OK`);
      else ctx.log.error(`${id}: FAILED`, { failed: checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`) });
    } catch (err) {
      if (signal?.aborted) throw err; // stopped: not a verdict on this backup, and the next are not checked
      if (!(err instanceof StrongboxError) || err.code !== "VERIFY") {
        hardFailure ??= err instanceof StrongboxError ? err : new StrongboxError("STORE", String(err));
        if (ref !== "all") throw err;
      }
      const message = err instanceof StrongboxError ? err.message : String(err);
      outcomes.push({ id, ok: false, error: message, checks: [] });
      ctx.log.error(`${id}: FAILED: ${message}`);
    }
  }
  const ok = outcomes.every((x) => x.ok);
  ctx.print(
    { ok, backups: outcomes },
    outcomes.map((x) => `${x.id}  ${x.ok ? "OK" : `FAILED${x.error ? `: ${x.error}` : ""}`}`).join("\n"),
  );
  if (hardFailure) throw hardFailure;
  if (!ok) {
    const bad = outcomes.filter((x) => !x.ok);
    throw new StrongboxError(
      "VERIFY",
      `verification failed for ${bad.length} of ${outcomes.length} backup(s): ${bad.map((x) => x.id).join(", ")}`,
    );
  }
  return { backup_id: ids.length === 1 ? ids[0] : undefined, summary: `verified ${ids.length} backup(s): OK` };
}

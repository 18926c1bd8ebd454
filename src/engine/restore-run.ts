import { promises as fsp } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CompleteRecord } from "../repository/complete.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository, TrustOptions } from "../repository/repository.js";
import type { Check, RestoreTarget } from "../sources/source.js";
import { describeSystemError, isSystemError } from "../system-error.js";
import { drainObject, forEachSource, type SourceOutcome } from "./restore.js";
import { commitAll, recoverSwap } from "./restore-swap.js";
import { commitStaging, createStaging, discardStaging, sweepPartials, type Staging } from "./restore-target.js";

/** A system error on the restore target in one sentence: "cannot restore into DIR: permission denied (EACCES) creating DIR/x". */
export function intoTarget<T>(dir: string | undefined, work: Promise<T>): Promise<T> {
  return work.catch((err) => {
    if (dir === undefined || err instanceof StrongboxError || !isSystemError(err)) throw err;
    throw new StrongboxError("SOURCE", `cannot restore into ${resolve(dir)}: ${describeSystemError(err)}`, {
      cause: err,
    });
  });
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  // lstat: the swap at the end renames a real directory; a file or symlink there must fail now, not after extracting.
  const st = await fsp.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    if (err.code === "ENOTDIR") throw new StrongboxError("USAGE", `${dir}: a directory on its path is a file`);
    throw err;
  });
  if (!st) return true;
  if (!st.isDirectory()) throw new StrongboxError("USAGE", `${dir} exists and is not a directory`);
  return (await fsp.readdir(dir)).length === 0;
}

/** One backup a restore reads, and the sources it gives: one for `restore <id>`, one per distinct pick for a restore point. */
export interface RestorePart {
  rec: CompleteRecord;
  sources: string[];
}

export type RestoreOutcome = SourceOutcome & { backup_id: string };

/** A restore whose backups are resolved and whose targets are checked. */
export interface RestoreRun {
  repo: Repository;
  config: Config;
  log: Logger;
  identities: Identity[];
  parts: RestorePart[];
  manifests: Map<string, Manifest>;
  /** Files sources: each one's final directory (its tree is staged beside it and swapped in at the end). */
  targets: Map<string, string>;
  /** The --to-dir given (system errors there are worded as "cannot restore into DIR"). */
  toDir?: string;
  /** What every source is restored with; a files source's `dir` is its staging directory, a cluster's this one. */
  target: RestoreTarget;
  trust: TrustOptions;
  signal?: AbortSignal;
}

/**
 * Restores the chosen sources of every part: a killed restore's half-done swap is finished (or undone)
 * first, each files source is extracted into a staging directory beside its target, and only when every
 * check held do all trees replace their targets at once (restore-swap.ts). Staging directories are gone
 * however it ends. Returns each source's outcome and the checks that failed.
 */
export async function restoreParts(r: RestoreRun): Promise<{ outcomes: RestoreOutcome[]; failed: Check[] }> {
  const staging = new Map<string, Staging>();
  try {
    await prepareTargets(r, staging);
    const outcomes: RestoreOutcome[] = [];
    for (const p of r.parts) outcomes.push(...(await restorePart(r, p, staging)));
    const failed = outcomes.flatMap((x) => x.checks.filter((c) => !c.ok));
    // Only a tree that matched its manifest replaces anything; otherwise nothing of it stays.
    // Every source's tree at once, or a journal that the next restore completes (restore-swap.ts).
    const ids = r.parts.map((p) => p.rec.id).join("+");
    if (!failed.length) await intoTarget(r.toDir, commitAll([...staging.values()], ids, commitStaging, r.log));
    return { outcomes, failed };
  } finally {
    for (const s of staging.values()) await discardStaging(s);
  }
}

async function prepareTargets(r: RestoreRun, staging: Map<string, Staging>): Promise<void> {
  for (const dir of new Set([...r.targets.values()].map((d) => dirname(d)))) {
    await recoverSwap(dir, r.log); // a killed restore's half-done swap: finished (or undone) first
    await sweepPartials(dir, r.log);
  }
  // The sweep may have put back a tree that a killed --force restore had set aside.
  for (const dir of r.targets.values())
    if (!(await intoTarget(r.toDir, isEmptyDir(dir))) && !r.target.force)
      throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
  const backupOf = new Map(r.parts.flatMap((p) => p.sources.map((n) => [n, p.rec.id] as const)));
  for (const [name, dir] of r.targets)
    staging.set(name, await intoTarget(r.toDir, createStaging(dir, name, backupOf.get(name)!)));
}

async function restorePart(r: RestoreRun, p: RestorePart, staging: Map<string, Staging>): Promise<RestoreOutcome[]> {
  const manifest = r.manifests.get(p.rec.id)!;
  // A restored source's other objects (a database's globals) are read and checked first, as verify
  // and drill check them: restore uses none of them, but a backup verify fails must not restore.
  for (const x of p.rec.objects.filter((x) => x.part && p.sources.includes(x.source ?? "")))
    await drainObject(r.repo, p.rec, x.key, r.identities);
  const got = await forEachSource({
    repo: r.repo,
    rec: p.rec,
    manifest,
    identities: r.identities,
    config: r.config,
    only: p.sources,
    log: r.log,
    label: "restore",
    signal: r.signal,
    trust: r.trust,
    ...(r.target.select ? { select: r.target.select } : {}),
    consume: (source, data) =>
      source.restore(
        data,
        { ...r.target, dir: staging.get(source.name)?.dir ?? r.target.dir },
        manifest.sources[source.name],
        { log: r.log },
      ),
  });
  return got.map((x) => ({ ...x, backup_id: p.rec.id }));
}
